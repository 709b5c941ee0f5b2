"""Reading and writing shots: RAW files, rendered photos, camera JPEGs, DNG and image writers."""

from core_isp.io.dng import write_dng
from core_isp.io.image_reader import read_image, read_image_metadata
from core_isp.io.raw_reader import RawImage, read_raw, read_raw_metadata
from core_isp.io.writers import write_image

__all__ = ["RawImage", "read_image", "read_image_metadata", "read_raw", "read_raw_metadata", "write_dng", "write_image"]

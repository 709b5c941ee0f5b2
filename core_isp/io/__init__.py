"""Reading and writing shots: RAW files, rendered photos, camera JPEGs, DNG and image writers."""

from core_isp.io.camera_jpeg import CameraJpeg, Registration, find_camera_jpeg, register_camera_jpeg
from core_isp.io.dng import write_dng
from core_isp.io.image_reader import read_image, read_image_metadata
from core_isp.io.raw_reader import read_raw, read_raw_metadata
from core_isp.io.writers import write_image

__all__ = [
    "CameraJpeg",
    "Registration",
    "find_camera_jpeg",
    "read_image",
    "read_image_metadata",
    "read_raw",
    "read_raw_metadata",
    "register_camera_jpeg",
    "write_dng",
    "write_image",
]

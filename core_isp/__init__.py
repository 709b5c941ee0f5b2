"""paramisp core: camera metadata, RAW/sRGB I/O, canonical ISP operations, metrics and the learned ISPs."""

from core_isp.errors import BadInputError, MetadataWarning, ParamispError
from core_isp.metadata import CameraMetadata

__all__ = ["BadInputError", "CameraMetadata", "MetadataWarning", "ParamispError"]

"""Metadata of any supported file, RAW or rendered, chosen by its suffix."""

from __future__ import annotations

from pathlib import Path

from core_isp.io.image_reader import read_image_metadata
from core_isp.io.raw_reader import read_raw_metadata
from core_isp.metadata import CameraMetadata

RAW_SUFFIXES = frozenset(
    (
        ".3fr", ".ari", ".arw", ".bay", ".cr2", ".cr3", ".crw", ".dcr", ".dng", ".erf", ".fff", ".gpr",
        ".iiq", ".k25", ".kdc", ".mef", ".mos", ".mrw", ".nef", ".nrw", ".orf", ".pef", ".raf", ".raw",
        ".rw2", ".rwl", ".rwz", ".sr2", ".srf", ".srw", ".x3f",
    )
)  # fmt: skip
IMAGE_SUFFIXES = frozenset([".jpg", ".jpeg", ".png", ".tif", ".tiff"])


def is_raw_path(path: str | Path) -> bool:
    """True when the suffix names a camera RAW format."""
    return Path(path).suffix.lower() in RAW_SUFFIXES


def read_metadata(path: str | Path) -> CameraMetadata:
    """:func:`read_raw_metadata` for RAW suffixes, :func:`read_image_metadata` otherwise."""
    return read_raw_metadata(path) if is_raw_path(path) else read_image_metadata(path)

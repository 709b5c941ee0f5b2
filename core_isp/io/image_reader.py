"""Rendered photos (JPEG, PNG, TIFF) -> ``srgb`` :class:`CameraImage` in [0, 1] with :class:`CameraMetadata` from EXIF.

``to="sensor"`` returns the pixels as stored (cameras store sensor-orientation pixels and an EXIF
Orientation tag); ``to="display"`` applies the tag so the image is upright.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import png
import tifffile
import torch
from PIL import Image, UnidentifiedImageError

from core_isp.errors import BadInputError, MetadataWarning
from core_isp.image import CameraImage, from_codes
from core_isp.io.exif import Reading, read_exif
from core_isp.metadata import CameraMetadata, plausible, source_field
from core_isp.orientation import to_display

Orientation = Literal["sensor", "display"]


def read_image_metadata(path: str | Path) -> CameraMetadata:
    """EXIF of a rendered photo; missing values are ``None`` (with one warning listing them)."""
    path = Path(path)
    check_image_header(path)
    exif = read_exif(path)
    fields: dict[str, object] = {}
    for name in ("exposure_time_s", "iso", "f_number", "focal_length_mm"):
        reading: Reading | None = getattr(exif, name)
        value, source = plausible(name, reading.value if reading else None, reading.source if reading else None)
        fields[name] = value
        fields[source_field(name)] = source
    orientation = exif.orientation
    meta = CameraMetadata(
        make=exif.make,
        model=exif.model,
        orientation=int(orientation.value) if orientation and 1 <= orientation.value <= 8 else 1,
        orientation_source=orientation.source if orientation else None,
        **fields,  # type: ignore[arg-type]
    )
    if not exif.found_any:
        warnings.warn(
            f"{path.name}: no EXIF metadata; every camera parameter is unknown", MetadataWarning, stacklevel=2
        )
    elif missing := meta.missing_optics():
        warnings.warn(f"{path.name}: EXIF lacks {', '.join(missing)}", MetadataWarning, stacklevel=2)
    return meta


def _decode(path: Path) -> np.ndarray:
    """Pixels as ``(H, W, 3)``: uint8 or uint16 code values as stored, or float32 in [0, 1]."""
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        return _to_rgb(tifffile.imread(path), path, mode="tiff")
    if _png_is_16bit(path):  # Pillow would truncate 16-bit colour PNGs to 8 bits
        return _read_png16(path)
    with _pillow_errors(path), Image.open(path) as im:
        mode = im.mode
        if mode == "CMYK":
            raise BadInputError(
                f"{path.name}: CMYK image; convert it to sRGB first (print separations carry no camera data)"
            )
        if mode not in ("RGB", "L", "RGBA", "LA", "P"):
            raise BadInputError(f"{path.name}: unsupported pixel mode {mode!r}")
        arr = np.asarray(im.convert("RGBA") if mode == "P" else im)
    return _to_rgb(arr, path, mode=mode)


@contextlib.contextmanager
def _pillow_errors(path: Path) -> Iterator[None]:
    """Pillow's failures on a file as one-line bad input naming it."""
    try:
        yield
    except UnidentifiedImageError:
        raise BadInputError(f"{path.name}: not a readable image file") from None
    except Image.DecompressionBombError as e:
        raise BadInputError(f"{path.name}: {_too_large(e)}") from None
    except OSError as e:
        raise BadInputError(f"{path.name}: corrupt image ({e})") from None


def _too_large(error: Exception) -> str:
    # Pillow refuses above twice its MAX_IMAGE_PIXELS (~179 MP): a declared size that large is a decompression bomb.
    declared = str(error).split(" pixels")[0].removeprefix("Image size (")
    return f"image too large to decode safely ({declared} pixels declared)"


def check_image_header(path: Path) -> tuple[int, int]:
    """``(H, W)`` from an image file's header, without decoding its pixels; bad input for anything that is not a
    readable image (empty, random bytes, text) or declares more pixels than can be decoded safely."""
    with _pillow_errors(path), Image.open(path) as im:
        width, height = im.size
    return height, width


def _png_is_16bit(path: Path) -> bool:
    if path.suffix.lower() != ".png":
        return False
    with path.open("rb") as f:
        head = f.read(33)
    # IHDR bit depth is byte 24 of a PNG file.
    return len(head) > 24 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[24] == 16


def _read_png16(path: Path) -> np.ndarray:
    with path.open("rb") as f:
        width, height, rows, info = png.Reader(file=f).asDirect()
        arr = np.vstack([np.asarray(r, dtype=np.uint16) for r in rows]).reshape(height, width, info["planes"])
    return _to_rgb(arr, path, mode="png16")


def _to_rgb(arr: np.ndarray, path: Path, mode: str) -> np.ndarray:
    if arr.dtype in (np.uint8, np.uint16):
        f = arr
    elif np.issubdtype(arr.dtype, np.floating):
        f = arr.astype(np.float32)
    else:
        raise BadInputError(f"{path.name}: unsupported sample type {arr.dtype} ({mode})")
    if f.ndim == 2:
        f = f[..., None]
    channels = f.shape[-1]
    if channels in (2, 4):
        warnings.warn(f"{path.name}: alpha channel ignored", MetadataWarning, stacklevel=3)
        f = f[..., : channels - 1]
        channels -= 1
    if channels == 1:
        warnings.warn(
            f"{path.name}: greyscale image; the grey level is used for R, G and B",
            MetadataWarning,
            stacklevel=3,
        )
        f = np.repeat(f, 3, axis=-1)
    elif channels != 3:
        raise BadInputError(f"{path.name}: {channels} colour channels; an sRGB photo has 3")
    if f.dtype == np.float32 and not np.all(np.isfinite(f)):
        raise BadInputError(f"{path.name}: NaN or infinite pixel values")
    return f


def read_image(path: str | Path, to: Orientation = "sensor", codes: bool = False) -> CameraImage:
    """Read a rendered sRGB photo: pixels ``(1, 3, H, W)`` float32 in [0, 1] with its metadata.

    ``codes``: an 8- or 16-bit file's pixels stay its uint8 / uint16 code values (a quarter or half of the memory;
    the ISPs convert them window by window, :func:`core_isp.image.from_codes`, to the same floats); a float file's
    stay float32.
    """
    if to not in ("sensor", "display"):
        raise ValueError(f"to must be 'sensor' or 'display', got {to!r}")
    path = Path(path)
    if not path.is_file():
        raise BadInputError(f"{path}: no such file")
    # Pillow's arrays are read-only; torch wants to own writable memory (copied only when needed).
    pixels = torch.from_numpy(np.require(_decode(path), requirements=("C", "W"))).permute(2, 0, 1)[None]
    if not codes:
        pixels = from_codes(pixels)
    meta = read_image_metadata(path)
    if to == "display":
        pixels = to_display(pixels, meta.orientation)
    return CameraImage(pixels.contiguous(), (meta.replace(image_size_hw=tuple(pixels.shape[-2:])),), "srgb")

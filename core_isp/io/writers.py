"""Image writers (PNG, JPEG, 16-bit TIFF, OpenEXR) and the atomic-write helper every writer uses.

Image convention: a **torch tensor is channels-first** ``(3, H, W)`` or ``(1, 3, H, W)`` (what
:func:`develop` returns and :func:`read_image`'s pixels hold) and a **numpy array is channels-last**
``(H, W, 3)`` (what imageio and Pillow use); the container type alone decides, so a 3-pixel-wide image
is never ambiguous. Values are floats in [0, 1] (linear or gamma-encoded: the writers do not convert).
Integer formats clip to [0, 1] and round to the nearest code value; OpenEXR stores float32 as
given, unclipped (HDR data).

Every file is first written under a temporary name in the target's directory and then renamed
over the target (:func:`atomic_write`), so a reader never sees a half-written file and a failed
write leaves an existing target untouched.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import OpenEXR
import png
import tifffile
import torch
from PIL import Image

from core_isp.errors import BadInputError

_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".exr": "exr"}


@contextlib.contextmanager
def atomic_write(path: str | Path, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``.

    The temporary name keeps the target's suffix (encoders that pick the format from the name
    still work) and starts with a dot. On any exception the temporary file is removed and the
    exception propagates; an existing file at ``path`` is then left as it was. An existing
    ``path`` is refused with :class:`BadInputError` unless ``overwrite`` is true.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise BadInputError(f"{path}: already exists (pass overwrite=True to replace it)")
    if path.is_dir():
        raise BadInputError(f"{path}: is a directory")
    if not path.parent.is_dir():
        raise BadInputError(f"{path.parent}: no such directory")
    # The encoder creates the file itself (with the usual permissions, unlike mkstemp's 0600);
    # a random token keeps concurrent writers to the same target apart.
    tmp = path.with_name(f".{path.stem}.{secrets.token_hex(6)}.tmp{path.suffix}")
    try:
        yield tmp
        with open(tmp, "rb") as f:
            # Flush the data to disk before the rename, so a crash cannot leave a renamed but empty file.
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _to_hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """Validate ``image`` against the module convention and return ``(H, W, 3)`` float64."""
    if isinstance(image, torch.Tensor):
        if image.dim() == 4 and image.shape[0] == 1:
            image = image[0]
        if image.dim() != 3 or image.shape[0] != 3:
            raise BadInputError(f"a torch image must be (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}")
        if not image.is_floating_point():
            raise BadInputError(f"image must be floating point in [0, 1], got {image.dtype}")
        return image.detach().to("cpu", torch.float64).permute(1, 2, 0).numpy()
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise BadInputError(f"a numpy image must be (H, W, 3), got {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise BadInputError(f"image must be floating point in [0, 1], got {arr.dtype}")
    return arr.astype(np.float64, copy=False)


def _quantise(image: torch.Tensor | np.ndarray, bits: int) -> np.ndarray:
    """Float image -> ``(H, W, 3)`` unsigned integers with ``bits`` bits, clipped and rounded."""
    hwc = _to_hwc(image)
    if not np.all(np.isfinite(hwc)):
        raise BadInputError("image has NaN or infinite values; an integer format cannot store them")
    top = (1 << bits) - 1
    dtype = np.uint8 if bits == 8 else np.uint16
    # In float64: in float32, x * 65535 can land on the wrong side of a rounding midpoint.
    return np.rint(np.clip(hwc, 0.0, 1.0) * top).astype(dtype)


def write_png(
    path: str | Path, image: torch.Tensor | np.ndarray, *, bit_depth: int = 8, overwrite: bool = False
) -> Path:
    """Write an RGB PNG with 8 or 16 bits per channel.

    Args:
        path: target file.
        image: ``(3, H, W)``/``(1, 3, H, W)`` tensor or ``(H, W, 3)`` array, floats in [0, 1].
        bit_depth: 8 (Pillow) or 16 (pypng; Pillow cannot write 16-bit colour PNG).
        overwrite: replace an existing file.

    Returns:
        ``path``.
    """
    if bit_depth not in (8, 16):
        raise BadInputError(f"PNG bit depth must be 8 or 16, got {bit_depth}")
    data = _quantise(image, bit_depth)
    with atomic_write(path, overwrite) as tmp:
        if bit_depth == 8:
            Image.fromarray(data, "RGB").save(tmp, format="PNG")
        else:
            h, w, _ = data.shape
            with open(tmp, "wb") as f:
                png.Writer(w, h, greyscale=False, bitdepth=16).write(f, data.reshape(h, w * 3))
    return Path(path)


def write_jpeg(
    path: str | Path,
    image: torch.Tensor | np.ndarray,
    *,
    quality: int = 95,
    exif: bytes | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an 8-bit RGB JPEG (4:4:4 chroma, so colour edges are not halved).

    Args:
        path: target file.
        image: ``(3, H, W)``/``(1, 3, H, W)`` tensor or ``(H, W, 3)`` array, floats in [0, 1].
        quality: 1..100 (Pillow's scale; above 95 the file grows for almost no gain).
        exif: an EXIF block starting with ``b"Exif\\0\\0"``, stored as given: a source JPEG's
            ``PIL.Image.open(src).info["exif"]``, or :func:`core_isp.io.dng.exif_from_metadata`.
        overwrite: replace an existing file.

    Returns:
        ``path``.
    """
    if not 1 <= quality <= 100:
        raise BadInputError(f"JPEG quality must be 1..100, got {quality}")
    if exif is not None and not exif.startswith(b"Exif\x00\x00"):
        raise BadInputError("the EXIF block must start with b'Exif\\x00\\x00'")
    data = _quantise(image, 8)
    options: dict[str, Any] = {"quality": quality, "subsampling": 0}
    if exif is not None:
        options["exif"] = exif
    with atomic_write(path, overwrite) as tmp:
        Image.fromarray(data, "RGB").save(tmp, format="JPEG", **options)
    return Path(path)


def write_tiff(path: str | Path, image: torch.Tensor | np.ndarray, *, overwrite: bool = False) -> Path:
    """Write an uncompressed 16-bit RGB TIFF.

    Args:
        path: target file.
        image: ``(3, H, W)``/``(1, 3, H, W)`` tensor or ``(H, W, 3)`` array, floats in [0, 1].
        overwrite: replace an existing file.

    Returns:
        ``path``.
    """
    data = _quantise(image, 16)
    with atomic_write(path, overwrite) as tmp:
        tifffile.imwrite(tmp, data, photometric="rgb")
    return Path(path)


def write_exr(path: str | Path, image: torch.Tensor | np.ndarray, *, overwrite: bool = False) -> Path:
    """Write a float32 RGB OpenEXR (ZIP compression, lossless): values are kept exactly, unclipped.

    Args:
        path: target file.
        image: ``(3, H, W)``/``(1, 3, H, W)`` tensor or ``(H, W, 3)`` array of floats (any range).
        overwrite: replace an existing file.

    Returns:
        ``path``.
    """
    # imageio would silently write a TIFF under an .exr name; the OpenEXR binding writes real EXR.
    data = np.ascontiguousarray(_to_hwc(image), dtype=np.float32)
    header = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    with atomic_write(path, overwrite) as tmp:
        OpenEXR.File(header, {"RGB": data}).write(str(tmp))
    return Path(path)


def write_image(path: str | Path, image: torch.Tensor | np.ndarray, *, overwrite: bool = False, **options: Any) -> Path:
    """Write ``image`` in the format its suffix names (.png, .jpg/.jpeg, .tif/.tiff, .exr).

    ``options`` go to the format's writer (``bit_depth`` for PNG, ``quality`` and ``exif`` for
    JPEG); see :func:`write_png`, :func:`write_jpeg`, :func:`write_tiff`, :func:`write_exr`.
    """
    kind = _SUFFIXES.get(Path(path).suffix.lower())
    if kind is None:
        raise BadInputError(f"{path}: unknown image suffix (use one of {', '.join(sorted(_SUFFIXES))})")
    writer, allowed = {
        "png": (write_png, {"bit_depth"}),
        "jpeg": (write_jpeg, {"quality", "exif"}),
        "tiff": (write_tiff, set()),
        "exr": (write_exr, set()),
    }[kind]
    if unknown := sorted(set(options) - allowed):
        raise BadInputError(f"{Path(path).name}: the {kind} writer takes no option {', '.join(unknown)}")
    return writer(path, image, overwrite=overwrite, **options)

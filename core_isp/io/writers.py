"""Image writers (PNG, JPEG, 16-bit TIFF, OpenEXR) and the atomic-write helper every writer uses.

Image convention: a **torch tensor is channels-first** ``(3, H, W)`` or ``(1, 3, H, W)`` (what
:func:`develop` returns and :func:`read_image`'s pixels hold) and a **numpy array is channels-last**
``(H, W, 3)`` (what imageio and Pillow use); the container type alone decides, so a 3-pixel-wide image
is never ambiguous. Values are floats in [0, 1] (linear or gamma-encoded: the writers do not convert).
Integer formats clip to [0, 1] and round to the nearest code value, a strip of rows at a time (so a large
image needs no whole-image float64 copies), or take uint8 / uint16 code values of their depth as they are;
OpenEXR stores float32 as given, unclipped (HDR data), optionally stating its primaries and white
(``chromaticities``); Radiance ``.hdr`` (RGBE) keeps 0.4 % precision over a huge range, for non-negative values only.

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
from core_isp.image import to_codes

_SUFFIXES = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".tif": "tiff", ".tiff": "tiff", ".exr": "exr",
             ".hdr": "radiance"}  # fmt: skip

#: CIE xy of the red, green and blue primaries and of the white point of Rec. 709 / sRGB with D65 white, in the
#: order of OpenEXR's ``chromaticities`` attribute: (red x, red y, green x, green y, blue x, blue y, white x, white y).
REC709_D65_CHROMATICITIES: tuple[float, ...] = (0.64, 0.33, 0.30, 0.60, 0.15, 0.06, 0.3127, 0.3290)


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


def _chw(image: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Validate ``image`` against the module convention and return it as a ``(3, H, W)`` tensor view (no copy)."""
    if isinstance(image, torch.Tensor):
        if image.dim() == 4 and image.shape[0] == 1:
            image = image[0]
        if image.dim() != 3 or image.shape[0] != 3:
            raise BadInputError(f"a torch image must be (3, H, W) or (1, 3, H, W), got {tuple(image.shape)}")
        return image.detach().cpu()
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise BadInputError(f"a numpy image must be (H, W, 3), got {arr.shape}")
    return torch.from_numpy(arr).permute(2, 0, 1)


def _to_hwc(image: torch.Tensor | np.ndarray) -> np.ndarray:
    """A floating-point image as ``(H, W, 3)`` float64 (for the float formats)."""
    chw = _chw(image)
    if not chw.is_floating_point():
        raise BadInputError(f"image must be floating point, got {chw.dtype}")
    return chw.to(torch.float64).permute(1, 2, 0).numpy()


#: Rows quantised at a time: a strip's float64 temporaries, not the whole image's, bound a writer's memory.
STRIP_ROWS = 256


def _quantise(image: torch.Tensor | np.ndarray, bits: int) -> np.ndarray:
    """Image -> ``(H, W, 3)`` unsigned integers with ``bits`` bits, strip by strip (:func:`core_isp.image.to_codes`).

    Floats in [0, 1] are clipped and rounded; an integer image of the matching type (uint8 for 8 bits, uint16 for
    16) is taken as code values already, e.g. what ``InferenceOptions(output_dtype=torch.uint8)`` rendered.
    """
    dtype = torch.uint8 if bits == 8 else torch.uint16
    chw = _chw(image)
    if not chw.is_floating_point():
        if chw.dtype != dtype:
            raise BadInputError(f"{chw.dtype} code values cannot be written with {bits} bits per sample")
        return np.ascontiguousarray(chw.permute(1, 2, 0).numpy())
    _, height, width = chw.shape
    out = np.empty((height, width, 3), dtype=np.uint8 if bits == 8 else np.uint16)
    for top in range(0, height, STRIP_ROWS):
        out[top : top + STRIP_ROWS] = to_codes(chw[:, top : top + STRIP_ROWS], dtype).permute(1, 2, 0).numpy()
    return out


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


def write_exr(
    path: str | Path,
    image: torch.Tensor | np.ndarray,
    *,
    chromaticities: tuple[float, ...] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a float32 RGB OpenEXR (ZIP compression, lossless): values are kept exactly, unclipped.

    Args:
        path: target file.
        image: ``(3, H, W)``/``(1, 3, H, W)`` tensor or ``(H, W, 3)`` array of floats (any range).
        chromaticities: the RGB primaries and white of the data as 8 CIE xy values in OpenEXR's order (e.g.
            :data:`REC709_D65_CHROMATICITIES`), stored in the file's ``chromaticities`` attribute; None stores
            none (readers then assume Rec. 709 / D65).
        overwrite: replace an existing file.

    Returns:
        ``path``.
    """
    # imageio would silently write a TIFF under an .exr name; the OpenEXR binding writes real EXR.
    data = np.ascontiguousarray(_to_hwc(image), dtype=np.float32)
    header: dict[str, Any] = {"compression": OpenEXR.ZIP_COMPRESSION, "type": OpenEXR.scanlineimage}
    if chromaticities is not None:
        xy = tuple(float(v) for v in chromaticities)
        if len(xy) != 8 or not all(0.0 <= v <= 1.0 for v in xy):
            raise BadInputError(f"chromaticities must be 8 CIE xy values in [0, 1], got {chromaticities}")
        header["chromaticities"] = xy
    with atomic_write(path, overwrite) as tmp:
        OpenEXR.File(header, {"RGB": data}).write(str(tmp))
    return Path(path)


def write_radiance(path: str | Path, image: torch.Tensor | np.ndarray, *, overwrite: bool = False) -> Path:
    """Write a Radiance RGBE ``.hdr`` file.

    Each pixel keeps an 8-bit mantissa per channel over a shared exponent: within 0.4 % of its largest
    channel, over 256 stops. RGBE has no sign, so negative values (out-of-gamut colours, noise
    below black) are stored as 0.

    Args:
        path: target file.
        image: ``(3, H, W)``/``(1, 3, H, W)`` tensor or ``(H, W, 3)`` array of linear floats.
        overwrite: replace an existing file.

    Returns:
        ``path``.
    """
    hwc = _to_hwc(image)
    if not np.all(np.isfinite(hwc)):
        raise BadInputError("image has NaN or infinite values; Radiance RGBE cannot store them")
    hwc = np.maximum(hwc, 0.0)
    peak = hwc.max(axis=2)
    # peak = m * 2^e with m in [0.5, 1): the mantissas are channel / 2^e * 256, the exponent byte e + 128.
    _, exponent = np.frexp(peak)
    scale = np.where(peak > 1e-32, 256.0 / np.ldexp(1.0, exponent), 0.0)
    rgbe = np.zeros((*peak.shape, 4), dtype=np.uint8)
    rgbe[..., :3] = np.minimum(np.rint(hwc * scale[..., None]), 255).astype(np.uint8)
    rgbe[..., 3] = np.where(peak > 1e-32, exponent + 128, 0).astype(np.uint8)
    height, width = peak.shape
    header = f"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y {height} +X {width}\n".encode("ascii")
    with atomic_write(path, overwrite) as tmp:
        tmp.write_bytes(header + _rgbe_scanlines(rgbe))
    return Path(path)


def _rgbe_scanlines(rgbe: np.ndarray) -> bytes:
    """Pixel data of an ``(H, W, 4)`` RGBE array, each scanline in the run-length form with literal runs only.

    Readers take a flat scanline whose first pixel starts with the bytes 2, 2 for a run-length one, so flat
    data is written only for widths where the run-length form is not defined.
    """
    width = rgbe.shape[1]
    if not 8 <= width < 0x8000:
        return rgbe.tobytes()
    head = bytes([2, 2, width >> 8, width & 0xFF])
    out = bytearray()
    for row in rgbe:
        out += head
        for c in range(4):
            channel = row[:, c].tobytes()
            for start in range(0, width, 128):  # a count byte <= 128 announces that many literal bytes
                chunk = channel[start : start + 128]
                out.append(len(chunk))
                out += chunk
    return bytes(out)


def stored_dtype(suffix: str, bit_depth: int = 8) -> torch.dtype:
    """What to ask an ISP for (``InferenceOptions.output_dtype``) to write a file with this suffix (``".png"``):
    the code-value type the format stores (uint8 for JPEG and 8-bit PNG, uint16 for 16-bit PNG and TIFF), so the
    image never exists as floats, or float32 for the float formats."""
    kind = _SUFFIXES.get(suffix.lower())
    if kind is None:
        raise BadInputError(f"unknown image suffix {suffix!r} (use one of {', '.join(sorted(_SUFFIXES))})")
    if kind in ("exr", "radiance"):
        return torch.float32
    return torch.uint16 if kind == "tiff" or (kind == "png" and bit_depth == 16) else torch.uint8


def write_image(path: str | Path, image: torch.Tensor | np.ndarray, *, overwrite: bool = False, **options: Any) -> Path:
    """Write ``image`` in the format its suffix names (.png, .jpg/.jpeg, .tif/.tiff, .exr, .hdr).

    ``options`` go to the format's writer (``bit_depth`` for PNG, ``quality`` and ``exif`` for
    JPEG, ``chromaticities`` for OpenEXR); see :func:`write_png`, :func:`write_jpeg`, :func:`write_tiff`,
    :func:`write_exr`, :func:`write_radiance`.
    """
    kind = _SUFFIXES.get(Path(path).suffix.lower())
    if kind is None:
        raise BadInputError(f"{path}: unknown image suffix (use one of {', '.join(sorted(_SUFFIXES))})")
    writer, allowed = {
        "png": (write_png, {"bit_depth"}),
        "jpeg": (write_jpeg, {"quality", "exif"}),
        "tiff": (write_tiff, set()),
        "exr": (write_exr, {"chromaticities"}),
        "radiance": (write_radiance, set()),
    }[kind]
    if unknown := sorted(set(options) - allowed):
        raise BadInputError(f"{Path(path).name}: the {kind} writer takes no option {', '.join(unknown)}")
    return writer(path, image, overwrite=overwrite, **options)

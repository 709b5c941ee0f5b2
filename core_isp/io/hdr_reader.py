"""Linear HDR images: OpenEXR (via the ``openexr`` package) and Radiance RGBE ``.hdr``.

imageio cannot decode ``.hdr`` without an OpenCV/FreeImage backend, and writes TIFF when asked for
EXR; these readers need neither.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import OpenEXR
import torch

from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.metadata import CameraMetadata


def read_hdr_image(path: str | Path) -> CameraImage:
    """Read a linear HDR image as a ``linear_srgb`` image of one, pixels ``(1, 3, H, W)`` float32 (alpha dropped).

    These formats record no camera, so the metadata holds the image size only.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".exr":
        hwc = _read_exr(path)
    elif suffix in (".hdr", ".rgbe", ".pic"):
        hwc = _read_rgbe(path)
    else:
        raise BadInputError(f"{path.name}: not an HDR image (.exr or .hdr)")
    pixels = torch.from_numpy(np.ascontiguousarray(hwc.transpose(2, 0, 1)))[None]
    return CameraImage(pixels, (CameraMetadata(image_size_hw=hwc.shape[:2]),), "linear_srgb")


def _read_exr(path: Path) -> np.ndarray:
    try:
        channels = OpenEXR.File(str(path)).channels()
    except Exception as e:  # the binding raises plain RuntimeErrors for damaged files
        raise BadInputError(f"{path.name}: unreadable OpenEXR file ({e})") from None
    for name in ("RGB", "RGBA"):
        if name in channels:
            return np.ascontiguousarray(channels[name].pixels[..., :3], dtype=np.float32)
    if all(c in channels for c in "RGB"):
        return np.stack([channels[c].pixels for c in "RGB"], axis=-1).astype(np.float32)
    raise BadInputError(f"{path.name}: no R, G, B channels (found {sorted(channels)})")


def _read_rgbe(path: Path) -> np.ndarray:
    data = path.read_bytes()
    end = data.find(b"\n\n")
    if not data.startswith((b"#?RADIANCE", b"#?RGBE")) or end < 0:
        raise BadInputError(f"{path.name}: not a Radiance RGBE file")
    header = data[:end].decode("latin-1")
    if "FORMAT=32-bit_rle_xyze" in header:
        raise BadInputError(f"{path.name}: XYZE Radiance files are not supported, only RGBE")
    line_end = data.index(b"\n", end + 2)
    res = data[end + 2 : line_end].split()
    if len(res) != 4 or res[0] != b"-Y" or res[2] != b"+X":
        raise BadInputError(f"{path.name}: unsupported Radiance orientation {res}")
    height, width = int(res[1]), int(res[3])
    rgbe = _decode_scanlines(np.frombuffer(data, dtype=np.uint8, offset=line_end + 1), height, width, path)
    exponent = rgbe[..., 3].astype(np.int32)
    # value = mantissa * 2^(e - 136) (a zero exponent byte means black)
    scale = np.where(exponent > 0, np.ldexp(1.0, exponent - 136), 0.0).astype(np.float32)
    return rgbe[..., :3].astype(np.float32) * scale[..., None]


def _decode_scanlines(buf: np.ndarray, height: int, width: int, path: Path) -> np.ndarray:
    out = np.empty((height, width, 4), dtype=np.uint8)
    pos = 0
    try:
        for y in range(height):
            new_rle = 8 <= width < 0x8000 and buf[pos] == 2 and buf[pos + 1] == 2 and not buf[pos + 2] & 0x80
            if not new_rle:  # flat (uncompressed) scanline
                out[y] = buf[pos : pos + 4 * width].reshape(width, 4)
                pos += 4 * width
                continue
            pos += 4
            for c in range(4):
                x = 0
                while x < width:
                    count = int(buf[pos])
                    pos += 1
                    if count > 128:  # a run of one value
                        count -= 128
                        out[y, x : x + count, c] = buf[pos]
                        pos += 1
                    else:
                        out[y, x : x + count, c] = buf[pos : pos + count]
                        pos += count
                    x += count
    except (IndexError, ValueError):
        raise BadInputError(f"{path.name}: truncated or corrupt RGBE pixel data") from None
    return out

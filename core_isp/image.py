"""One carrier for pixels and the metadata of the shots they come from, RAW mosaic or rendered photo alike.

Readers return it, the chain passes it from step to step, and writers take it, so the white balance, CFA phase
and exposure that describe a tensor never travel apart from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from core_isp.errors import BadInputError
from core_isp.metadata import CameraMetadata

#: ``raw``: normalised Bayer mosaic (0 = black, 1 = white level), ``(B, 1, H, W)``;
#: ``srgb``: display-referred sRGB in [0, 1], ``(B, 3, H, W)``;
#: ``linear_srgb``: scene-referred linear RGB with sRGB primaries (D65), ``(B, 3, H, W)``, unbounded.
Space = Literal["raw", "srgb", "linear_srgb"]
_CHANNELS = {"raw": 1, "srgb": 3, "linear_srgb": 3}


@dataclass(frozen=True)
class CameraImage:
    """A batch of images ``pixels`` ``(B, C, H, W)`` in sensor orientation with one metadata record per image."""

    pixels: torch.Tensor
    metadata: tuple[CameraMetadata, ...]
    space: Space

    def __post_init__(self) -> None:
        if self.space not in _CHANNELS:
            raise BadInputError(f"space must be one of {', '.join(_CHANNELS)}, got {self.space!r}")
        if self.pixels.ndim != 4 or self.pixels.shape[1] != _CHANNELS[self.space]:
            raise BadInputError(
                f"{self.space} pixels must be (B, {_CHANNELS[self.space]}, H, W), got {tuple(self.pixels.shape)}"
            )
        metadata = (self.metadata,) if isinstance(self.metadata, CameraMetadata) else tuple(self.metadata)
        if len(metadata) != self.pixels.shape[0]:
            raise BadInputError(f"{len(metadata)} metadata records for a batch of {self.pixels.shape[0]}")
        if self.space == "raw" and not all(m.is_raw for m in metadata):
            raise BadInputError("a RAW image needs metadata with a CFA pattern")
        object.__setattr__(self, "metadata", metadata)

    @classmethod
    def raw(cls, mosaic: torch.Tensor | np.ndarray, metadata: CameraMetadata | Sequence[CameraMetadata]) -> CameraImage:
        """From a mosaic ``(H, W)``, ``(1, H, W)`` or ``(B, 1, H, W)`` (numpy or tensor)."""
        return cls(_batched(mosaic), _records(metadata), "raw")

    @property
    def meta(self) -> CameraMetadata:
        """The metadata of a single image (a batch of more is refused, so no record is silently dropped)."""
        if len(self.metadata) != 1:
            raise BadInputError(f"expected one image, got a batch of {len(self.metadata)}")
        return self.metadata[0]

    @property
    def mosaic(self) -> np.ndarray:
        """A single RAW image's mosaic ``(H, W)`` as float32 numpy."""
        if self.space != "raw":
            raise BadInputError(f"a {self.space} image has no mosaic")
        _ = self.meta
        return self.pixels[0, 0].detach().cpu().numpy()

    @property
    def size_hw(self) -> tuple[int, int]:
        return int(self.pixels.shape[-2]), int(self.pixels.shape[-1])

    def tensor(self, device: torch.device | str | None = None) -> torch.Tensor:
        """The pixels ``(B, C, H, W)``, on ``device`` when given."""
        return self.pixels if device is None else self.pixels.to(device)

    def with_pixels(
        self, pixels: torch.Tensor, space: Space | None = None, metadata: Sequence[CameraMetadata] | None = None
    ) -> CameraImage:
        """The same shots with new pixels (and, when they changed, new space or metadata)."""
        return CameraImage(pixels, tuple(metadata) if metadata is not None else self.metadata, space or self.space)



def downscaled(photo: CameraImage, long_side_px: int) -> CameraImage:
    """A photo ``(1, 3, H, W)`` area-resampled to a long side of ``long_side_px`` (never up), with even sides: its RAW
    is sampled through a 2 x 2 CFA."""
    height, width = photo.size_hw
    scale = min(1.0, long_side_px / max(height, width))
    size = (2 * max(1, round(height * scale / 2)), 2 * max(1, round(width * scale / 2)))
    pixels = F.interpolate(photo.pixels, size=size, mode="area")
    return photo.with_pixels(pixels, metadata=[photo.meta.replace(image_size_hw=size)])

#: Integer pixel types read and written as code values of their full range (0 -> 0.0, max -> 1.0).
CODE_DTYPES = (torch.uint8, torch.uint16)


def from_codes(x: torch.Tensor) -> torch.Tensor:
    """Pixels as fp32: integer code values (:data:`CODE_DTYPES`) divided by their type's maximum, floats as they are.

    Elementwise, so a window converted alone equals the same window of the whole image converted.
    """
    if x.is_floating_point():
        return x.float()
    if x.dtype not in CODE_DTYPES:
        raise BadInputError(f"pixels must be floating point, uint8 or uint16, got {x.dtype}")
    return x.float() / float(torch.iinfo(x.dtype).max)


def to_codes(x: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Floats in [0, 1] -> integer code values of ``dtype`` (uint8 or uint16): clipped, rounded half to even.

    In float64: in float32, ``x * 65535`` can land on the wrong side of a rounding midpoint. Elementwise, so an
    image converted strip by strip or tile by tile gives the same codes as converted whole.
    """
    if dtype not in CODE_DTYPES:
        raise BadInputError(f"code values are uint8 or uint16, got {dtype}")
    if not x.is_floating_point():
        raise BadInputError(f"to_codes takes floating-point pixels, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise BadInputError("image has NaN or infinite values; an integer format cannot store them")
    return torch.round(x.double().clamp(0.0, 1.0) * float(torch.iinfo(dtype).max)).to(dtype)


def _batched(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    while t.ndim < 4:
        t = t[None]
    return t


def _records(metadata: CameraMetadata | Sequence[CameraMetadata]) -> tuple[CameraMetadata, ...]:
    return (metadata,) if isinstance(metadata, CameraMetadata) else tuple(metadata)

"""Sensor saturation: where a mosaic reaches its clip level, and clipping to it.

A sample's clip level is :attr:`CameraMetadata.clip_level`, the normalised level of its
``saturation_level`` (1, the white level, when no lower saturation is recorded).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from core_isp.metadata import CameraMetadata
from core_isp.raw_domain._batch import check_batch


def _clip_levels(raw: torch.Tensor, meta: Sequence[CameraMetadata]) -> torch.Tensor:
    return torch.tensor([m.clip_level for m in meta], dtype=raw.dtype, device=raw.device).view(-1, 1, 1, 1)


def saturation_mask(raw: torch.Tensor, meta: Sequence[CameraMetadata]) -> torch.Tensor:
    """Bool ``(B, 1, H, W)``: true where the normalised value ``(B, 1, H, W)`` is at or above the clip level."""
    meta = check_batch(raw, meta)
    return raw >= _clip_levels(raw, meta)


def clip_to_white(raw: torch.Tensor, meta: Sequence[CameraMetadata]) -> tuple[torch.Tensor, list[CameraMetadata]]:
    """Clip each sample ``(B, 1, H, W)`` from above at its clip level, as the sensor would have.

    Values below black (noise) are kept: the sensor records them, and the DN conversion clips at 0
    where a format needs it. The metadata is unchanged.
    """
    meta = check_batch(raw, meta)
    return raw.clamp(max=_clip_levels(raw, meta)), meta

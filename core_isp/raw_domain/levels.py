"""Normalised mosaic <-> sensor digital numbers (DN), per CFA site: the suite's one black-level normalisation.

``normalised = (dn - black_site) / (white - black_site)``, so 0 is the site's black level and 1 the
white level; values outside [0, 1] are kept (noise below black, highlights above white), and nothing
is rounded or clipped here: readers, writers and the simulator each round and clip as their format
needs. ``black_level_per_site`` is row-major over the 2x2 cell at the mosaic's top-left pixel, so
the conversion needs no CFA pattern and works on any H x W, odd sizes included.

These are conversions between two units of the same data, not RAW-domain ops: they return the
converted tensor alone, the metadata being unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from core_isp.errors import BadInputError
from core_isp.metadata import CameraMetadata
from core_isp.raw_domain._batch import check_batch


def site_levels_dn(
    meta: Sequence[CameraMetadata], height: int, width: int, like: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each sample's black level at every site ``(B, 1, H, W)`` and white level ``(B, 1, 1, 1)``, in DN.

    In ``like``'s dtype and device; a sample without black or white level is refused.
    """
    for i, m in enumerate(meta):
        if m.black_level_per_site is None or m.white_level is None:
            raise BadInputError(f"sample {i} has no black/white levels: cannot convert between DN and normalised")
    cells = torch.tensor([m.black_level_per_site for m in meta], dtype=like.dtype, device=like.device)
    # Tile the 2x2 cell and crop, so odd sizes keep the top-left phase.
    black = cells.view(-1, 1, 2, 2).repeat(1, 1, (height + 1) // 2, (width + 1) // 2)[..., :height, :width]
    white = torch.tensor([m.white_level for m in meta], dtype=like.dtype, device=like.device).view(-1, 1, 1, 1)
    return black, white


def dn_to_normalised(dn: torch.Tensor, meta: Sequence[CameraMetadata]) -> torch.Tensor:
    """Sensor values ``(B, 1, H, W)`` in DN -> normalised mosaic ``(B, 1, H, W)`` (same dtype)."""
    meta = check_batch(dn, meta, "dn")
    black, white = site_levels_dn(meta, dn.shape[-2], dn.shape[-1], dn)
    return (dn - black) / (white - black)


def normalised_to_dn(raw: torch.Tensor, meta: Sequence[CameraMetadata]) -> torch.Tensor:
    """Normalised mosaic ``(B, 1, H, W)`` -> sensor values ``(B, 1, H, W)`` in DN, unrounded (same dtype)."""
    meta = check_batch(raw, meta)
    black, white = site_levels_dn(meta, raw.shape[-2], raw.shape[-1], raw)
    return raw * (white - black) + black

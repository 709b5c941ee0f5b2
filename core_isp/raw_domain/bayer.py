"""Bayer mosaic <-> four colour planes at half resolution, in one colour order whatever the CFA phase.

Packed channels are always (R, G on red rows, G on blue rows, B), so per-plane code never looks at
the pattern. Plane pixel ``(i, j)`` of channel ``c`` is mosaic pixel ``(2 i + dy_c, 2 j + dx_c)``,
with ``(dy_c, dx_c)`` = :func:`plane_sites` (they depend on each sample's pattern). Packing only
moves values, so ``unpack_bayer(pack_bayer(x))`` is ``x`` bit for bit, and gradients pass through.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from core_isp.cfa import phase_offset
from core_isp.metadata import CameraMetadata
from core_isp.raw_domain._batch import cfa_patterns, check_batch

PLANE_NAMES: tuple[str, ...] = ("R", "Gr", "Gb", "B")


def plane_sites(meta: Sequence[CameraMetadata], device: torch.device | str | None = None) -> torch.Tensor:
    """Where each packed channel sits in the 2x2 cell: ``(B, 4, 2)`` long, rows ``(dy, dx)`` in {0, 1}."""
    sites = []
    for pattern in cfa_patterns(meta):
        # The red site is where a crop must start to read RGGB; the others follow from it.
        dy, dx = phase_offset(pattern, "RGGB")
        sites.append([(dy, dx), (dy, 1 - dx), (1 - dy, dx), (1 - dy, 1 - dx)])
    return torch.tensor(sites, dtype=torch.long, device=device)


def _site_order(meta: Sequence[CameraMetadata], device: torch.device) -> torch.Tensor:
    """Index of each packed channel among ``pixel_unshuffle``'s row-major cell sites: ``(B, 4)`` long."""
    sites = plane_sites(meta, device)
    return 2 * sites[..., 0] + sites[..., 1]


def pack_bayer(raw: torch.Tensor, meta: Sequence[CameraMetadata]) -> torch.Tensor:
    """Mosaic ``(B, 1, H, W)`` -> planes ``(B, 4, H/2, W/2)`` in the order (R, Gr, Gb, B); H and W even."""
    meta = check_batch(raw, meta)
    height, width = raw.shape[-2:]
    if height % 2 or width % 2:
        raise ValueError(f"packing a Bayer mosaic needs an even height and width, got {height}x{width}")
    cells = F.pixel_unshuffle(raw, 2)  # (B, 4, H/2, W/2), channels = cell sites row-major
    batch = torch.arange(raw.shape[0], device=raw.device)[:, None]
    return cells[batch, _site_order(meta, raw.device)]


def unpack_bayer(planes: torch.Tensor, meta: Sequence[CameraMetadata]) -> torch.Tensor:
    """Exact inverse of :func:`pack_bayer`: planes ``(B, 4, h, w)`` -> mosaic ``(B, 1, 2h, 2w)``."""
    meta = check_batch(planes, meta, "planes", "B,4,h,w")
    # argsort of a permutation is its inverse: channel k of the cells is the packed channel at site k.
    from_sites = torch.argsort(_site_order(meta, planes.device), dim=1)
    batch = torch.arange(planes.shape[0], device=planes.device)[:, None]
    return F.pixel_shuffle(planes[batch, from_sites], 2)

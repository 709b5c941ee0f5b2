"""Clipped highlights extended above the clip level, as a smooth continuation of the light around them.

A photo records white wherever the scene was brighter than its white point; the inverse ISP returns the clip level
there, a flat plateau. Each clipped area (8-connected, on 2x2 Bayer cells) is extended on its own:

* the ring of unclipped cells within :attr:`HighlightSettings.ring_cells` of the area gives the level ``n`` around
  it and the clipped cells at its edge the clip level ``c``; light rose by ``log2(c / n)`` stops over the ring's
  mean distance ``r`` from the area, a slope of ``s = log2(c / n) / r`` stops per cell;
* inside, the level keeps rising from ``c`` with that slope at the edge and levels off at
  ``A = min(s * rho, max_stops)`` stops: ``level = c * 2^(A (1 - exp(-d / rho)))`` at distance ``d`` from the edge,
  with ``rho`` half the area's largest inner distance. So a small specular glint gains little, the middle of a large
  blown sky or lamp most, an area that rose steeply out of dark surroundings (a light source) more than one
  barely brighter than its neighbours (a hazy sky), and the extension is continuous at the edge.

Every site of a cell gets the same gain, so the colour the inverse gave the area is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from core_isp.metadata import CameraMetadata
from core_isp.raw_domain import pack_bayer, unpack_bayer
from core_isp.tensor_checks import check_shape


@dataclass(frozen=True)
class HighlightSettings:
    """How clipped areas are found and extended (module notes)."""

    #: Largest-channel code value (of 1) from which a photo's pixel counts as clipped.
    clipped_code: float = 0.98
    #: Width of the ring of unclipped cells around an area whose light sets its extension, in 2x2 cells.
    ring_cells: int = 3
    #: Most an area is raised above the clip level, in stops.
    max_stops: float = 4.0


def _cell_luminance(raw: torch.Tensor, meta: CameraMetadata) -> np.ndarray:
    """White-balanced mean of each 2x2 cell of a mosaic ``(1, H, W)``: a luminance proxy ``(H/2, W/2)``."""
    planes = pack_bayer(raw[None], [meta])[0].double()
    r, _, b = meta.wb_gains  # type: ignore[misc]
    return ((r * planes[0] + planes[1] + planes[2] + b * planes[3]) / 4.0).cpu().numpy()


def extension_stops(luma: np.ndarray, clipped: np.ndarray, settings: HighlightSettings) -> np.ndarray:
    """Stops to add per cell ``(h, w)`` given a luminance proxy and a bool mask of clipped cells (module notes)."""
    labels, count = ndimage.label(clipped, structure=np.ones((3, 3), dtype=bool))
    stops = np.zeros(clipped.shape, dtype=np.float64)
    if count == 0:
        return stops
    inner = ndimage.distance_transform_edt(clipped)
    outer, nearest = ndimage.distance_transform_edt(~clipped, return_indices=True)
    ring = np.where(~clipped & (outer <= settings.ring_cells), labels[nearest[0], nearest[1]], 0)
    edge = np.where(clipped & (inner <= 1.5), labels, 0)
    index = np.arange(1, count + 1)
    around = np.asarray(ndimage.median(luma, ring, index), dtype=np.float64)
    at_clip = np.asarray(ndimage.median(luma, edge, index), dtype=np.float64)
    distance = np.asarray(ndimage.mean(outer, ring, index), dtype=np.float64)
    depth = np.asarray(ndimage.maximum(inner, labels, index), dtype=np.float64)
    # An area with no ring (it fills the frame) or no light around it cannot be told how far it rose: no extension.
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = np.log2(at_clip / around)
    slope = np.where(np.isfinite(rise) & (around > 0), np.maximum(rise, 0.0) / np.maximum(distance, 1.0), 0.0)
    rho = np.maximum(depth / 2.0, 1.0)
    asymptote = np.minimum(slope * rho, settings.max_stops)
    inside = labels > 0
    k = labels[inside] - 1
    # Cell centres of the edge lie half a cell inside the area's border.
    stops[inside] = asymptote[k] * (1.0 - np.exp(-(inner[inside] - 0.5) / rho[k]))
    return stops


def extend_highlights(
    raw: torch.Tensor, meta: Sequence[CameraMetadata], clipped: torch.Tensor, settings: HighlightSettings
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mosaics ``(B, 1, H, W)`` with clipped areas extended, and the gain ``(B, 1, H, W)`` applied to each site.

    ``clipped`` is a bool ``(B, 1, H, W)`` of the clipped pixels (a 2x2 cell with any counts as clipped); ``meta``
    needs white-balance gains (they weigh the colours in the luminance proxy).
    """
    check_shape(clipped, "B,1,H,W", "clipped")
    gains = []
    for x, mask, m in zip(raw, clipped, meta, strict=True):
        cells = pack_bayer(mask[None].to(raw.dtype), [m])[0].amax(dim=0).cpu().numpy() > 0
        stops = extension_stops(_cell_luminance(x, m), cells, settings)
        cell_gain = torch.from_numpy(np.exp2(stops)).to(raw.dtype)
        gains.append(unpack_bayer(cell_gain.expand(1, 4, -1, -1).contiguous(), [m])[0])
    gain = torch.stack(gains).to(raw.device)
    return raw * gain, gain

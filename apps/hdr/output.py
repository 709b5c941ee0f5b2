"""From a merged RAW to what the user gets: scene-referred linear RGB, its absolute scale, and a display preview.

* Colour: demosaic, the shot's white balance and colour matrix (``core_isp.canonical``), nothing clipped: linear
  RGB with Rec. 709 / sRGB primaries and D65 white, as the OpenEXR file's ``chromaticities`` attribute states.
  An HDR mosaic spans many stops, and a demosaic that interpolates light lets a lamp's samples swamp a dark
  neighbour's missing colours (one neighbour 1000x brighter dominates any mean). The mosaic is therefore demosaicked
  in stops (:func:`log_demosaic`): the same neighbour moves an interpolated value by a fraction of the stops between
  them, and the gradient correction becomes one of colour ratios. Each interpolated value is also limited to the
  range of the same colour's samples in its 3x3 neighbourhood (every 3x3 window of a Bayer mosaic holds each colour),
  as a gradient-corrected demosaic overshoots across 10-stop edges.
* Scale: a RAW level of 1 (the white level) is scene luminance ``K N^2 / (t S)`` cd/m^2 with ``K = 78 / 0.65``, the
  saturation-based speed of ISO 12232 (``S = 78 / H_sat``) with ISO 2720's lens transmission 0.65; ``S`` is the
  analogue ISO. Real cameras place their white level within about half a stop of it, so the values are
  approximately cd/m^2; without the shot's exposure they stay relative (1 = the RAW white level).
* Preview: Reinhard et al.'s global operator (2002): luminance scaled to a key of 0.18 of its log-average, then
  ``L (1 + L / L_white^2) / (1 + L)`` with ``L_white`` the 99.9th percentile (so a few hot pixels do not set it),
  colours kept in proportion, sRGB-encoded.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from core_isp.cameras.camera import SensorLayout
from core_isp.canonical import CanonicalParams, apply_ccm, apply_wb, demosaic, srgb_encode
from core_isp.cfa import colour_masks
from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.io.writers import REC709_D65_CHROMATICITIES, write_image, write_png
from core_isp.metadata import CameraMetadata
from core_isp.orientation import to_display
from core_isp.simulation.scenes import luminance
from core_isp.tensor_checks import check_shape

#: Scene luminance (cd/m^2) that brings a sensor to its white level is this times ``N^2 / (t S)`` (module notes).
SATURATION_LUMINANCE_K = 78.0 / 0.65
#: File suffixes of the HDR formats written.
HDR_SUFFIXES = (".exr", ".hdr")
PREVIEW_KEY = 0.18
PREVIEW_WHITE_PERCENTILE = 99.9
#: Level (of the white level) a site at or below it is read as by :func:`log_demosaic`: 20 stops under white, below
#: any sensor's noise floor, so a site at 0 does not pull its neighbours to -inf.
LOG_DEMOSAIC_FLOOR = 2.0**-20


def _site_masks(raw: torch.Tensor, cfa: torch.Tensor) -> torch.Tensor:
    """Bool ``(B, 3, H, W)``: where each colour was sampled in mosaics ``(B, 1, H, W)`` with CFAs ``(B, 2, 2)``."""
    return colour_masks(cfa.to(raw.device), raw.shape[-2], raw.shape[-1], torch.bool)


def _limited(raw: torch.Tensor, cfa: torch.Tensor, method: str, masks: torch.Tensor) -> torch.Tensor:
    """:func:`limited_demosaic` with its site masks (:func:`_site_masks`) given."""
    rgb = demosaic(raw, cfa, method)
    samples = raw.expand_as(rgb)
    high = F.max_pool2d(torch.where(masks, samples, -math.inf), 3, stride=1, padding=1)
    low = -F.max_pool2d(torch.where(masks, -samples, -math.inf), 3, stride=1, padding=1)
    return torch.minimum(torch.maximum(rgb, low), high)


def limited_demosaic(raw: torch.Tensor, cfa: torch.Tensor, method: str = "malvar") -> torch.Tensor:
    """Demosaic mosaics ``(B, 1, H, W)`` with CFAs ``(B, 2, 2)`` to ``(B, 3, H, W)``, each value limited to the range
    of its colour's samples in the 3x3 neighbourhood (module notes)."""
    check_shape(raw, "B,1,H,W", "raw")
    return _limited(raw, cfa, method, _site_masks(raw, cfa))


def log_demosaic(raw: torch.Tensor, cfa: torch.Tensor, method: str = "malvar") -> torch.Tensor:
    """:func:`limited_demosaic` of the mosaics' log2 ``(B, 1, H, W)`` (CFAs ``(B, 2, 2)``), back in light:
    ``(B, 3, H, W)`` (module notes). Each site keeps its own sample exactly, 0 included; as neighbours, levels at or
    below :data:`LOG_DEMOSAIC_FLOOR` count as that floor."""
    check_shape(raw, "B,1,H,W", "raw")
    masks = _site_masks(raw, cfa)
    rgb = torch.exp2(_limited(torch.log2(raw.clamp(min=LOG_DEMOSAIC_FLOOR)), cfa, method, masks))
    return torch.where(masks, raw.expand_as(rgb), rgb)


def raw_to_linear(
    raw: torch.Tensor, meta: Sequence[CameraMetadata], demosaic_method: str = "malvar", in_stops: bool = True
) -> torch.Tensor:
    """Normalised mosaics ``(B, 1, H, W)`` -> linear RGB ``(B, 3, H, W)`` (sRGB primaries, D65), unclipped.

    ``in_stops``: demosaic in log2 (:func:`log_demosaic`, the default), else in light (:func:`limited_demosaic`).
    """
    check_shape(raw, "B,1,H,W", "raw")
    params = CanonicalParams.from_metadata(list(meta), raw.device)
    develop = log_demosaic if in_stops else limited_demosaic
    rgb = apply_wb(develop(raw, params.cfa, demosaic_method), params.wb_gains)
    return apply_ccm(rgb, params.ccm)


def white_luminance_cd_m2(meta: CameraMetadata, sensor: SensorLayout) -> float | None:
    """Scene luminance at a shot's RAW white level (module notes); None without its exposure time, ISO or f-number."""
    if None in (meta.exposure_time_s, meta.iso, meta.f_number):
        return None
    return SATURATION_LUMINANCE_K * meta.f_number**2 / (meta.exposure_time_s * sensor.analog_iso(meta.iso))  # type: ignore[operator]


def reinhard_preview(linear: torch.Tensor) -> torch.Tensor:
    """Tone-mapped sRGB ``(B, 3, H, W)`` in [0, 1] of linear images ``(B, 3, H, W)`` (module notes)."""
    check_shape(linear, "B,3,H,W", "linear")
    out = []
    for rgb in linear.double().clamp(min=0.0):
        world = luminance(rgb)
        log_average = torch.exp(torch.log(world + 1e-6 * world.max().clamp(min=1e-30)).mean())
        scaled = PREVIEW_KEY / log_average.clamp(min=1e-30) * world
        white = torch.quantile(scaled.flatten()[:: max(1, scaled.numel() // 1_000_000)], PREVIEW_WHITE_PERCENTILE / 100)
        white = white.clamp(min=1.0)  # below 1 the curve would exceed 1 before the brightest pixel
        display = scaled * (1.0 + scaled / white**2) / (1.0 + scaled)
        ratio = torch.where(world > 0, display / world.clamp(min=1e-30), torch.zeros_like(world))
        out.append(srgb_encode((rgb * ratio).clamp(0.0, 1.0)[None])[0])
    return torch.stack(out).to(linear.dtype)


def preview_path(target: Path) -> Path:
    """Where the preview of an HDR file goes: ``NAME_preview.png`` beside it."""
    return target.with_name(f"{target.stem}_preview.png")


def write_hdr(target: str | Path, image: CameraImage, *, preview: bool = True, overwrite: bool = False) -> list[Path]:
    """Write a ``linear_srgb`` image of one upright as OpenEXR (``.exr``, with its chromaticities) or Radiance
    (``.hdr``), and its preview PNG; returns the paths written."""
    target = Path(target)
    if image.space != "linear_srgb":
        raise BadInputError(f"an HDR file holds linear RGB, got {image.space}")
    suffix = target.suffix.lower()
    if suffix not in HDR_SUFFIXES:
        raise BadInputError(f"{target.name}: an HDR output must end in {' or '.join(HDR_SUFFIXES)}")
    upright = to_display(image.pixels, image.meta.orientation)
    options = {"chromaticities": REC709_D65_CHROMATICITIES} if suffix == ".exr" else {}
    written = [write_image(target, upright[0], overwrite=overwrite, **options)]
    if preview:
        written.append(write_png(preview_path(target), reinhard_preview(upright)[0], overwrite=overwrite))
    return written

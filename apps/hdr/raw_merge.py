"""The merge itself, on normalised mosaics ``(B, 1, H, W)``: how far to trust each frame at each site, ghost
rejection, and the inverse-variance average.

A frame's RAW comes from its photo through the inverse ISP, so its error at a site has three parts, added as
variances (:func:`site_variance`):

* the sensor's noise at the frame's analogue ISO (the camera's noise model, :func:`core_isp.raw_domain.noise_std`);
* the photo's code-value error (8-bit rounding, JPEG compression), carried to RAW by the local slope of the
  photo's encoding: one code value at the site's colour spans ``decode(s + 1/2) - decode(s - 1/2)`` in linear light
  (the sRGB curve), times the camera's RAW-per-linear-light gain (:func:`raw_per_light`, per colour plane). In the
  shadows of a short exposure this term dominates: an 8-bit step is a large fraction of the signal;
* the inverse ISP's own error, a fixed fraction of the level (:attr:`ErrorModel.model_stops`), the same in every
  frame: where it dominates (bright, finely quantised sites) the frames are averaged alike.

A learned inverse can also fail outright: return no light (0, after its clamp) for dim but visible parts of a photo,
often whole dark regions of a scene unlike its training data. A site it puts more than :data:`FAILURE_STOPS` below
the photo's plain decoding (its linear light through the sRGB curve, times the RAW-per-light gain) is taken from that
decoding instead, known within a stop (:func:`repair_failures`).

Where a photo nears its top code value its tone curve compresses and then clips, and the inverse cannot tell
levels apart: trust falls linearly from 1 to 0 over a band of the pixel's largest channel (its 3x3 neighbourhood,
as demosaicing and JPEG spread clipping). Variances are taken at a 3x3 same-colour mean of the level, so a frame's
own noise does not bias its weight.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core_isp.cameras import NoiseModel
from core_isp.canonical import mosaic, srgb_decode
from core_isp.cfa import cfa_batch
from core_isp.metadata import CameraMetadata
from core_isp.raw_domain import blur_planes, noise_std, pack_bayer, unpack_bayer
from core_isp.tensor_checks import check_shape

#: Code values of the photo at which its linear light counts as mid-tone, for the RAW-per-light gain.
_MID_TONES = (0.1, 0.8)
#: Stops below a photo's plain decoding from which the inverse ISP's estimate counts as a failure: camera tone curves
#: lift shadows above the sRGB curve by a stop or two (the simulated cameras' by less than two), so four is a failure.
FAILURE_STOPS = 4.0
#: The error (stops) of a site taken from the plain decoding.
REPAIRED_STOPS = 1.0


@dataclass(frozen=True)
class ErrorModel:
    """The error terms of a frame's RAW estimate and the trust band near clipping (module notes).

    Code values are of 1 (the photo's white).
    """

    #: Standard deviation of a photo's code value, in code values (rounding alone is 0.29; JPEG adds to it).
    code_std: float = 0.5
    #: Standard deviation of the inverse ISP's estimate, in stops.
    model_stops: float = 0.05
    #: Largest-channel code value where trust starts to fall, and where it reaches 0.
    trust_from: float = 0.90
    trust_to: float = 0.98


def clip_trust(
    photo: torch.Tensor, meta: Sequence[CameraMetadata], errors: ErrorModel
) -> tuple[torch.Tensor, torch.Tensor]:
    """Trust ``(B, 1, H, W)`` in [0, 1] of each site of photos ``(B, 3, H, W)`` in [0, 1], and a bool ``(B, 1, H, W)``
    of the sites whose pixel is blown (trust 0 near clipping, module notes).

    A site whose own colour is at code 0 (black, or a colour outside the sRGB gamut that the camera clipped there) is
    not trusted either: it only bounds the light from above. Code 1 gets half the trust.
    """
    check_shape(photo, "B,3,H,W", "photo")
    peak = F.max_pool2d(photo.amax(dim=1, keepdim=True), 3, stride=1, padding=1)
    highlight = ((errors.trust_to - peak) / (errors.trust_to - errors.trust_from)).clamp(0.0, 1.0)
    black = (site_codes(photo, meta) * 255.0 - 0.5).clamp(0.0, 1.0)
    return highlight * black, highlight <= 0


def _box3(raw: torch.Tensor, meta: Sequence[CameraMetadata]) -> torch.Tensor:
    """3x3 mean over same-colour neighbours of mosaics ``(B, 1, H, W)``."""
    kernel = torch.full((raw.shape[0], 3, 3), 1.0 / 9.0, dtype=raw.dtype, device=raw.device)
    return blur_planes(raw, meta, kernel, border_type="replicate")[0]


def site_codes(rgb: torch.Tensor, meta: Sequence[CameraMetadata]) -> torch.Tensor:
    """Each site's own colour's value ``(B, 1, H, W)`` in images ``(B, 3, H, W)`` (a photo's code values, say)."""
    return mosaic(rgb, cfa_batch([m.cfa_pattern for m in meta], rgb.device))  # type: ignore[misc]


def raw_per_light(raw: torch.Tensor, meta: Sequence[CameraMetadata], photo: torch.Tensor) -> torch.Tensor:
    """RAW level per unit of the photo's linear light, per colour plane ``(B, 4, 1, 1)`` (R, Gr, Gb, B), of RAW
    estimates ``(B, 1, H, W)`` and their photos ``(B, 3, H, W)``.

    The median ratio over mid-tone sites; a plane without any uses all sites with light, and one without light a
    gain of 1. A camera renders its RAW with the same gain whatever the exposure, so a bracket measures it once, on
    the reference frame: a dark frame's ratios are dominated by sites the inverse put at 0.
    """
    check_shape(photo, "B,3,H,W", "photo")
    level = pack_bayer(_box3(raw, meta), meta)
    light = pack_bayer(site_codes(srgb_decode(photo), meta), meta)
    lo, hi = (float(srgb_decode(torch.full((1, 3, 1, 1), v))[0, 0]) for v in _MID_TONES)
    gains = torch.ones((*level.shape[:2], 1, 1), dtype=level.dtype, device=level.device)
    for b in range(level.shape[0]):
        for c in range(4):
            lit = light[b, c] > 0
            mid = lit & (light[b, c] > lo) & (light[b, c] < hi)
            use = mid if int(mid.sum()) >= 16 else lit
            if bool(use.any()):
                gains[b, c] = (level[b, c][use] / light[b, c][use]).median().clamp(min=1e-6)
    return gains


def repair_failures(
    raw: torch.Tensor, meta: Sequence[CameraMetadata], photo: torch.Tensor, gains: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """RAW estimates ``(B, 1, H, W)`` with the inverse ISP's failures replaced by the photo's plain decoding (module
    notes), and a bool ``(B, 1, H, W)`` of the sites replaced. ``photo`` ``(B, 3, H, W)``, ``gains``: see
    :func:`raw_per_light`."""
    check_shape(gains, "B,4,1,1", "gains")
    light = site_codes(srgb_decode(photo), meta)
    gain = unpack_bayer(gains.expand(-1, -1, *pack_bayer(raw, meta).shape[-2:]).contiguous(), meta)
    plain = gain * light
    failed = (site_codes(photo, meta) * 255.0 >= 1.5) & (raw < plain * 2.0**-FAILURE_STOPS)
    return torch.where(failed, plain, raw), failed


def site_variance(
    raw: torch.Tensor,
    meta: Sequence[CameraMetadata],
    photo: torch.Tensor,
    gains: torch.Tensor,
    noise: NoiseModel,
    analog_iso: float,
    errors: ErrorModel,
) -> torch.Tensor:
    """Variance ``(B, 1, H, W)`` of the RAW estimates ``raw`` ``(B, 1, H, W)`` made from ``photo`` ``(B, 3, H, W)``:
    sensor noise at ``analog_iso`` + code-value error + inverse-ISP error (module notes), in squared normalised RAW
    units of the frame. ``gains`` ``(B, 4, 1, 1)``: :func:`raw_per_light`.
    """
    check_shape(photo, "B,3,H,W", "photo")
    check_shape(gains, "B,4,1,1", "gains")
    level = _box3(raw, meta)
    half_code = 0.5 / 255.0
    above, below = srgb_decode((photo + half_code).clamp(max=1.0)), srgb_decode((photo - half_code).clamp(min=0.0))
    step = site_codes(above - below, meta)
    gain = unpack_bayer(gains.expand(-1, -1, *pack_bayer(level, meta).shape[-2:]).contiguous(), meta)
    sensor = noise_std(level, meta, noise, analog_iso)
    code = gain * step * errors.code_std
    model = math.log(2.0) * errors.model_stops * level.clamp(min=0.0)
    return sensor**2 + code**2 + model**2


def ghost_sites(
    level: torch.Tensor,
    variance: torch.Tensor,
    reference: torch.Tensor,
    reference_variance: torch.Tensor,
    reference_trust: torch.Tensor,
    meta: Sequence[CameraMetadata],
    threshold: float,
    registration_px: float = 0.0,
) -> torch.Tensor:
    """Bool ``(B, 1, H, W)``: sites where a frame disagrees with the reference beyond its errors (something moved).

    All inputs ``(B, 1, H, W)`` are at the reference's exposure. The 3x3 same-colour means of the two differ by
    more than ``threshold`` standard deviations of the sites' combined error (a conservative bound: averaging
    lowers the noise part of it) where the reference is trusted; a 2x2 cell with any such site and its 8
    neighbouring cells are rejected whole, so a moving edge does not leave a fringe. ``registration_px``: how far
    (mosaic pixels, one standard deviation) a resampled frame may sit from the reference; at an edge that much
    misregistration is a difference of the local slope times it, not motion.
    """
    box = _box3(reference, meta)
    diff = (_box3(level, meta) - box).abs()
    variance = variance + reference_variance
    if registration_px > 0:
        planes = pack_bayer(box, meta)
        slope_y, slope_x = torch.gradient(planes, dim=(-2, -1))  # per plane pixel: two mosaic pixels
        slope = unpack_bayer(torch.sqrt(slope_y**2 + slope_x**2), meta)
        variance = variance + (slope * registration_px / 2.0) ** 2
    bad = (diff > threshold * torch.sqrt(variance)) & (reference_trust > 0)
    cells = pack_bayer(bad.to(level.dtype), meta).amax(dim=1, keepdim=True)
    cells = F.max_pool2d(cells, 3, stride=1, padding=1)
    return unpack_bayer(cells.expand(-1, 4, -1, -1).contiguous(), meta) > 0


def inverse_variance_weights(variance: torch.Tensor, trust: torch.Tensor) -> torch.Tensor:
    """A frame's weights ``(B, 1, H, W)``: its trust over its variance (both ``(B, 1, H, W)``)."""
    return trust / variance.clamp(min=1e-20)


def robust_mean(
    levels: Sequence[torch.Tensor], weights: Sequence[torch.Tensor], outlier_stops: float | None
) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
    """Weighted mean ``(B, 1, H, W)`` of frames ``(B, 1, H, W)``, its total weight, and per frame a bool mask of the
    sites it was dropped at as an outlier.

    With ``outlier_stops`` a frame is dropped where it lies further than that from the first mean in log2 (or at or
    below 0 where the mean is positive) and the mean is taken again: an inverse ISP that fails on a frame (it can
    return black for a dim but visible colour) does not pull the others with it. A site where every frame would be
    dropped keeps them all.
    """
    total = sum(weights)
    mean = sum(w * y for w, y in zip(weights, levels, strict=True)) / total.clamp(min=1e-30)  # type: ignore[union-attr]
    dropped = [torch.zeros_like(y, dtype=torch.bool) for y in levels]
    if outlier_stops is None:
        return mean, total, dropped  # type: ignore[return-value]
    for k, (w, y) in enumerate(zip(weights, levels, strict=True)):
        distance = torch.log2(y.clamp(min=1e-30) / mean.clamp(min=1e-30)).abs()
        dropped[k] = (w > 0) & (mean > 0) & (distance > outlier_stops)
    kept = [torch.where(d, 0.0, w) for d, w in zip(dropped, weights, strict=True)]
    kept_total = sum(kept)
    all_dropped = (kept_total <= 0) & (total > 0)  # type: ignore[operator]
    kept = [torch.where(all_dropped, w, k) for w, k in zip(weights, kept, strict=True)]
    dropped = [d & ~all_dropped for d in dropped]
    total = sum(kept)
    mean = sum(w * y for w, y in zip(kept, levels, strict=True)) / total.clamp(min=1e-30)  # type: ignore[union-attr]
    return mean, total, dropped  # type: ignore[return-value]

"""The simulated camera's own RAW -> JPEG rendering, with its shot-dependent choices.

Each dependency imitates a documented behaviour of real cameras (see docs/simulated-cameras.md):

* lens-shading correction from the EXIF f-number and focal length, partial;
* ISO-dependent noise reduction (stronger luma smoothing and chroma blur as ISO rises) and
  sharpening (weaker as ISO rises, so noise is not amplified);
* a tone curve whose shadow lift grows with ISO, long exposures and low-key scenes (automatic
  "lighting optimiser" behaviour) and whose highlight roll-off tightens in bright light
  (dynamic-range optimisers holding skies);
* highlight-tone priority at high ISO: the sensor is exposed a stop under the recorded ISO and
  the JPEG is lifted digitally, using the extra stop as highlight headroom;
* colour: as-shot white balance, the colour matrix, a saturation boost muted at high ISO;
* sRGB encoding, 8-bit quantisation and (optionally) JPEG compression.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
import torch
from kornia.filters import gaussian_blur2d
from PIL import Image

from core_isp.canonical import CanonicalParams, apply_ccm, apply_wb, clip_highlights, demosaic, highlight_threshold
from core_isp.canonical.tone import srgb_encode
from core_isp.metadata import CameraMetadata
from core_isp.simulation.exposure import ShotSettings
from core_isp.simulation.optics import LensModel, radius_map, shading_correction_gain

_LUMA = torch.tensor([0.2126, 0.7152, 0.0722])  # linear sRGB luminance weights


@dataclass(frozen=True)
class RenderingStyle:
    """A camera maker's JPEG engine settings (the constants of each dependency)."""

    #: Linear level the metered mean is rendered at (mid grey).
    mid_grey_out: float = 0.18
    #: White point above saturation, as a multiple of the saturation level, at EV100 = 10
    #: (larger = closer to linear with a hard clip; smaller = softer highlight roll-off).
    white_point: float = 1.0
    #: Stops of white-point reduction per EV of scene brightness above EV100 = 10.
    white_point_ev_slope: float = 0.15
    shadow_lift: float = 0.04
    lift_per_iso_stop: float = 0.025
    lift_per_exposure_stop: float = 0.02
    lift_per_low_key_stop: float = 0.03
    saturation: float = 1.15
    saturation_loss_per_iso_stop: float = 0.03
    luma_denoise_per_iso_stop: float = 0.12
    chroma_blur_sigma_per_iso_stop: float = 0.35
    sharpen_amount: float = 0.6
    sharpen_loss_per_iso_stop: float = 0.08
    jpeg_quality: int | None = 92


@dataclass(frozen=True)
class ToneParams:
    """The tone curve of one shot on linear ``x = gain * v`` (v = 1 at sensor saturation):
    ``y = (R(x; w) / R(gain; w))^(1 - lift)``, R the extended Reinhard curve with white point w >= gain.

    Saturation always renders as white; w close to ``gain`` gives the softest highlight roll-off,
    a large w an almost linear response up to a hard clip.
    """

    gain: float
    white_point: float
    shadow_lift: float


def _stops_above(value: float, reference: float, limit: float) -> float:
    return min(max(math.log2(value / reference), 0.0), limit)


def tone_params(settings: ShotSettings, scene_key_ev: float, mid_grey_raw: float, style: RenderingStyle) -> ToneParams:
    """Tone curve for a shot from its EXIF (t, N, ISO), whether HTP was on, and the scene key.

    ``scene_key_ev`` is log2 of the scene's log-average level relative to the metered mid grey
    (negative for low-key scenes).
    """
    htp_stops = 1.0 if settings.highlight_tone_priority else 0.0
    gain = style.mid_grey_out / mid_grey_raw * 2.0**htp_stops
    brightness = min(max(settings.ev100 - 10.0, -4.0), 5.0)
    # The white point sits above the saturation point by a factor that shrinks in bright light.
    white = gain * (1.0 + style.white_point * 2.0 ** (-style.white_point_ev_slope * brightness))
    lift = (
        style.shadow_lift
        + style.lift_per_iso_stop * _stops_above(settings.iso, 100.0, 6.0)
        + style.lift_per_exposure_stop * _stops_above(settings.exposure_time_s, 1.0 / 60.0, 5.0)
        + style.lift_per_low_key_stop * min(max(-scene_key_ev, 0.0), 3.0)
    )
    return ToneParams(gain=gain, white_point=white, shadow_lift=lift)


def _reinhard(x: torch.Tensor | float, white: float) -> torch.Tensor | float:
    return x * (1.0 + x / white**2) / (1.0 + x)


def apply_tone(linear: torch.Tensor, tone: ToneParams) -> torch.Tensor:
    """Apply a :class:`ToneParams` curve to a linear image ``(B, 3, H, W)`` (1 = saturation); result in [0, 1]."""
    x = (linear * tone.gain).clamp(min=0.0)
    y = (_reinhard(x, tone.white_point) / _reinhard(tone.gain, tone.white_point)).clamp(0.0, 1.0)
    return y.clamp(min=1e-8) ** (1.0 - tone.shadow_lift)


def _luma(rgb: torch.Tensor) -> torch.Tensor:
    return (rgb * _LUMA.to(rgb).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    if sigma <= 0.05:
        return x
    k = 2 * math.ceil(3 * sigma) + 1
    return gaussian_blur2d(x, (k, k), (sigma, sigma), border_type="reflect")


def denoise_and_sharpen(rgb: torch.Tensor, iso: float, style: RenderingStyle) -> torch.Tensor:
    """ISO-dependent luma/chroma noise reduction, then unsharp masking of the luma."""
    stops = _stops_above(iso, 100.0, 8.0)
    y = _luma(rgb)
    chroma = rgb - y
    chroma = _blur(chroma, style.chroma_blur_sigma_per_iso_stop * stops)
    smooth = min(style.luma_denoise_per_iso_stop * stops, 0.9)
    y = y + smooth * (_blur(y, 1.0) - y)
    amount = max(style.sharpen_amount - style.sharpen_loss_per_iso_stop * stops, 0.05)
    y = y + amount * (y - _blur(y, 1.2))
    return y + chroma


def saturate(rgb: torch.Tensor, iso: float, style: RenderingStyle) -> torch.Tensor:
    """Scale chroma about the luma; cameras mute colour at high ISO to hide chroma noise."""
    s = style.saturation - style.saturation_loss_per_iso_stop * _stops_above(iso, 800.0, 4.0)
    y = _luma(rgb)
    return y + s * (rgb - y)


def scene_key_ev(linear: torch.Tensor, mid_grey_raw: float) -> float:
    """log2 of the log-average luma of a linear rendering relative to the metered mid grey."""
    y = _luma(linear).clamp(min=1e-6)
    return float(torch.log2(torch.exp(torch.log(y).mean()) / mid_grey_raw))


def render_camera_srgb(
    raw: torch.Tensor,
    meta: CameraMetadata,
    settings: ShotSettings,
    lens: LensModel,
    mid_grey_raw: float,
    style: RenderingStyle,
) -> torch.Tensor:
    """The camera's rendering of its (noisy) RAW: ``(1, 1, H, W)`` -> ``(1, 3, H, W)`` sRGB, 8-bit values.

    JPEG compression is a separate step (:func:`encode_jpeg`) so the file and the pixels used as
    ground truth are the same bytes.
    """
    h, w = raw.shape[-2:]
    gain = shading_correction_gain(radius_map(h, w, raw.device), lens, settings.f_number, settings.focal_length_mm)
    corrected = raw * gain.to(raw)
    params = CanonicalParams.from_metadata([meta], raw.device)
    rgb = demosaic(corrected, params.cfa, "malvar")
    rgb = apply_wb(rgb, params.wb_gains)
    threshold = highlight_threshold(params.wb_gains, params.clip_level)
    rgb = clip_highlights(rgb, threshold) / threshold.view(-1, 1, 1, 1)
    rgb = apply_ccm(rgb, params.ccm)
    rgb = denoise_and_sharpen(rgb, settings.iso, style)
    metered_level = mid_grey_raw / (2.0 if settings.highlight_tone_priority else 1.0)
    tone = tone_params(settings, scene_key_ev(rgb, metered_level), mid_grey_raw, style)
    rgb = apply_tone(saturate(rgb, settings.iso, style), tone)
    return torch.round(srgb_encode(rgb.clamp(0.0, 1.0)) * 255.0) / 255.0


def encode_jpeg(srgb: torch.Tensor, quality: int, exif: bytes | None = None) -> tuple[bytes, torch.Tensor]:
    """JPEG-compress an 8-bit rendering (4:2:0, as cameras do): the file's bytes and its decoded pixels.

    ``(1, 3, H, W)`` -> (bytes, ``(1, 3, H, W)`` in [0, 1]).
    """
    u8 = (srgb[0].permute(1, 2, 0).clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=quality, subsampling=2, **({"exif": exif} if exif else {}))
    data = buf.getvalue()
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    return data, torch.from_numpy(decoded.copy()).permute(2, 0, 1)[None].to(srgb.device, torch.float32) / 255.0

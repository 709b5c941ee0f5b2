"""Render one shot of a scene with a simulated camera: RAW (noisy and clean), camera JPEG, metadata.

Colour: the scene is linear sRGB as it looks when white-balanced; lit by an illuminant of
correlated colour temperature T, the camera sees ``M_cam @ CAT(D65 -> T) @ XYZ(scene)``. With the
camera's neutral ``n`` for that illuminant, the as-shot white balance is ``1 / n`` and the colour
matrix is the one the suite's DNG reader derives for that neutral, so the camera's own pipeline
(white balance, matrix) returns the scene colours exactly, and metadata read back from the DNG
equals the truth.

Everything random is drawn from one seed: the same seed gives bit-identical output.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from core_isp.canonical import mosaic
from core_isp.cfa import cfa_batch
from core_isp.io.dng import exif_from_metadata
from core_isp.metadata import CameraMetadata
from core_isp.raw_domain import add_sensor_noise, dn_to_normalised, normalised_to_dn
from core_isp.simulation.camera_pipeline import encode_jpeg, render_camera_srgb
from core_isp.simulation.exposure import METER_CALIBRATION_K, ShotSettings, program_exposure, raw_scale, snap_iso
from core_isp.simulation.optics import radius_map, vignetting_falloff
from core_isp.simulation.profile import CameraProfile
from core_isp.simulation.scenes import Scene, luminance

SIMULATED = "simulated"


@dataclass(frozen=True)
class RenderedShot:
    """One simulated capture. Mosaics are ``(1, 1, H, W)`` normalised as the RAW reader returns them."""

    noisy_raw: torch.Tensor
    #: The same shot without noise or quantisation (clipped at white): what an inverse ISP can recover.
    clean_raw: torch.Tensor
    #: The camera's rendering ``(1, 3, H, W)`` in [0, 1]: the decoded JPEG when the style compresses.
    camera_srgb: torch.Tensor
    #: The camera's JPEG file (with EXIF), or None for a style that stores uncompressed 8-bit.
    camera_jpeg: bytes | None
    metadata: CameraMetadata
    settings: ShotSettings
    illuminant_cct_k: float
    scene: Scene


def shot_colour(profile: CameraProfile, cct_k: float) -> tuple[tuple[float, float, float], np.ndarray]:
    """As-shot white-balance gains and ``ccm_wb_cam_to_srgb`` for an illuminant temperature."""
    return profile.camera().colour.white_balance(cct_k)


def metered_luminance(scene: Scene) -> float:
    """Centre-weighted average luminance, as a camera's default metering mode reads the scene."""
    y = luminance(scene.linear_rgb)
    h, w = y.shape
    weight = torch.exp(-(radius_map(h, w) ** 2) / (2 * 0.45**2))
    return float((y * weight).sum() / weight.sum())


def auto_settings(profile: CameraProfile, scene: Scene, focal_length_mm: float, compensation_ev: float) -> ShotSettings:
    """The profile's program AE applied to a scene."""
    return program_exposure(
        metered_luminance(scene),
        focal_length_mm,
        profile.lens.open_f_number,
        profile.lens.max_f_number,
        profile.base_iso,
        profile.max_auto_iso,
        compensation_ev,
        profile.htp_min_iso,
    )


def metered_exposure_time_s(scene: Scene, f_number: float, iso: float) -> float:
    """The exposure time (s) that meters ``scene`` correctly at ``f_number`` and ``iso`` (ISO 2720, ``K = 12.5``)."""
    return METER_CALIBRATION_K * f_number**2 / (metered_luminance(scene) * iso)


#: Ranges a manually set shot (:func:`manual_settings`) is drawn from: ISO log-uniform (then snapped to third stops)
#: and the offset from the metered exposure, uniform in EV. They cover brackets of up to 5 frames 1.5 EV apart at
#: ISO 100-3200.
MANUAL_ISO_RANGE = (100.0, 3200.0)
MANUAL_EV_RANGE = (-3.0, 3.0)


def manual_settings(profile: CameraProfile, scene: Scene, rng: np.random.Generator) -> ShotSettings:
    """A shot set by hand, as a bracket's frames are: an ISO drawn apart from the light (:data:`MANUAL_ISO_RANGE`,
    from the profile's base ISO up), an aperture over the lens's range (log-uniform, f/16 at most), a focal length
    over the zoom (log-uniform), and an exposure time offset from the metered one by :data:`MANUAL_EV_RANGE`.

    The program AE never pairs a high ISO with bright light or a long exposure; a bracket at ISO 800 does, and a
    network conditioned on the shot's parameters sees there a combination it was not trained on.
    """
    lo_iso = max(MANUAL_ISO_RANGE[0], profile.base_iso)
    iso = snap_iso(math.exp(rng.uniform(math.log(lo_iso), math.log(MANUAL_ISO_RANGE[1]))))
    widest, narrowest = profile.lens.open_f_number, min(profile.lens.max_f_number, 16.0)
    f_number = round(math.exp(rng.uniform(math.log(widest), math.log(narrowest))), 1)
    lo_mm, hi_mm = profile.focal_range_mm
    focal = round(math.exp(rng.uniform(math.log(lo_mm), math.log(hi_mm))))
    ev = float(rng.uniform(*MANUAL_EV_RANGE))
    t = min(max(metered_exposure_time_s(scene, f_number, iso) * 2.0**ev, 1 / 16000), 30.0)
    return ShotSettings(t, f_number, iso, float(focal), highlight_tone_priority=profile.highlight_tone_priority_at(iso))


def shot_metadata(profile: CameraProfile, settings: ShotSettings, wb, ccm: np.ndarray, size_hw) -> CameraMetadata:
    """The metadata the simulated camera records (its EXIF and canonical RAW fields)."""
    exif = CameraMetadata(
        image_size_hw=tuple(size_hw),  # type: ignore[arg-type]
        exposure_time_s=settings.exposure_time_s,
        exposure_time_source=SIMULATED,
        iso=settings.iso,
        iso_source=SIMULATED,
        f_number=settings.f_number,
        f_number_source=SIMULATED,
        focal_length_mm=settings.focal_length_mm,
        focal_length_source=SIMULATED,
        orientation=1,
        orientation_source=SIMULATED,
    )
    meta = profile.camera().raw_metadata(exif, wb, "as_shot", ccm)
    return meta.replace(ccm_source=f"simulated {profile.profile_id}")


def clean_raw_mosaic(profile: CameraProfile, scene: Scene, settings: ShotSettings, wb, ccm: np.ndarray) -> torch.Tensor:
    """Noise-free normalised mosaic ``(1, 1, H, W)`` before clipping: scene -> camera RGB -> exposure
    -> vignetting -> CFA."""
    rgb = scene.linear_rgb.double()
    cam_balanced = torch.einsum("ij,jhw->ihw", torch.from_numpy(np.linalg.inv(ccm)), rgb)
    cam = cam_balanced / torch.tensor(wb, dtype=torch.float64).view(3, 1, 1)
    h, w = rgb.shape[-2:]
    falloff = vignetting_falloff(radius_map(h, w), profile.lens, settings.f_number, settings.focal_length_mm).double()
    exposed = cam * raw_scale(settings, profile.mid_grey_raw) * falloff
    return mosaic(exposed[None].clamp(min=0.0), cfa_batch([profile.cfa_pattern]))


def quantise_raw(signal: torch.Tensor, profile: CameraProfile) -> torch.Tensor:
    """Clip a normalised signal ``(1, 1, H, W)`` at white, quantise to the sensor's DN and normalise back (float32)."""
    levels = [
        CameraMetadata(
            black_level_per_site=tuple(float(b) for b in profile.black_level_per_site),  # type: ignore[arg-type]
            white_level=float(profile.white_level),
        )
    ]
    dn = torch.round(normalised_to_dn(signal.double().clamp(max=1.0), levels)).clamp(0.0, profile.white_level)
    return dn_to_normalised(dn, levels).float()


def draw_shot_conditions(
    profile: CameraProfile,
    rng: np.random.Generator,
    focal_length_mm: float | None = None,
    compensation_ev: float | None = None,
    illuminant_cct_k: float | None = None,
) -> tuple[float, float, float]:
    """(focal length mm, exposure compensation EV, illuminant K) of a shot, drawing from ``rng``, in this order,
    those left None: focal length log-uniform over the zoom range (whole mm), compensation uniform +-2 EV (third
    stops), the illuminant 2500-8000 K uniform in mired. Shared so every simulated capture draws them alike."""
    if focal_length_mm is None:
        lo, hi = profile.focal_range_mm
        focal_length_mm = round(math.exp(rng.uniform(math.log(lo), math.log(hi))))
    if compensation_ev is None:
        compensation_ev = round(float(rng.uniform(-2.0, 2.0)) * 3) / 3
    if illuminant_cct_k is None:
        illuminant_cct_k = 1e6 / rng.uniform(1e6 / 8000.0, 1e6 / 2500.0)
    return focal_length_mm, compensation_ev, illuminant_cct_k


def render_shot(
    profile: CameraProfile,
    scene: Scene,
    seed: int,
    settings: ShotSettings | None = None,
    illuminant_cct_k: float | None = None,
    focal_length_mm: float | None = None,
    compensation_ev: float | None = None,
) -> RenderedShot:
    """Simulate one capture. Unset settings are sampled from ``seed``: focal length (log-uniform over
    the zoom range), exposure compensation (uniform +-2 EV), the illuminant (2500-8000 K, uniform in
    mired) and then the program AE's (t, N, ISO)."""
    rng = np.random.default_rng(seed)
    focal_length_mm, compensation_ev, illuminant_cct_k = draw_shot_conditions(
        profile, rng, focal_length_mm, compensation_ev, illuminant_cct_k
    )
    if settings is None:
        settings = auto_settings(profile, scene, float(focal_length_mm), compensation_ev)
    wb, ccm = shot_colour(profile, illuminant_cct_k)
    signal = clean_raw_mosaic(profile, scene, settings, wb, ccm)
    gen = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    meta = shot_metadata(profile, settings, wb, ccm, signal.shape[-2:])
    # The noise follows the analogue ISO; the metadata keeps the recorded one (they differ under
    # highlight tone priority), so the op's metadata is not used.
    noisy_signal, _ = add_sensor_noise(signal, [meta], profile.noise, settings.analog_iso, gen)
    noisy = quantise_raw(noisy_signal.float(), profile)
    srgb = render_camera_srgb(noisy, meta, settings, profile.lens, profile.mid_grey_raw, profile.style)
    jpeg = None
    if profile.style.jpeg_quality is not None:
        jpeg, srgb = encode_jpeg(srgb, profile.style.jpeg_quality, exif_from_metadata(meta, tuple(signal.shape[-2:])))
    return RenderedShot(
        noisy_raw=noisy,
        clean_raw=signal.clamp(max=1.0).float(),
        camera_srgb=srgb,
        camera_jpeg=jpeg,
        metadata=meta,
        settings=settings,
        illuminant_cct_k=float(illuminant_cct_k),
        scene=scene,
    )

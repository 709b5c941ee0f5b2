"""Physically true ground truth for hand-shake motion blur: one long shot and the short frames of the same motion.

A sensor integrates radiance over its exposure, so a shot taken while the image moves records the *time-average*
of the moving linear scene, and only then meets the sensor's non-linear steps (clipping at white, noise, the
camera's rendering). :func:`capture_blur` simulates exactly that with a :class:`~core_isp.simulation.shake.ShakePath`
of ``frames * substeps`` equally spaced instants:

* the blurry shot: the scene warped to every instant and averaged, then the sensor and the camera's own JPEG
  engine as :func:`~core_isp.simulation.render.render_shot` does them at the shot's settings (t = T, ISO);
* ``frames`` short shots of the same motion, frame i exposed for T / N over the i-th N-th of the path (the average
  of its own ``substeps`` instants, so it keeps its own small blur), each at the camera's auto ISO for the shorter
  exposure (N x the blurry ISO, on the camera's ISO scale, within its auto range): more noise, stronger noise
  reduction and another tone curve than the blurry shot, like the frames of a high-frame-rate video;
* noise-free truths: the blurry shot and the unmoved scene (the path's middle instant), both rendered by the
  camera's pipeline from the clean RAW at the blurry shot's settings.

A blur-synthesis tool that averages the frames can thus be judged against the blurry shot the camera really takes,
and a deblurring result against the sharp truth. Everything random comes from one seed (bit-identical reruns).

The discrete instants approximate a continuous exposure: with few ``substeps`` and a large motion, a blur shows
as separate copies; keep the motion between instants near a pixel for a smooth streak.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from kornia.geometry.transform import warp_affine

from core_isp.simulation.camera_pipeline import render_camera_srgb
from core_isp.simulation.exposure import ShotSettings, snap_iso
from core_isp.simulation.profile import CameraProfile
from core_isp.simulation.render import (
    RenderedShot,
    auto_settings,
    clean_raw_mosaic,
    draw_shot_conditions,
    render_shot,
    shot_colour,
)
from core_isp.simulation.scenes import Scene, log_average
from core_isp.simulation.shake import DEFAULT_SHAKE, ShakePath, ShakeRanges, sample_shake


@dataclass(frozen=True)
class BlurCapture:
    """One hand-held capture of a scene: the blurry shot, the short frames of the same motion, and the truths."""

    #: The shot over the whole path at exposure T (noisy RAW, clean RAW, camera sRGB/JPEG, metadata).
    blurry: RenderedShot
    #: The blurry shot rendered by the camera's pipeline from its clean RAW ``(1, 3, H, W)`` in [0, 1], 8-bit values,
    #: not JPEG-compressed (a truth carries no codec artefacts).
    blurry_clean_srgb: torch.Tensor
    #: The unmoved scene (the path's middle instant) at the blurry shot's settings, from its clean RAW,
    #: ``(1, 3, H, W)`` in [0, 1], 8-bit values, not JPEG-compressed.
    sharp_clean_srgb: torch.Tensor
    #: ``frames`` short shots in time order, frame i over instants ``[i * substeps, (i + 1) * substeps)``.
    frames: tuple[RenderedShot, ...]
    #: The motion: ``len(frames) * substeps`` instants spanning the blurry exposure.
    path: ShakePath
    substeps: int


def warp_scene(linear_rgb: torch.Tensor, affines: torch.Tensor) -> torch.Tensor:
    """The scene ``(3, H, W)`` as seen at each instant: ``(T, 3, H, W)`` float64 for affines ``(T, 2, 3)``.

    Bilinear, with ``padding_mode="reflection"``: content that enters the frame is the mirrored edge of the scene
    rather than black, so nothing is drawn from outside the image. Instants at exactly the identity keep the scene
    bit-exact (kornia's normalised coordinates are ~1e-13 off even for the identity), so an unmoved capture renders
    exactly as the unmoved scene.
    """
    src = linear_rgb.to(torch.float64)[None].expand(len(affines), -1, -1, -1)
    m = affines.to(torch.float64)
    warped = warp_affine(src, m, tuple(linear_rgb.shape[-2:]), mode="bilinear", padding_mode="reflection",
                         align_corners=True)  # fmt: skip
    identity = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=torch.float64)
    unmoved = (m == identity).flatten(1).all(dim=1)
    return torch.where(unmoved.view(-1, 1, 1, 1), src, warped)


def middle_instant(path: ShakePath) -> ShakePath:
    """The one-instant path at the exposure's middle (between the two middle instants for an even count, as
    :func:`~core_isp.simulation.shake.sample_shake` centres its paths): where the sharp truth is seen."""
    t = (len(path) - 1) / 2.0
    lo, hi = int(np.floor(t)), int(np.ceil(t))
    shift = 0.5 * (path.shift_px[lo] + path.shift_px[hi])
    roll = 0.5 * (path.roll_deg[lo] + path.roll_deg[hi])
    return ShakePath(shift_px=shift[None], roll_deg=np.asarray([roll]))


def frame_settings(profile: CameraProfile, blurry: ShotSettings, frames: int) -> ShotSettings:
    """Settings of one of ``frames`` short frames of a blurry shot: t = T / N at the same f-number and focal
    length, and the camera's auto ISO for it, N x the blurry ISO snapped to the exposure module's third stops and
    clamped to ``[base_iso, max_auto_iso]``; highlight-tone priority follows the profile's rule at that ISO, as in
    :func:`~core_isp.simulation.exposure.program_exposure`. T / N is not snapped: the frames tile the exposure."""
    iso = min(max(snap_iso(blurry.iso * frames), profile.base_iso), profile.max_auto_iso)
    return dataclasses.replace(
        blurry,
        exposure_time_s=blurry.exposure_time_s / frames,
        iso=float(iso),
        highlight_tone_priority=profile.highlight_tone_priority_at(iso),
    )


def _moved_scene(scene: Scene, linear_rgb: torch.Tensor) -> Scene:
    """A scene with new radiance ``(3, H, W)`` (float64 in, float32 stored), keeping the source id for splits and
    the :class:`Scene` contract that ``luminance_cd_m2`` is its log-average."""
    rgb = linear_rgb.to(torch.float32).contiguous()
    return Scene(linear_rgb=rgb, luminance_cd_m2=log_average(rgb), source_id=scene.source_id)


def _clean_srgb(profile: CameraProfile, clean_raw: torch.Tensor, shot: RenderedShot) -> torch.Tensor:
    """The camera's pipeline on a clean mosaic ``(1, 1, H, W)`` at ``shot``'s settings -> ``(1, 3, H, W)``."""
    return render_camera_srgb(clean_raw, shot.metadata, shot.settings, profile.lens, profile.mid_grey_raw,
                              profile.style)  # fmt: skip


def capture_blur(
    profile: CameraProfile,
    scene: Scene,
    seed: int,
    frames: int = 7,
    substeps: int = 4,
    settings: ShotSettings | None = None,
    illuminant_cct_k: float | None = None,
    path: ShakePath | None = None,
    shake: ShakeRanges = DEFAULT_SHAKE,
) -> BlurCapture:
    """Simulate a hand-held capture of ``scene`` (linear ``(3, H, W)``): see the module docstring.

    Unset inputs are drawn from ``seed`` the way :func:`~core_isp.simulation.render.render_shot` draws them (focal
    length, exposure compensation, illuminant; then the program AE metering the unmoved scene), then the path
    (``frames * substeps`` instants from ``shake``) when none is given. One illuminant lights every shot; the
    blurry shot and each frame get their own noise seed. ``settings`` are the blurry shot's (t = T).
    """
    if frames < 1 or substeps < 1:
        raise ValueError(f"need at least one frame and one substep, got frames={frames}, substeps={substeps}")
    size_hw = (int(scene.linear_rgb.shape[-2]), int(scene.linear_rgb.shape[-1]))
    rng = np.random.default_rng(seed)
    given = settings is not None
    focal, compensation, cct = draw_shot_conditions(
        profile,
        rng,
        settings.focal_length_mm if given else None,
        settings.exposure_compensation_ev if given else None,
        illuminant_cct_k,
    )
    if settings is None:
        # A camera meters before the shutter opens: on the scene as it stands, not on the smear.
        settings = auto_settings(profile, scene, float(focal), compensation)
    if path is None:
        path = sample_shake(rng, frames * substeps, size_hw, shake)
    elif len(path) != frames * substeps:
        raise ValueError(f"path has {len(path)} instants, frames * substeps = {frames * substeps}")
    # Consecutive seeds are still independent streams (render_shot seeds through SeedSequence) and never collide.
    base_seed = int(rng.integers(0, 2**62))

    # Radiance averaged per frame, then the frames averaged for the blurry shot: equal-length frames make this the
    # average over all instants, and the identity "blurry = mean of frames" holds in the radiance by construction.
    affines = path.affines(size_hw)
    frame_rgb = [
        warp_scene(scene.linear_rgb, affines[i * substeps : (i + 1) * substeps]).mean(dim=0) for i in range(frames)
    ]
    blurry_rgb = torch.stack(frame_rgb).mean(dim=0)

    def shoot(rgb: torch.Tensor, shot_settings: ShotSettings, shot_seed: int) -> RenderedShot:
        return render_shot(profile, _moved_scene(scene, rgb), shot_seed, settings=shot_settings,
                           illuminant_cct_k=cct, focal_length_mm=shot_settings.focal_length_mm,
                           compensation_ev=shot_settings.exposure_compensation_ev)  # fmt: skip

    blurry = shoot(blurry_rgb, settings, base_seed)
    short = frame_settings(profile, settings, frames)
    frame_shots = tuple(shoot(rgb, short, base_seed + 1 + i) for i, rgb in enumerate(frame_rgb))

    # The sharp truth has no noisy shot: its clean mosaic comes from the simulator's own sensor model, clipped at
    # white exactly as render_shot's clean_raw, and is rendered with the blurry shot's metadata (same settings,
    # white balance and size).
    sharp_rgb = warp_scene(scene.linear_rgb, middle_instant(path).affines(size_hw))[0]
    wb, ccm = shot_colour(profile, cct)
    sharp_raw = clean_raw_mosaic(profile, _moved_scene(scene, sharp_rgb), settings, wb, ccm).clamp(max=1.0).float()
    return BlurCapture(
        blurry=blurry,
        blurry_clean_srgb=_clean_srgb(profile, blurry.clean_raw, blurry),
        sharp_clean_srgb=_clean_srgb(profile, sharp_raw, blurry),
        frames=frame_shots,
        path=path,
        substeps=substeps,
    )

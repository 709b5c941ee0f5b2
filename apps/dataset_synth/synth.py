"""One blurry/sharp pair from sharp frames, in the RAW domain between a camera's inverse and forward ISPs.

The physics, step by step (each a :mod:`core_isp.raw_domain` op on the frames' mosaics):

1. every frame -> the camera's RAW through the inverse ISP with the frame's own shot parameters, its level checked
   against the forward ISP (:func:`core_isp.chain.fit_raw_level`: the gain at which the forward re-renders the
   frame; one fit per distinct set of shot parameters), since adding light across frames needs the level right;
2. each frame brought to the blurry shot's exposure: a linear sensor's level is proportional to ``t * ISO / N^2``
   (the analogue ISO: a camera with highlight-tone priority runs the sensor a stop below the recorded ISO), so frame
   ``i`` is scaled by ``(T ISO / N^2)_blurry / (t ISO / N^2)_i``;
3. highlights: where a frame is clipped the inverse returns white, but the light was brighter. Such sites are
   raised by up to a drawn gain ``g`` (:attr:`SynthSettings.highlight_gain`), fully in the interior of a blown
   area and tapering over a few pixels to its edge (the saturation mask blurred per colour plane), so a moving
   light source smears into a bright streak rather than a grey one;
4. where neighbouring frames moved more than :attr:`SynthSettings.max_step_px` apart, in-between frames are
   interpolated along optical flow (:mod:`apps.dataset_synth.interpolate`) so the blur is a streak, not ghosts;
   the frames are added up (light adds up over the exposure), the sensor clips at its white level, the camera's
   Poisson-Gaussian noise for the blurry shot's (analogue) ISO is added, less what the summed frames already carry
   (:func:`core_isp.raw_domain.estimate_noise_fraction`: photos keep part of their noise through noise reduction
   and the inverse ISP, and noise adds up with the light), and the signal quantised to the sensor's DN;
5. the forward ISP renders it with the blurry shot's parameters.

The sharp target is the centre frame through steps 1-3, clipped, without noise, rendered by the same forward ISP at
the same parameters: the pair differs by the motion and the noise only.

Residual (:attr:`SynthSettings.residual`): the learned ISPs' round trip misses each frame by a few dB, and a render
of the synthesised RAW carries that error. With the residual, each frame's miss (the frame minus the forward render
of its RAW at its own parameters, :func:`round_trip_residuals`) is moved with the frame (a photo's along the shake
path) and added back: their mean to the blurry render, the centre frame's to the sharp one, as
:func:`core_isp.chain.correct_round_trip` does for a single photo. A still photo's sharp target is then the photo
itself. It assumes the pair misses alike at the frames' and at the blurry shot's parameters, and costs one forward
render per frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import kornia
import numpy as np
import torch

from apps.dataset_synth.interpolate import interpolate_frames
from apps.dataset_synth.shot import BlurShotSpec, FrameDefaults
from core_isp.cameras import Camera, exposure_level, photo_white_balance
from core_isp.chain import fit_raw_level, to_raw, to_srgb
from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.isp import ISP, InferenceOptions
from core_isp.metadata import CameraMetadata
from core_isp.raw_domain import (
    add_sensor_noise,
    average_frames,
    clip_to_white,
    dn_to_normalised,
    estimate_noise_fraction,
    normalised_to_dn,
    pack_bayer,
    saturation_mask,
    scale_exposure,
    unpack_bayer,
    warp_planes,
)
from core_isp.simulation.shake import DEFAULT_SHAKE, ShakePath, ShakeRanges, sample_shake

#: Sites at or above this normalised level in the inverse ISP's output count as clipped.
CLIPPED_LEVEL = 0.995
#: Taper of the highlight extension from a blown area's edge inwards, in colour-plane pixels (Gaussian sigma).
HIGHLIGHT_TAPER_PLANE_PX = 2.0


#: The ISP pair synth-blur runs unless told: the camera's jointly fine-tuned pair where it ships one (chosen on
#: validation scenes, ``benchmarks/RESULTS.md`` "Joint pairs"; the separate pair elsewhere, see ``load_isp``).
DEFAULT_PAIR = "joint"


@dataclass(frozen=True)
class SynthSettings:
    """Everything that shapes a synthesised sample besides its frames, camera and seed."""

    shot: BlurShotSpec = field(default_factory=BlurShotSpec)
    #: Range the clipped-highlight gain is drawn from (uniform); ``(1, 1)`` leaves clipped areas at white.
    highlight_gain: tuple[float, float] = (1.5, 4.0)
    #: White balance for every frame of a sample (see :func:`core_isp.cameras.photo_white_balance`): one light.
    white_balance: str | None = None
    frame_defaults: FrameDefaults = field(default_factory=FrameDefaults)
    #: Frames moving more than this (mosaic pixels, 95th percentile) apart get in-between frames; None: never.
    max_step_px: float | None = 2.0
    #: Correct each frame's RAW level so the forward ISP re-renders the frame (see the module notes, step 1).
    fit_level: bool = True
    #: Add to each render what the learned round trip missed of the frames (module notes, "Residual").
    residual: bool = True
    #: Photos: sub-frames a shake path is sampled at, and the ranges the path is drawn from.
    photo_subframes: int = 16
    shake: ShakeRanges = DEFAULT_SHAKE

    def to_dict(self) -> dict[str, object]:
        return {"shot": self.shot.to_dict(), "highlight_gain": list(self.highlight_gain),
                "white_balance": self.white_balance, "frame_defaults": self.frame_defaults.__dict__,
                "max_step_px": self.max_step_px, "fit_level": self.fit_level, "residual": self.residual,
                "photo_subframes": self.photo_subframes,
                "shake": self.shake.to_dict()}  # fmt: skip


@dataclass(frozen=True)
class BlurSample:
    """A synthesised pair with its RAWs and what was drawn to make it."""

    blurry: CameraImage  # srgb (1, 3, H, W), the blurry shot's metadata
    sharp: CameraImage  # srgb (1, 3, H, W), the same metadata
    blurry_raw: CameraImage  # raw (1, 1, H, W): noisy, clipped, quantised
    sharp_raw: CameraImage  # raw (1, 1, H, W): noise-free, clipped
    #: JSON-ready record: shot parameters, white balance, highlight gain, per-frame gains, shake path.
    record: dict[str, object]


def raw_frames(
    frames: Sequence[CameraImage],
    camera: Camera,
    inverse: ISP,
    forward: ISP,
    settings: SynthSettings,
    options: InferenceOptions | None = None,
    frame_exposure_s: float | None = None,
) -> tuple[CameraImage, dict[str, object]]:
    """sRGB frames (each ``(1, 3, H, W)``, same size) -> their RAW ``(T, 1, H, W)`` through the inverse ISP.

    Missing shot parameters are filled from ``settings.frame_defaults`` (``frame_exposure_s`` first, e.g. a
    video's frame interval); one white balance, chosen on the centre frame, holds for all (one light). With
    ``settings.fit_level`` the levels are checked against ``forward`` (module notes, step 1).
    """
    if not frames:
        raise BadInputError("no frames to synthesise from")
    size = frames[0].size_hw
    if any(f.size_hw != size for f in frames):
        raise BadInputError(f"frames differ in size: {sorted({f.size_hw for f in frames})}")
    if size[0] < 32 or size[1] < 32:
        raise BadInputError(f"frames of {size[0]}x{size[1]} are too small (32x32 at least)")
    metas = [settings.frame_defaults.fill(f.meta, frame_exposure_s) for f in frames]
    white = photo_white_balance(camera, metas[len(metas) // 2], settings.white_balance)
    records = [camera.raw_metadata(m, white.gains, white.source) for m in metas]
    h, w = size[0] // 2 * 2, size[1] // 2 * 2  # whole Bayer cells
    photos = [f.with_pixels(f.pixels[..., :h, :w]) for f in frames]
    mosaics = [to_raw(p, inverse, [r.replace(image_size_hw=(h, w))], options)
               for p, r in zip(photos, records, strict=True)]  # fmt: skip
    level_gains = [1.0] * len(mosaics)
    if settings.fit_level:
        # Frames shot alike share one fit, made on the middle frame of the group.
        groups: dict[tuple, list[int]] = {}
        for i, r in enumerate(records):
            groups.setdefault((r.exposure_time_s, r.iso, r.f_number), []).append(i)
        for members in groups.values():
            middle = members[len(members) // 2]
            gain = fit_raw_level(mosaics[middle], photos[middle], forward, options)
            for i in members:
                level_gains[i] = gain
    pixels = torch.cat([m.pixels * g for m, g in zip(mosaics, level_gains, strict=True)])
    stacked = CameraImage(pixels, tuple(m.meta for m in mosaics), "raw")
    return stacked, {"white_balance": white.describe(), "wb_gains": [round(g, 5) for g in white.gains],
                     "level_gains": [round(g, 4) for g in level_gains]}  # fmt: skip


def round_trip_residuals(
    frames: Sequence[CameraImage], raw: CameraImage, forward: ISP, options: InferenceOptions | None = None
) -> torch.Tensor:
    """What the forward ISP misses of each frame when it renders the frame's RAW: ``(T, 3, h, w)``.

    ``frames``: the sRGB frames ``(1, 3, H, W)``; ``raw``: their RAW ``(T, 1, h, w)`` from :func:`raw_frames`
    (cropped to whole Bayer cells, levels fitted), rendered one frame at a time with its own metadata.
    """
    h, w = raw.size_hw
    renders = [to_srgb(CameraImage(raw.pixels[i : i + 1], (m,), "raw"), forward, options).pixels
               for i, m in enumerate(raw.metadata)]  # fmt: skip
    return torch.cat([f.pixels[..., :h, :w].float() - r for f, r in zip(frames, renders, strict=True)])


@dataclass(frozen=True)
class FrameMisses:
    """What a pair's renders get back of the frames' round-trip misses: their mean (the blurry render's share) and
    the centre frame's (the sharp render's), each ``(1, 3, H, W)``."""

    mean: torch.Tensor
    centre: torch.Tensor

    @classmethod
    def of(cls, misses: torch.Tensor) -> FrameMisses:
        """From the frames' misses ``(T, 3, H, W)`` (:func:`round_trip_residuals`); the centre is frame ``T // 2``."""
        middle = misses.shape[0] // 2
        return cls(misses.mean(dim=0, keepdim=True), misses[middle : middle + 1])

    @classmethod
    def shaken(cls, miss: torch.Tensor, path: ShakePath) -> FrameMisses:
        """A photo's miss ``(1, 3, H, W)`` moved along a shake path as :func:`shake_photo` moves its RAW, one
        instant at a time: a full-resolution RGB copy per sub-frame would be the largest buffer of a sample."""
        size = tuple(miss.shape[-2:])
        affines = path.affines(size).to(miss.dtype)  # type: ignore[arg-type]
        total, centre = torch.zeros_like(miss), miss
        for k in range(len(path)):
            moved = kornia.geometry.transform.warp_affine(miss, affines[k : k + 1], size, padding_mode="reflection",
                                                          align_corners=True)  # type: ignore[arg-type]  # fmt: skip
            total += moved
            if k == len(path) // 2:
                centre = moved
        return cls(total / len(path), centre)


def shake_photo(raw: CameraImage, path: ShakePath) -> CameraImage:
    """One RAW ``(1, 1, H, W)`` moved along a shake path: ``(T, 1, H, W)``, each sub-frame the whole exposure's
    light as if the camera held still at that instant (so their mean, not their sum, is the blurry shot)."""
    count = len(path)
    affines = path.affines(raw.size_hw).to(raw.pixels.dtype)
    frames, _ = warp_planes(raw.pixels.expand(count, -1, -1, -1), [raw.meta] * count, affines,
                            padding_mode="reflection")  # fmt: skip
    return CameraImage(frames, (raw.meta,) * count, "raw")


def extend_highlights(raw: torch.Tensor, meta: Sequence[CameraMetadata], gain: float) -> torch.Tensor:
    """Raise clipped sites of mosaics ``(B, 1, H, W)`` towards ``gain`` x their level (see the module notes)."""
    clipped = (raw >= CLIPPED_LEVEL).to(raw.dtype)
    if gain == 1.0 or not bool(clipped.any()):
        return raw
    sigma = HIGHLIGHT_TAPER_PLANE_PX
    depth = kornia.filters.gaussian_blur2d(pack_bayer(clipped, meta), (9, 9), (sigma, sigma), border_type="replicate")
    return raw * (1.0 + (gain - 1.0) * unpack_bayer(depth, meta) * clipped)


def quantise(raw: torch.Tensor, meta: Sequence[CameraMetadata]) -> torch.Tensor:
    """Round mosaics ``(B, 1, H, W)`` to the sensor's integer DN (clipped at 0) and back to normalised levels."""
    return dn_to_normalised(normalised_to_dn(raw, meta).round().clamp(min=0.0), meta)


def blur_from_raw(
    frames: CameraImage,
    camera: Camera,
    forward: ISP,
    settings: SynthSettings,
    rng: np.random.Generator,
    summed_exposure: bool,
    options: InferenceOptions | None = None,
    misses: FrameMisses | None = None,
) -> BlurSample:
    """RAW frames ``(T, 1, H, W)`` of one motion -> a blurry/sharp pair (steps 2-5 of the module notes).

    ``summed_exposure``: the frames tile the exposure in time (video frames) rather than each showing all of it
    (a photo's shaken sub-frames). ``misses``: the frames' round-trip misses (module notes, "Residual"), added to
    the renders.
    """
    metas = list(frames.metadata)
    shot = settings.shot.draw(metas, camera, rng, summed_exposure)
    shot = shot.replace(image_size_hw=frames.size_hw)
    shares = len(metas) if summed_exposure else 1
    # Levels follow the sensor's analogue gain, which highlight-tone priority holds below the recorded ISO.
    gains = [exposure_level(shot, camera.sensor) / shares / exposure_level(m, camera.sensor) for m in metas]
    highlight = float(rng.uniform(*settings.highlight_gain))
    # Clipping is judged on the frames as the inverse gave them, before any exposure scaling.
    extended = extend_highlights(frames.pixels.double(), metas, highlight)
    extended, _ = scale_exposure(extended, metas, torch.tensor(gains, dtype=torch.float64).log2())
    inserted = 0
    if summed_exposure:
        if settings.max_step_px is not None and len(metas) > 1:
            smooth, inserted = interpolate_frames(extended, metas, settings.max_step_px)
        else:
            smooth = extended
        # Light adds up over the exposure; each frame's level is already its share of the whole exposure (and an
        # evenly spaced set of in-between frames keeps their mean).
        total = smooth.mean(dim=0, keepdim=True) * len(metas)
    else:
        total, _ = average_frames(extended[None], [[shot] * len(metas)])
    clipped, _ = clip_to_white(total, [shot])
    generator = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
    analog_iso = camera.sensor.analog_iso(float(shot.iso))
    # Frames from photos carry what their noise reduction left of their own noise, and it adds up with them: only
    # the variance still missing from the shot's is added.
    present = float(estimate_noise_fraction(clipped, [shot], camera.noise, analog_iso)[0])
    top_up = max(0.0, 1.0 - present**2) ** 0.5
    full, _ = add_sensor_noise(clipped, [shot], camera.noise, analog_iso, generator)
    noisy = clipped + top_up * (full - clipped)
    blurry_raw = CameraImage(quantise(noisy, [shot]).float(), (shot,), "raw")
    centre = len(metas) // 2
    sharp_level = extended[centre : centre + 1] * (shares if summed_exposure else 1.0)
    sharp_raw = CameraImage(clip_to_white(sharp_level, [shot])[0].float(), (shot,), "raw")
    record = {
        "shot": {k: getattr(shot, k) for k in ("exposure_time_s", "iso", "f_number", "focal_length_mm")},
        "frames": len(metas),
        "centre_frame": centre,
        "frame_gains": [round(g, 6) for g in gains],
        "highlight_gain": round(highlight, 4),
        "interpolated_per_gap": inserted,
        "clipped_share": round(float(saturation_mask(clipped, [shot]).float().mean()), 6),
        "noise_present": round(present, 4),
    }
    blurry, sharp = to_srgb(blurry_raw, forward, options), to_srgb(sharp_raw, forward, options)
    if misses is not None:
        blurry = blurry.with_pixels((blurry.pixels + misses.mean).clamp(0.0, 1.0))
        sharp = sharp.with_pixels((sharp.pixels + misses.centre).clamp(0.0, 1.0))
    return BlurSample(blurry, sharp, blurry_raw, sharp_raw, record)


@dataclass(frozen=True)
class BlurSynthesizer:
    """A camera's ISPs and the settings that make pairs: the Python API a training loop calls on the fly."""

    camera: Camera
    inverse: ISP
    forward: ISP
    settings: SynthSettings = field(default_factory=SynthSettings)
    options: InferenceOptions | None = None

    def from_frames(
        self, frames: Sequence[CameraImage], seed: int, frame_exposure_s: float | None = None
    ) -> BlurSample:
        """Consecutive sharp sRGB frames (each ``(1, 3, H, W)``) of one motion -> a blurry/sharp pair."""
        rng = np.random.default_rng(seed)
        raw, colour = raw_frames(frames, self.camera, self.inverse, self.forward, self.settings, self.options,
                                frame_exposure_s)  # fmt: skip
        misses = None
        if self.settings.residual:
            misses = FrameMisses.of(round_trip_residuals(frames, raw, self.forward, self.options))
        sample = blur_from_raw(raw, self.camera, self.forward, self.settings, rng, True, self.options, misses)
        return _with(sample, colour)

    def from_photo(self, photo: CameraImage, seed: int) -> BlurSample:
        """A sharp sRGB photo ``(1, 3, H, W)`` -> a pair blurred by a drawn hand-held shake path."""
        return self.photo_samples(photo, [seed])[0]

    def photo_samples(
        self, photo: CameraImage, seeds: Sequence[int], progress: Callable[[Iterable[int]], Iterable[int]] = iter
    ) -> list[BlurSample]:
        """One pair per seed from one sharp photo ``(1, 3, H, W)``, each with its own drawn shake path, shot and
        noise (a seed gives the same pair as :meth:`from_photo`); the photo's inverse pass and RAW level fit, most
        of a pair's cost, are made once for all of them. ``progress`` wraps the seeds (e.g. a tqdm bar)."""
        raw, colour = raw_frames([photo], self.camera, self.inverse, self.forward, self.settings, self.options)
        residual = round_trip_residuals([photo], raw, self.forward, self.options) if self.settings.residual else None
        samples = []
        for seed in progress(seeds):
            rng = np.random.default_rng(seed)
            path = sample_shake(rng, self.settings.photo_subframes, raw.size_hw, self.settings.shake)
            moved = None if residual is None else FrameMisses.shaken(residual, path)
            sample = blur_from_raw(shake_photo(raw, path), self.camera, self.forward, self.settings, rng, False,
                                   self.options, moved)  # fmt: skip
            extent = round(path.extent_px(raw.size_hw), 3)
            samples.append(_with(sample, {**colour, "shake": path.to_dict(), "shake_extent_px": extent}))
        return samples

def _with(sample: BlurSample, extra: dict[str, object]) -> BlurSample:
    return BlurSample(sample.blurry, sample.sharp, sample.blurry_raw, sample.sharp_raw, {**sample.record, **extra})

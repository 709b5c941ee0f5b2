"""Exposure brackets of HDR scenes shot by a simulated camera, as a user holds them: JPEG pixels and EXIF only.

The middle exposure is metered (ISO 2720, ``K = 12.5``) at the given ISO and f/8, the others offset from it in
exposure time by the given EV; all frames share one illuminant (one light), drawn uniform in mired over
3000-7000 K. The longest focal length keeps the vignetting small, and the frames carry no white balance (a
user's JPEG has none in its EXIF). The HDR benchmark and the demo shoot the same way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.metadata import CameraMetadata
from core_isp.simulation.exposure import ShotSettings
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.render import SIMULATED, RenderedShot, metered_exposure_time_s, render_shot
from core_isp.simulation.scenes import Scene, load_manifest, sample_scene

BRACKET_F_NUMBER = 8.0
#: Log-average luminance the views are scaled to (cd/m^2); the metering makes the frames nearly independent of it.
VIEW_LUMINANCE_CD_M2 = 200.0


def bracket_evs(count: int, spacing: float) -> list[float]:
    """EV offsets of a bracket of ``count`` frames ``spacing`` EV apart, centred on 0 (e.g. 3, 2 -> -2, 0, 2)."""
    return [spacing * (k - (count - 1) / 2) for k in range(count)]


def hdr_scene_views(
    split: str, views: int, size_hw: tuple[int, int], rng: np.random.Generator, only: Sequence[str] | None = None
) -> list[Scene]:
    """``views`` random views ``size_hw`` of every bundled HDR radiance map of a split (or of the source ids in
    ``only``), map after map, all drawn from ``rng``."""
    sources = [s for s in load_manifest() if s.kind == "hdr" and s.split == split and (not only or s.source_id in only)]
    if not sources:
        raise BadInputError(f"no HDR sources in split {split!r} matching {only}")
    cache: dict[str, np.ndarray] = {}
    return [sample_scene(s, *size_hw, rng, VIEW_LUMINANCE_CD_M2, image_cache=cache) for s in sources
            for _ in range(views)]  # fmt: skip


def photo_of(shot: RenderedShot) -> CameraImage:
    """What a user has of a simulated shot: its sRGB pixels ``(1, 3, H, W)`` and EXIF (no RAW, no white balance)."""
    m = shot.metadata
    exif = CameraMetadata(make=m.make, model=m.model, exposure_time_s=m.exposure_time_s, iso=m.iso,
                          f_number=m.f_number, focal_length_mm=m.focal_length_mm, image_size_hw=m.image_size_hw,
                          exposure_time_source=SIMULATED, iso_source=SIMULATED, f_number_source=SIMULATED,
                          focal_length_source=SIMULATED)  # fmt: skip
    return CameraImage(shot.camera_srgb, (exif,), "srgb")


def render_bracket(
    camera: str,
    scene: Scene,
    iso: float,
    evs: Sequence[float],
    seed: int,
    frame_scenes: Mapping[float, Scene] | None = None,
) -> dict[float, RenderedShot]:
    """The camera profile's shot at each EV offset from the metered exposure (module notes), keyed by the offset,
    with its RAW; the same ``seed`` gives the same frames. ``frame_scenes``: what the frame at an offset sees instead
    of ``scene`` (a hand-held bracket's moved view, a moving object), the metering still ``scene``'s."""
    profile = get_profile(camera)
    rng = np.random.default_rng(seed)
    cct = 1e6 / rng.uniform(1e6 / 7000.0, 1e6 / 3000.0)
    focal = float(profile.focal_range_mm[1])
    t_mid = metered_exposure_time_s(scene, BRACKET_F_NUMBER, iso)
    htp = profile.highlight_tone_priority_at(iso)
    shots = {}
    for k, ev in enumerate(evs):
        settings = ShotSettings(t_mid * 2.0**ev, BRACKET_F_NUMBER, iso, focal, highlight_tone_priority=htp)
        seen = (frame_scenes or {}).get(ev, scene)
        shots[ev] = render_shot(profile, seen, seed * 100 + k, settings=settings, illuminant_cct_k=cct)
    return shots


def bracket_photos(shots: Mapping[float, RenderedShot]) -> dict[float, CameraImage]:
    """What a user has of a bracket's shots (:func:`render_bracket`): their photos (:func:`photo_of`), by offset."""
    return {ev: photo_of(shot) for ev, shot in shots.items()}

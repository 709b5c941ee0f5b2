"""Simulated shots written like a user's camera folder, with the ground truth beside them.

Per shot ``SIM_0001``: ``SIM_0001.DNG`` (the noisy RAW), ``SIM_0001.JPG`` (the camera's JPEG with
EXIF), ``SIM_0001.json`` (metadata, settings, scene source, profile, seed), and the ground truth
``SIM_0001.clean.tiff`` (the noise-free normalised RAW mosaic, float32) and ``SIM_0001.scene.exr``
(the linear scene radiance, float32). The JSON is written last, so its presence marks a complete
shot and an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import torch

from core_isp.io.dng import write_dng
from core_isp.io.writers import atomic_write, write_exr, write_png
from core_isp.metadata import CameraMetadata
from core_isp.simulation.exposure import ShotSettings
from core_isp.simulation.profile import CameraProfile
from core_isp.simulation.render import RenderedShot, manual_settings, render_shot
from core_isp.simulation.scenes import SceneSource, sample_scene

#: Kinds of scene sources and how often each is drawn.
SOURCE_WEIGHTS = {"deadleaves": 0.4, "hdr": 0.4, "photo": 0.2, "raw": 0.2, "video": 0.2}
#: Log-uniform range of scene log-average luminance (dim interior to daylight), cd/m^2.
LUMINANCE_RANGE_CD_M2 = (1.0, 10000.0)


def stem_for(index: int) -> str:
    """File stem of shot ``index`` (1-based, as cameras count)."""
    return f"SIM_{index:04d}"


def shot_seed(seed: int, index: int) -> int:
    """Seed of shot ``index`` of a run: independent streams from one run seed."""
    return int(np.random.SeedSequence([seed, index]).generate_state(1, dtype=np.uint64)[0] >> 1)


def choose_scene(sources: list[SceneSource], rng: np.random.Generator) -> SceneSource:
    """Pick a source: first its kind by :data:`SOURCE_WEIGHTS`, then uniformly within the kind."""
    kinds = sorted({s.kind for s in sources})
    weights = np.array([SOURCE_WEIGHTS.get(k, 0.2) for k in kinds])
    kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
    of_kind = [s for s in sources if s.kind == kind]
    return of_kind[int(rng.integers(len(of_kind)))]


def simulate_shot(
    profile: CameraProfile,
    sources: list[SceneSource],
    seed: int,
    size_hw: tuple[int, int],
    settings: ShotSettings | None = None,
    image_cache: dict[str, np.ndarray] | None = None,
    hand_set: bool = False,
) -> tuple[RenderedShot, SceneSource]:
    """Draw a scene and render it: everything follows from ``seed``. ``hand_set``: the shot's settings are drawn as
    a photographer sets them by hand (:func:`~core_isp.simulation.render.manual_settings`), not by the program AE;
    the scene is the same either way."""
    rng = np.random.default_rng(seed)
    source = choose_scene(sources, rng)
    lo, hi = LUMINANCE_RANGE_CD_M2
    luminance = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    scene = sample_scene(source, size_hw[0], size_hw[1], rng, luminance, image_cache=image_cache)
    if hand_set:
        settings = manual_settings(profile, scene, rng)
    focal = settings.focal_length_mm if settings is not None else None
    return render_shot(profile, scene, int(rng.integers(0, 2**62)), settings=settings, focal_length_mm=focal), source


def capture_complete(folder: Path, stem: str) -> bool:
    """True when every file of the shot exists (the JSON is written last)."""
    return all((folder / f"{stem}{suffix}").is_file() for suffix in (".DNG", ".clean.tiff", ".scene.exr", ".json"))


def write_capture(folder: Path, stem: str, shot: RenderedShot, record: dict[str, Any], overwrite: bool = False) -> None:
    """Write one shot's files (each atomically; the JSON last)."""
    write_dng(folder / f"{stem}.DNG", shot.noisy_raw[0, 0], shot.metadata, overwrite=overwrite)
    if shot.camera_jpeg is not None:
        with atomic_write(folder / f"{stem}.JPG", overwrite=overwrite) as tmp:
            tmp.write_bytes(shot.camera_jpeg)
    else:
        write_png(folder / f"{stem}.PNG", shot.camera_srgb[0], overwrite=overwrite)
    with atomic_write(folder / f"{stem}.clean.tiff", overwrite=overwrite) as tmp:
        tifffile.imwrite(tmp, shot.clean_raw[0, 0].numpy().astype(np.float32), photometric="minisblack")
    write_exr(folder / f"{stem}.scene.exr", shot.scene.linear_rgb, overwrite=overwrite)
    payload = {
        **record,
        "metadata": shot.metadata.to_dict(),
        "settings": asdict(shot.settings),
        "illuminant_cct_k": shot.illuminant_cct_k,
        "scene_source": shot.scene.source_id,
        "scene_luminance_cd_m2": shot.scene.luminance_cd_m2,
    }
    with atomic_write(folder / f"{stem}.json", overwrite=overwrite) as tmp:
        tmp.write_text(json.dumps(payload, indent=2))


def read_capture_truth(folder: Path, stem: str) -> tuple[torch.Tensor, torch.Tensor, CameraMetadata, dict[str, Any]]:
    """Ground truth of a written shot: clean RAW ``(1, 1, H, W)``, scene ``(1, 3, H, W)``, metadata, record."""
    from core_isp.io.hdr_reader import read_hdr_image

    record = json.loads((folder / f"{stem}.json").read_text())
    clean = torch.from_numpy(tifffile.imread(folder / f"{stem}.clean.tiff"))[None, None]
    scene = read_hdr_image(folder / f"{stem}.scene.exr").pixels
    return clean, scene, CameraMetadata.from_dict(record["metadata"]), record

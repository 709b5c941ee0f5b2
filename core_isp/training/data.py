"""Training samples: simulated cameras rendered on the fly, or crops of a prepared RAW cache.

Every random draw of a sample — which camera and scene, the crop, the rendering's noise, the
training-time dequantisation noise and the optics dropout — comes from a generator seeded by
``(run seed, global sample index)``. A batch at step ``s`` holds global indices
``s * B ... s * B + B - 1`` whatever the number of workers or processes, and each process takes a
disjoint slice, so results do not depend on worker count or world size.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from core_isp.cfa import phase_offset
from core_isp.errors import BadInputError
from core_isp.metadata import OPTICAL_FIELDS, CameraMetadata
from core_isp.models.quantisation import add_raw_dequantisation_noise, add_srgb_dequantisation_noise
from core_isp.models.shot import ShotParams
from core_isp.simulation.capture_folder import LUMINANCE_RANGE_CD_M2, choose_scene
from core_isp.simulation.colour_spread import ColourSpread, sample_xyz_to_cam
from core_isp.simulation.profile import CameraProfile
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.render import manual_settings, render_shot
from core_isp.simulation.scenes import load_manifest, sample_scene

#: Paper: each optical term is dropped with this probability during training (DECIDE(1)).
OPTICS_DROPOUT_P = 0.2


@dataclass(frozen=True)
class Sample:
    """One training pair, RGGB phase. ``raw`` ``(1, h, w)`` is the RAW as the camera recorded it (the
    forward input); ``raw_target`` is what the inverse should produce (the clean RAW when it is known,
    else ``raw``); ``srgb`` ``(3, h, w)`` the camera's rendering."""

    raw: torch.Tensor
    raw_target: torch.Tensor
    srgb: torch.Tensor
    meta: CameraMetadata
    source: str


def sample_generator(seed: int, index: int) -> np.random.Generator:
    """The generator of global sample ``index`` in a run with ``seed``."""
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


class SimulatedCameras:
    """Samples rendered on the fly by simulated camera profiles from a scene split; with a ``colour_spread``, a
    sample's XYZ -> camera matrix is sometimes drawn from a spread of real cameras' matrices instead
    (:mod:`core_isp.simulation.colour_spread`); with ``manual_exposure_p`` > 0, that share of the shots is set by
    hand (:func:`core_isp.simulation.render.manual_settings`: ISO apart from the light, as a bracket's frames)
    instead of by the program AE."""

    def __init__(
        self,
        profiles: Sequence[str],
        split: str,
        crop_hw: tuple[int, int],
        colour_spread: ColourSpread | None = None,
        manual_exposure_p: float = 0.0,
    ) -> None:
        if crop_hw[0] % 4 or crop_hw[1] % 4:
            raise BadInputError(f"crop size must be a multiple of 4, got {crop_hw}")
        self.profiles = [get_profile(p) for p in profiles]
        self.sources = [s for s in load_manifest() if s.split == split]
        self.crop_hw = crop_hw
        self.colour_spread = colour_spread
        self.name = "sim:" + ",".join(p.profile_id for p in self.profiles)
        if colour_spread is not None:
            self.name += f"+colour-spread(p={colour_spread.p:g})"
        self.manual_exposure_p = manual_exposure_p
        if manual_exposure_p:
            self.name += f"+manual-exposure(p={manual_exposure_p:g})"
        self._cache: dict[str, np.ndarray] = {}

    def _spread(self, profile: CameraProfile, rng: np.random.Generator) -> CameraProfile:
        """The profile, or with probability ``colour_spread.p`` the profile with a drawn matrix. No draw without a
        spread, so runs without one keep their samples."""
        if self.colour_spread is None or rng.random() >= self.colour_spread.p:
            return profile
        return dataclasses.replace(profile, xyz_to_cam_d65=sample_xyz_to_cam(rng, self.colour_spread))

    def sample(self, rng: np.random.Generator) -> Sample:
        """Render one crop-sized shot (its own AE, WB and noise) and phase it to RGGB."""
        profile = self.profiles[int(rng.integers(len(self.profiles)))]
        source = choose_scene(self.sources, rng)
        lo, hi = LUMINANCE_RANGE_CD_M2
        h, w = self.crop_hw[0] + 2, self.crop_hw[1] + 2  # one spare row/column to move onto RGGB
        scene = sample_scene(source, h, w, rng, math.exp(rng.uniform(math.log(lo), math.log(hi))),
                             image_cache=self._cache)  # fmt: skip
        seed = int(rng.integers(0, 2**62))
        # Drawn after the scene and the shot's seed: with and without the spread a sample shows the same shot.
        profile = self._spread(profile, rng)
        # Also drawn last, and only with a share set, for the same reason.
        manual = self.manual_exposure_p and rng.random() < self.manual_exposure_p
        shot = render_shot(profile, scene, seed, settings=manual_settings(profile, scene, rng) if manual else None)
        dy, dx = phase_offset(profile.cfa_pattern)
        ch, cw = self.crop_hw
        crop = (..., slice(dy, dy + ch), slice(dx, dx + cw))
        meta = shot.metadata.replace(cfa_pattern="RGGB", image_size_hw=self.crop_hw)
        return Sample(shot.noisy_raw[0][crop], shot.clean_raw[0][crop], shot.camera_srgb[0][crop], meta,
                      f"{profile.profile_id}/{scene.source_id}")  # fmt: skip


class PreparedCache:
    """Random RGGB-aligned crops of the pairs in a cache written by ``paramisp prepare``."""

    def __init__(self, cache: Path, split: str, crop_hw: tuple[int, int]) -> None:
        index_path = cache / "index.json"
        if not index_path.is_file():
            raise BadInputError(f"{cache}: not a prepared cache (no index.json; run paramisp prepare)")
        index = json.loads(index_path.read_text())
        self.pairs = [p for p in index["pairs"] if p["split"] == split]
        if not self.pairs:
            raise BadInputError(f"{cache}: no pairs in split {split!r}")
        self.cache, self.crop_hw = cache, crop_hw
        self.name = f"cache:{cache.name}"
        small = [p["name"] for p in self.pairs if p["size_hw"][0] < crop_hw[0] or p["size_hw"][1] < crop_hw[1]]
        if small:
            raise BadInputError(f"{cache}: pairs smaller than the {crop_hw} crop: {', '.join(small)}")
        areas = np.array([p["size_hw"][0] * p["size_hw"][1] for p in self.pairs], dtype=np.float64)
        self.weights = areas / areas.sum()
        self._arrays: dict[str, dict[str, np.ndarray]] = {}
        self._metas: dict[str, CameraMetadata] = {}

    def _load(self, name: str) -> tuple[dict[str, np.ndarray], CameraMetadata]:
        if name not in self._arrays:
            base = self.cache / "pairs" / name
            arrays = {k: np.load(f"{base}.{k}.npy", mmap_mode="r") for k in ("raw", "srgb", "clean")
                      if Path(f"{base}.{k}.npy").is_file()}  # fmt: skip
            record = json.loads(Path(f"{base}.json").read_text())
            self._arrays[name], self._metas[name] = arrays, CameraMetadata.from_dict(record["metadata"])
        return self._arrays[name], self._metas[name]

    def _region(self, name: str, top: int, left: int, height: int, width: int) -> Sample:
        """The pair's region at even ``top``, ``left`` (so it keeps the RGGB phase) as a sample."""
        arrays, meta = self._load(name)
        sl = (slice(top, top + height), slice(left, left + width))
        raw = torch.from_numpy(np.array(arrays["raw"][sl], dtype=np.float32))[None]
        target = torch.from_numpy(np.array(arrays["clean"][sl], dtype=np.float32))[None] if "clean" in arrays else raw
        srgb = torch.from_numpy(np.array(arrays["srgb"][sl], dtype=np.float32) / 255.0).permute(2, 0, 1)
        size = (raw.shape[-2], raw.shape[-1])
        return Sample(raw, target, srgb, meta.replace(image_size_hw=size), f"{self.name}/{name}")

    def sample(self, rng: np.random.Generator) -> Sample:
        """A crop at even coordinates (keeps the RGGB phase) of an area-weighted random pair."""
        pair = self.pairs[int(rng.choice(len(self.pairs), p=self.weights))]
        h, w = pair["size_hw"]
        ch, cw = self.crop_hw
        top = 2 * int(rng.integers(0, (h - ch) // 2 + 1))
        left = 2 * int(rng.integers(0, (w - cw) // 2 + 1))
        return self._region(pair["name"], top, left, ch, cw)

    def frame(self, name: str, max_pixels: int | None = None) -> Sample:
        """A whole pair, or its centred region of the pair's aspect ratio with at most ``max_pixels`` pixels."""
        h, w = next(p["size_hw"] for p in self.pairs if p["name"] == name)
        scale = 1.0 if max_pixels is None else min(1.0, math.sqrt(max_pixels / (h * w)))
        ch, cw = (max(2, int(n * scale) // 2 * 2) for n in (h, w))
        return self._region(name, (h - ch) // 4 * 2, (w - cw) // 4 * 2, ch, cw)


@dataclass(frozen=True)
class Batch:
    """A training batch: ``raw_in`` ``(B, 1, h, w)`` and ``srgb_in`` ``(B, 3, h, w)`` with dequantisation
    noise added, their clean versions, the inverse target, and the shots' parameters."""

    raw_in: torch.Tensor
    srgb_in: torch.Tensor
    raw: torch.Tensor
    raw_target: torch.Tensor
    srgb: torch.Tensor
    shots: ShotParams
    sources: tuple[str, ...]

    def to(self, device: torch.device | str) -> Batch:
        """The same batch on ``device``."""
        tensors = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in ("shots", "sources")
        }
        return Batch(**{k: v.to(device) for k, v in tensors.items()}, shots=self.shots.to(device), sources=self.sources)


def drop_optics(meta: CameraMetadata, rng: np.random.Generator, p: float) -> CameraMetadata:
    """Mark each known optical value unknown with probability ``p`` (optics dropout, DECIDE(1)): the
    network sees exactly what a photo with that EXIF tag missing would give it."""
    drops = {name: None for name in OPTICAL_FIELDS if getattr(meta, name) is not None and rng.random() < p}
    return meta.replace(**drops) if drops else meta


def make_sample(
    source: SimulatedCameras | PreparedCache, seed: int, index: int, optics_dropout_p: float
) -> tuple[Sample, np.random.Generator]:
    """Global sample ``index`` of a run: the sample and its generator (for the per-sample noise)."""
    rng = sample_generator(seed, index)
    s = source.sample(rng)
    meta = drop_optics(s.meta, rng, optics_dropout_p) if optics_dropout_p > 0 else s.meta
    return dataclasses.replace(s, meta=meta), rng


def collate(
    source: SimulatedCameras | PreparedCache,
    seed: int,
    indices: Sequence[int],
    optics_dropout_p: float = OPTICS_DROPOUT_P,
    dequantisation_noise: bool = True,
) -> Batch:
    """Build the batch of the given global sample indices (deterministic per index)."""
    samples, noises_raw, noises_srgb = [], [], []
    for i in indices:
        s, rng = make_sample(source, seed, i, optics_dropout_p)
        samples.append(s)
        if dequantisation_noise:
            # Drawn per sample from its own generator (not the process's torch RNG), so every
            # process computes the same noise for the same sample.
            g = torch.Generator().manual_seed(int(rng.integers(0, 2**62)))
            noises_raw.append(torch.randn(s.raw.shape, generator=g))
            noises_srgb.append(torch.randn(s.srgb.shape, generator=g))
    shots = ShotParams.from_metadata([s.meta for s in samples])
    raw = torch.stack([s.raw for s in samples])
    srgb = torch.stack([s.srgb for s in samples])
    raw_in, srgb_in = raw, srgb
    if dequantisation_noise:
        raw_in = add_raw_dequantisation_noise(raw, shots.cfa, shots.raw_levels_dn, torch.stack(noises_raw))
        srgb_in = add_srgb_dequantisation_noise(srgb, torch.stack(noises_srgb))
    return Batch(raw_in, srgb_in, raw, torch.stack([s.raw_target for s in samples]), srgb, shots,
                 tuple(s.source for s in samples))  # fmt: skip

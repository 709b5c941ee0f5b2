"""What judging a camera-to-camera transfer needs: a scene shot by two simulated cameras alike, the classic colour
transfers it is compared with, the scores against the target camera's own render, and a real camera's photo.

``benchmarks/cam2cam_eval.py`` (many scenes and pairs, with intervals) and ``paramisp demo`` (one scene) both use it.
Images are sRGB ``(1, 3, H, W)`` in [0, 1] unless said otherwise.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab
from skimage.exposure import match_histograms

from core_isp.errors import MetadataWarning
from core_isp.image import CameraImage, downscaled
from core_isp.io import find_camera_jpeg, read_image, read_raw_metadata
from core_isp.metadata import CameraMetadata
from core_isp.metrics import psnr, ssim, st_lpips
from core_isp.simulation.camera_pipeline import render_camera_srgb
from core_isp.simulation.exposure import ShotSettings
from core_isp.simulation.profile import CameraProfile
from core_isp.simulation.render import RenderedShot, auto_settings, render_shot
from core_isp.simulation.scenes import Scene, draw_view, load_manifest

#: The keys of :func:`scores`: PSNR (dB), SSIM, mean CIEDE2000 and ST-LPIPS.
SCORE_KEYS = ("psnr", "ssim", "de00", "stlpips")

LabStatistics = tuple[np.ndarray, np.ndarray]


# -- one scene shot by both cameras --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conditions:
    """What is drawn per scene, shared by every pair: a uniform draw placing the focal length in the pair's common
    zoom range, the exposure compensation (EV) and the illuminant (K)."""

    focal_u: float
    compensation_ev: float
    illuminant_cct_k: float

    @classmethod
    def draw(cls, rng: np.random.Generator) -> Conditions:
        return cls(float(rng.uniform()), round(float(rng.uniform(-1.0, 1.0)) * 3) / 3,
                   float(1e6 / rng.uniform(1e6 / 8000.0, 1e6 / 2500.0)))  # fmt: skip


@dataclass(frozen=True)
class PairShots:
    """One scene shot by A and by B (twice: the truth and a re-shoot) with the same settings and light."""

    a: RenderedShot
    b: RenderedShot
    b_again: RenderedShot
    b_clean_srgb: torch.Tensor  # (1, 3, H, W): B's pipeline on its clean RAW, not compressed


def draw_scenes(
    split: Sequence[str], count: int, seed: int, size_hw: tuple[int, int]
) -> list[tuple[Scene, Conditions]]:
    """``count`` views ``size_hw`` of the sources in ``split`` (:func:`draw_view`) with their shot conditions."""
    sources = [s for s in load_manifest() if s.split in split]
    rng = np.random.default_rng(seed)
    cache: dict[str, np.ndarray] = {}
    out = []
    for _ in range(count):
        scene = draw_view(sources, rng, size_hw, cache)
        out.append((scene, Conditions.draw(rng)))
    return out


def with_own_priority(profile: CameraProfile, settings: ShotSettings) -> ShotSettings:
    """The same settings on another body: highlight-tone priority is that body's own rule at the ISO."""
    return dataclasses.replace(settings, highlight_tone_priority=profile.highlight_tone_priority_at(settings.iso))


def shoot_pair(a: CameraProfile, b: CameraProfile, scene: Scene, conditions: Conditions, seed: int) -> PairShots:
    """A's program AE meters the scene; both cameras shoot it with those settings under the drawn light."""
    lo, hi = max(a.focal_range_mm[0], b.focal_range_mm[0]), min(a.focal_range_mm[1], b.focal_range_mm[1])
    focal = float(round(math.exp(math.log(lo) + conditions.focal_u * (math.log(hi) - math.log(lo)))))
    settings = auto_settings(a, scene, focal, conditions.compensation_ev)
    cct = conditions.illuminant_cct_k
    shots = [render_shot(p, scene, seed + k, settings=with_own_priority(p, settings), illuminant_cct_k=cct)
             for k, p in enumerate((a, b, b))]  # fmt: skip
    truth = shots[1]
    clean = render_camera_srgb(truth.clean_raw, truth.metadata, truth.settings, b.lens, b.mid_grey_raw, b.style)
    return PairShots(*shots, clean)


def as_photo(shot: RenderedShot, path: Path) -> CameraImage:
    """What a user has of a shot: its camera JPEG, written to ``path`` and read back with its EXIF."""
    path.write_bytes(shot.camera_jpeg)  # type: ignore[arg-type]
    return read_image(path, to="sensor")


# -- the classic methods ------------------------------------------------------------------------------------------


def hwc(x: torch.Tensor) -> np.ndarray:
    """``(1, 3, H, W)`` -> ``(H, W, 3)`` float64, as scikit-image takes colour images."""
    return x[0].permute(1, 2, 0).double().numpy()


def chw(x: np.ndarray) -> torch.Tensor:
    """``(H, W, 3)`` -> ``(1, 3, H, W)`` float32, clipped to [0, 1]."""
    return torch.from_numpy(np.clip(x, 0.0, 1.0)).permute(2, 0, 1)[None].float()


def lab_statistics(images: Sequence[torch.Tensor]) -> LabStatistics:
    """Mean and standard deviation ``(3,)`` of L*, a*, b* over all pixels of the images."""
    lab = np.concatenate([rgb2lab(hwc(x)).reshape(-1, 3) for x in images])
    return lab.mean(axis=0), lab.std(axis=0)


def reinhard(photo: torch.Tensor, source: LabStatistics | None, target: LabStatistics) -> torch.Tensor:
    """Reinhard et al.'s transfer in CIELAB: standardise by ``source`` statistics (None: the photo's own), then
    take on ``target``'s. Colours the shift takes out of gamut are clipped."""
    lab = rgb2lab(hwc(photo))
    mean, std = source if source is not None else lab_statistics([photo])
    with warnings.catch_warnings():
        # scikit-image warns of every clipped out-of-gamut colour; clipping them is this method's documented output.
        warnings.filterwarnings("ignore", "Conversion from CIE-LAB", UserWarning)
        return chw(lab2rgb((lab - mean) / np.maximum(std, 1e-6) * target[1] + target[0]))


def histogram_matched(photo: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Each channel of ``photo`` given ``reference``'s histogram (an oracle when the reference is the truth)."""
    return chw(match_histograms(hwc(photo), hwc(reference), channel_axis=-1))


# -- scoring --------------------------------------------------------------------------------------------------------


def quantised(x: torch.Tensor) -> torch.Tensor:
    """To 8-bit levels, as the output file stores it."""
    return (x.clamp(0, 1) * 255).round() / 255


def mean_ciede2000(pred: torch.Tensor, truth: torch.Tensor) -> float:
    """Mean CIEDE2000 colour difference (CIELAB under D65) over the pixels."""
    return float(deltaE_ciede2000(rgb2lab(hwc(pred)), rgb2lab(hwc(truth))).mean())


def scores(pred: torch.Tensor, truth: torch.Tensor) -> dict[str, float]:
    """:data:`SCORE_KEYS` of ``pred`` against ``truth``."""
    return {"psnr": float(psnr(pred, truth)), "ssim": float(ssim(pred, truth)), "de00": mean_ciede2000(pred, truth),
            "stlpips": float(st_lpips(pred, truth))}  # fmt: skip


# -- a real camera's photo ------------------------------------------------------------------------------------------


def embedded_photo(raw_path: Path, long_side_px: int) -> CameraImage:
    """A RAW file's embedded camera JPEG, area-downscaled to ``long_side_px``, with the RAW's EXIF: a user's photo.

    Both sides are rounded to even pixels: a transfer samples the photo through a 2 x 2 CFA. The RAW readers'
    warnings about fields the file lacks are dropped: only the exposure EXIF is kept.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        meta = read_raw_metadata(raw_path)
    jpeg = find_camera_jpeg(raw_path).image
    exif = CameraMetadata(make=meta.make, model=meta.model, exposure_time_s=meta.exposure_time_s, iso=meta.iso,
                          f_number=meta.f_number, focal_length_mm=meta.focal_length_mm,
                          image_size_hw=tuple(jpeg.shape[-2:]))  # type: ignore[arg-type]  # fmt: skip
    return downscaled(CameraImage(jpeg, (exif,), "srgb"), long_side_px)

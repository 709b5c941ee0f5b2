"""The colour spread of XYZ -> camera matrices that camera-agnostic training draws from
(core_isp/simulation/colour_spread.py) and its use in the simulated training data."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from benchmarks.user_cameras import OUTSIDER
from core_isp.cameras.camera import CameraColour
from core_isp.errors import BadInputError
from core_isp.simulation.colour_spread import BANK, ColourSpread, normalise_to_d65_green, sample_xyz_to_cam
from core_isp.simulation.profiles import TUNING_PROFILES, get_profile
from core_isp.simulation.render import render_shot
from core_isp.simulation.scenes import Scene
from core_isp.training.data import SimulatedCameras, sample_generator
from core_isp.training.trainer import TrainSettings

#: The test cameras no draw may reproduce: the held-out profile and the out-of-family camera's LG G5 matrix.
HELD_OUT = {"canon-550d": get_profile("canon-550d").xyz_to_cam_matrix, "outsider (LG G5)": OUTSIDER.xyz_to_cam_matrix}


def draws(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.reshape(sample_xyz_to_cam(rng, ColourSpread()), (3, 3)) for _ in range(n)]


def smooth_scene(h: int = 64, w: int = 96, luminance: float = 100.0) -> Scene:
    """Slowly varying colours: demosaicing and sharpening, which do see the sensor's channel balance at edges,
    leave a smooth scene alone, so only the colour pipeline can make two sensors' JPEGs differ."""
    y, x = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    rgb = torch.stack([0.6 + 0.3 * torch.sin(3 * x), 0.5 + 0.3 * y, 0.4 + 0.3 * torch.cos(2 * x + y)])
    return Scene(rgb * luminance / 0.5, luminance, "gradients")


def test_bank_holds_real_bodies_beyond_the_tuning_cameras_and_no_held_out_one() -> None:
    tuning = {tuple(get_profile(n).xyz_to_cam_d65) for n in TUNING_PROFILES}
    assert len([b for b in BANK if tuple(b.xyz_to_cam_d65) not in tuning]) >= 10
    assert all(b.source for b in BANK)
    for name, held_out in HELD_OUT.items():
        nearest = min(np.abs(normalise_to_d65_green(b.matrix) - normalise_to_d65_green(held_out)).max() for b in BANK)
        assert nearest > 0.05, name


def test_drawn_matrices_are_finite_invertible_and_give_usable_colour_terms() -> None:
    for m in draws(300):
        assert np.all(np.isfinite(m))
        assert np.linalg.det(m) > 0 and np.linalg.cond(m) < 10
        for cct in (2500.0, 8000.0):
            wb, ccm = CameraColour(tuple(m.ravel())).white_balance(cct)
            assert all(np.isfinite(wb)) and min(wb) > 0
            assert np.all(np.isfinite(ccm)) and np.allclose(ccm.sum(axis=1), 1.0)


def test_draws_spread_reproducibly_and_never_equal_a_held_out_camera() -> None:
    ms = np.stack(draws(300))
    assert np.array_equal(ms, np.stack(draws(300)))
    assert ms.reshape(-1, 9).std(axis=0).min() > 0.02  # every entry varies
    for name, held_out in HELD_OUT.items():
        assert np.abs(ms - normalise_to_d65_green(held_out)).max(axis=(1, 2)).min() > 0.01, name


def test_camera_jpeg_keeps_the_scene_while_the_raw_and_metadata_follow_the_drawn_matrix() -> None:
    profile, scene = get_profile("nikon-d7000"), smooth_scene()
    base = render_shot(profile, scene, seed=5)
    for m in draws(3, seed=1):
        other = render_shot(dataclasses.replace(profile, xyz_to_cam_d65=tuple(m.ravel())), scene, seed=5)
        assert (other.camera_srgb - base.camera_srgb).abs().mean() < 0.01
        assert ((other.clean_raw - base.clean_raw).abs().mean() / base.clean_raw.mean()) > 0.03
        assert not np.allclose(other.metadata.wb_gains, base.metadata.wb_gains, atol=0.02)


def test_simulated_cameras_draw_the_matrix_after_the_shot() -> None:
    def sample(spread: ColourSpread | None):
        return SimulatedCameras(["nikon-d7000"], "train", (32, 32), spread).sample(sample_generator(3, 0))

    plain, never, always = sample(None), sample(ColourSpread(p=0.0)), sample(ColourSpread(p=1.0))
    assert torch.equal(plain.raw, never.raw) and torch.equal(plain.srgb, never.srgb)
    assert plain.meta.wb_gains != always.meta.wb_gains and not torch.equal(plain.raw_target, always.raw_target)
    assert plain.meta.focal_length_mm == always.meta.focal_length_mm  # the same shot


def test_colour_spread_needs_simulated_data() -> None:
    with pytest.raises(BadInputError, match="simulated"):
        TrainSettings(stage="finetune", direction="forward", data="runs/cache", steps=1, colour_spread_p=0.5)
    with pytest.raises(BadInputError):
        ColourSpread(p=1.5)

"""Blur ground truth: the short frames add up to the blurry shot through the sensor, the frames' exposure and ISO
follow the camera's auto rules, motion blurs and no motion does not, and one seed fixes everything."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from core_isp.io import read_image_metadata
from core_isp.simulation.blur_capture import BlurCapture, capture_blur, frame_settings, middle_instant, warp_scene
from core_isp.simulation.exposure import _ISO_STOPS, ShotSettings
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.render import auto_settings
from core_isp.simulation.scenes import Scene, dead_leaves
from core_isp.simulation.shake import ShakePath

D7000 = get_profile("nikon-d7000")
H, W = 48, 64
FRAMES, SUBSTEPS = 3, 2
#: Manual settings low enough in ISO that N x ISO stays inside the auto range and below highlight-tone priority.
MANUAL = ShotSettings(exposure_time_s=1 / 30, f_number=5.6, iso=100.0, focal_length_mm=50.0)


def leaves(luminance: float = 100.0, seed: int = 3) -> Scene:
    rgb = dead_leaves(H, W, seed)
    y = np.exp(np.log(np.maximum(np.tensordot([0.2126, 0.7152, 0.0722], rgb, 1), 1e-6)).mean())
    return Scene(torch.from_numpy(rgb * (luminance / y)), luminance, "leaves")


def exposed_leaves(settings: ShotSettings) -> Scene:
    """Leaves scaled so their log-average sits near the metered mid grey at ``settings``."""
    return leaves(12.5 * settings.f_number**2 / (settings.exposure_time_s * settings.iso))


def zero_path(n: int = FRAMES * SUBSTEPS) -> ShakePath:
    return ShakePath(shift_px=np.zeros((n, 2)), roll_deg=np.zeros(n))


def sweep_path(n: int = FRAMES * SUBSTEPS, reach_px: float = 6.0) -> ShakePath:
    """A straight horizontal sweep through the centre with a little roll: unmoved at the middle instant."""
    x = np.linspace(-reach_px / 2, reach_px / 2, n)
    return ShakePath(shift_px=np.stack([x, 0.3 * x], axis=1), roll_deg=np.linspace(-0.3, 0.3, n))


def capture(seed: int = 11, path: ShakePath | None = None, settings: ShotSettings | None = MANUAL) -> BlurCapture:
    scene = exposed_leaves(MANUAL)
    return capture_blur(D7000, scene, seed, FRAMES, SUBSTEPS, settings=settings, illuminant_cct_k=5000.0,
                        path=path if path is not None else zero_path())  # fmt: skip


@pytest.fixture(scope="module")
def still() -> BlurCapture:
    return capture(path=zero_path())


@pytest.fixture(scope="module")
def shaken() -> BlurCapture:
    return capture(path=sweep_path())


def _frames_match_blurry_raw(cap: BlurCapture) -> float:
    """Assert the gain-normalised mean of the frames' clean RAW is the blurry clean RAW where nothing clips;
    returns the share of pixels compared."""
    b = cap.blurry.settings
    scaled = [
        f.clean_raw.double() * (b.exposure_time_s * b.analog_iso) / (f.settings.exposure_time_s * f.settings.analog_iso)
        for f in cap.frames
    ]
    unclipped = cap.blurry.clean_raw < 1.0
    for f in cap.frames:
        unclipped &= f.clean_raw < 1.0
    mean = torch.stack(scaled).mean(dim=0)
    torch.testing.assert_close(mean[unclipped], cap.blurry.clean_raw.double()[unclipped], rtol=1e-5, atol=1e-7)
    return float(unclipped.double().mean())


def test_still_frames_add_up_to_the_blurry_raw(still):
    assert _frames_match_blurry_raw(still) > 0.5
    # The ratio is not trivially 1: the frames' ISO is snapped (100 x 3 -> 320), so the scale matters.
    assert still.frames[0].settings.iso == 320.0


def test_shaken_frames_add_up_to_the_blurry_raw(shaken):
    # Motion blur is the time-average of radiance and the sensor is linear below white: the identity holds in motion.
    assert _frames_match_blurry_raw(shaken) > 0.5
    torch.testing.assert_close(
        torch.stack([f.scene.linear_rgb for f in shaken.frames]).mean(dim=0), shaken.blurry.scene.linear_rgb
    )
    # Each frame sees its own part of the path.
    assert not torch.allclose(shaken.frames[0].scene.linear_rgb, shaken.frames[-1].scene.linear_rgb)


def test_frame_exposures_tile_the_shot_at_the_auto_iso(still):
    b = still.blurry.settings
    assert sum(f.settings.exposure_time_s for f in still.frames) == pytest.approx(b.exposure_time_s, rel=1e-12)
    for f in still.frames:
        s = f.settings
        assert s.exposure_time_s == pytest.approx(b.exposure_time_s / FRAMES, rel=1e-12)
        assert (s.f_number, s.focal_length_mm, s.exposure_compensation_ev) == (
            b.f_number,
            b.focal_length_mm,
            b.exposure_compensation_ev,
        )
        assert s.iso in _ISO_STOPS
        assert abs(math.log2(s.iso / (FRAMES * b.iso))) <= 1 / 6 + 1e-9  # within the third-stop snapping
        assert f.illuminant_cct_k == still.blurry.illuminant_cct_k


@pytest.mark.parametrize("iso", [100.0, 200.0, 400.0, 800.0, 1600.0, 3200.0])
@pytest.mark.parametrize("n", [1, 3, 7, 16])
def test_frame_iso_is_n_times_snapped_and_clamped(iso, n):
    blurry = ShotSettings(exposure_time_s=1 / 15, f_number=4.0, iso=iso, focal_length_mm=35.0)
    s = frame_settings(D7000, blurry, n)
    assert D7000.base_iso <= s.iso <= D7000.max_auto_iso
    if s.iso == D7000.max_auto_iso:
        assert n * iso >= D7000.max_auto_iso / 2 ** (1 / 6)  # clamped only when N x ISO reaches the top
    else:
        assert abs(math.log2(s.iso / (n * iso))) <= 1 / 6 + 1e-9
    # The D7000 uses highlight-tone priority from ISO 800, decided at the frame's own ISO.
    assert s.highlight_tone_priority == (s.iso >= 800)
    assert s.exposure_time_s == blurry.exposure_time_s / n


def test_frame_iso_clamps_at_the_auto_maximum():
    s = frame_settings(D7000, ShotSettings(exposure_time_s=1 / 10, f_number=4.0, iso=3200.0, focal_length_mm=35.0), 7)
    assert s.iso == D7000.max_auto_iso and s.highlight_tone_priority


def test_frame_metadata_records_its_own_exposure(still, tmp_path):
    for i, f in enumerate(still.frames):
        assert f.metadata.exposure_time_s == f.settings.exposure_time_s
        assert f.metadata.iso == f.settings.iso
        assert f.metadata.f_number == f.settings.f_number
        assert f.camera_jpeg is not None
        jpg = tmp_path / f"frame{i}.jpg"
        jpg.write_bytes(f.camera_jpeg)
        exif = read_image_metadata(jpg)
        assert exif.exposure_time_s == pytest.approx(f.settings.exposure_time_s, rel=1e-6)
        assert exif.iso == f.settings.iso
    assert still.blurry.metadata.exposure_time_s == MANUAL.exposure_time_s
    assert still.blurry.metadata.iso == MANUAL.iso


def test_same_seed_is_bit_identical_and_another_seed_changes_only_the_noise(still):
    again = capture(path=zero_path())
    for a, b in zip((still.blurry, *still.frames), (again.blurry, *again.frames), strict=True):
        assert torch.equal(a.noisy_raw, b.noisy_raw) and torch.equal(a.camera_srgb, b.camera_srgb)
        assert a.camera_jpeg == b.camera_jpeg
    assert torch.equal(still.blurry_clean_srgb, again.blurry_clean_srgb)
    assert torch.equal(still.sharp_clean_srgb, again.sharp_clean_srgb)

    other = capture(seed=12, path=zero_path())
    for a, b in zip((still.blurry, *still.frames), (other.blurry, *other.frames), strict=True):
        assert torch.equal(a.clean_raw, b.clean_raw)
        assert not torch.equal(a.noisy_raw, b.noisy_raw)
    # Within one capture every shot has its own noise (the still frames share one clean RAW).
    noise = [f.noisy_raw - f.clean_raw for f in still.frames]
    assert torch.equal(still.frames[0].clean_raw, still.frames[1].clean_raw)
    assert not torch.allclose(noise[0], noise[1])


def test_unset_inputs_come_from_the_seed():
    scene = leaves(300.0)
    a = capture_blur(D7000, scene, 5, FRAMES, SUBSTEPS)
    b = capture_blur(D7000, scene, 5, FRAMES, SUBSTEPS)
    c = capture_blur(D7000, scene, 6, FRAMES, SUBSTEPS)
    assert len(a.path) == FRAMES * SUBSTEPS
    np.testing.assert_array_equal(a.path.shift_px, b.path.shift_px)
    assert not np.array_equal(a.path.shift_px, c.path.shift_px)
    assert torch.equal(a.blurry.noisy_raw, b.blurry.noisy_raw)
    assert a.blurry.settings == b.blurry.settings and a.blurry.illuminant_cct_k == b.blurry.illuminant_cct_k
    # The blurry shot is the program AE metering the unmoved scene at the drawn focal length and compensation.
    s = a.blurry.settings
    assert s == auto_settings(D7000, scene, s.focal_length_mm, s.exposure_compensation_ev)
    assert {f.illuminant_cct_k for f in a.frames} == {a.blurry.illuminant_cct_k}


def test_motion_blurs_and_no_motion_does_not(still, shaken):
    assert torch.equal(still.blurry_clean_srgb, still.sharp_clean_srgb)
    assert still.blurry_clean_srgb.shape == (1, 3, H, W)
    # Same scene, settings and illuminant: the sharp truth does not depend on the motion around the middle instant.
    assert torch.equal(shaken.sharp_clean_srgb, still.sharp_clean_srgb)
    assert float((shaken.blurry_clean_srgb - shaken.sharp_clean_srgb).abs().mean()) > 0.01

    # Blur removes detail: the blurry rendering has weaker horizontal gradients than the sharp one.
    def grad(x: torch.Tensor) -> float:
        return float((x[..., 1:] - x[..., :-1]).abs().mean())

    assert grad(shaken.blurry_clean_srgb) < 0.9 * grad(shaken.sharp_clean_srgb)


def test_warp_moves_content_along_the_path_and_keeps_the_unmoved_scene_exact():
    rgb = leaves().linear_rgb
    path = ShakePath(shift_px=np.array([[3.0, 1.0], [0.0, 0.0]]), roll_deg=np.zeros(2))
    moved, unmoved = warp_scene(rgb, path.affines((H, W)))
    # x right, y down: content at (y, x) appears at (y + 1, x + 3).
    torch.testing.assert_close(moved[:, 1:, 3:], rgb.double()[:, :-1, :-3])
    assert torch.equal(unmoved, rgb.double())
    # Reflection padding: the uncovered band repeats the scene's edge rather than going black.
    assert float(moved[:, :, :3].min()) > 0.0
    # The middle of an even-length path lies between its two middle instants.
    mid = middle_instant(ShakePath(shift_px=np.array([[0.0, 0.0], [2.0, 4.0]]), roll_deg=np.array([0.0, 1.0])))
    np.testing.assert_allclose(mid.shift_px, [[1.0, 2.0]])
    np.testing.assert_allclose(mid.roll_deg, [0.5])


def test_path_length_must_match_frames_times_substeps():
    with pytest.raises(ValueError, match="instants"):
        capture_blur(D7000, leaves(), 0, FRAMES, SUBSTEPS, settings=MANUAL, path=zero_path(5))

"""Camera JPEG of a RAW: finding it, and registering it to the RAW's grid (real pair: the Canon EOS D30)."""

from __future__ import annotations

import dataclasses
import math
import shutil

import numpy as np
import pytest
import torch
from kornia.color import rgb_to_grayscale
from kornia.filters import gaussian_blur2d
from PIL import Image
from skimage.registration import phase_cross_correlation
from torch.nn.functional import avg_pool2d, grid_sample, interpolate

from conftest import D30, DATA, DC50, EOS550D
from core_isp.canonical import CanonicalParams, develop, mosaic
from core_isp.cfa import cfa_batch, phase_offset
from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.io.camera_jpeg import (
    MAX_TILE_RESIDUAL_PX,
    MIN_REGISTRATION_SCORE,
    find_camera_jpeg,
    register_camera_jpeg,
    resample,
    warp_jpeg_to_raw,
    warp_raw_to_jpeg,
)
from core_isp.io.image_reader import read_image
from core_isp.io.raw_reader import read_raw
from core_isp.metadata import CameraMetadata
from core_isp.orientation import to_sensor
from core_isp.simulation.capture_folder import write_capture
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.render import RenderedShot, auto_settings, render_shot
from core_isp.simulation.scenes import load_manifest, sample_scene
from core_isp.training.prepare import prepare_one

pytestmark = pytest.mark.filterwarnings("ignore::core_isp.errors.MetadataWarning")

ANY_SCORE = {"min_score": -1.0, "max_tile_residual_px": math.inf}


@pytest.fixture(scope="module")
def d30() -> CameraImage:
    return read_raw(D30)


@pytest.fixture(scope="module")
def d30_jpeg() -> torch.Tensor:
    return find_camera_jpeg(D30).image


@pytest.fixture(scope="module")
def d30_registration(d30, d30_jpeg):
    return register_camera_jpeg(d30, d30_jpeg)


def _crop_raw(raw: CameraImage, dy: int, dx: int) -> CameraImage:
    """The RAW without its first ``dy`` rows and ``dx`` columns, CFA name rolled to match."""
    p = raw.meta.cfa_pattern
    rolled = "".join(p[((r + dy) % 2) * 2 + (c + dx) % 2] for r in (0, 1) for c in (0, 1))
    return CameraImage.raw(raw.mosaic[dy:, dx:], raw.meta.replace(cfa_pattern=rolled))


def _luma_shift(reference: torch.Tensor, moving: torch.Tensor) -> np.ndarray:
    """Sub-pixel phase-correlation shift between two RGB images' luminance (skimage's default whitening)."""
    a, b = rgb_to_grayscale(reference)[0, 0].numpy(), rgb_to_grayscale(moving)[0, 0].numpy()
    return phase_cross_correlation(a, b, upsample_factor=100)[0]


# -- finding the camera JPEG ---------------------------------------------------------------------------


def test_d30_camera_jpeg_is_its_embedded_preview():
    found = find_camera_jpeg(D30)
    assert (found.source, found.path, tuple(found.image.shape)) == ("embedded", D30, (1, 3, 960, 1440))
    assert found.image.min() >= 0.0 and found.image.max() <= 1.0


def test_dc50_thumbnail_is_reported_too_small():
    with pytest.raises(BadInputError, match=r"96x64 is too small .* 768 px"):
        find_camera_jpeg(DC50)


def test_raw_without_preview_or_sidecar_says_so():
    with pytest.raises(BadInputError, match="embedded preview: none in the file; no sidecar JPEG"):
        find_camera_jpeg(EOS550D)


@pytest.mark.parametrize("suffix", [".JPG", ".jpeg"])
def test_sidecar_jpeg_beside_the_raw_comes_first(tmp_path, d30_jpeg, suffix):
    raw = tmp_path / "IMG_0001.crw"
    shutil.copyfile(D30, raw)
    sidecar = tmp_path / f"IMG_0001{suffix}"
    Image.fromarray((d30_jpeg[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)).save(sidecar, "JPEG")
    found = find_camera_jpeg(raw)
    assert (found.source, found.path, tuple(found.image.shape)) == ("sidecar", sidecar, (1, 3, 960, 1440))


def test_too_small_sidecar_falls_back_to_the_embedded_preview(tmp_path):
    raw = tmp_path / "IMG_0001.CRW"
    shutil.copyfile(D30, raw)
    Image.new("RGB", (160, 120)).save(tmp_path / "IMG_0001.jpg")
    assert find_camera_jpeg(raw).source == "embedded"


# -- resampling ------------------------------------------------------------------------------------------


def test_resample_halving_on_the_grid_is_2x2_averaging():
    x = torch.rand(2, 3, 8, 10)
    assert torch.allclose(resample(x, 0.5, (0.0, 0.0), (4, 5)), avg_pool2d(x, 2), atol=1e-6)


def test_resample_at_scale_one_and_whole_offset_is_a_crop():
    x = torch.rand(1, 1, 9, 12)
    assert torch.allclose(resample(x, 1.0, (2.0, 3.0), (5, 6)), x[..., 2:7, 3:9])


def test_resample_keeps_a_constant_and_zeroes_what_lies_outside():
    out = resample(torch.full((1, 1, 10, 10), 0.5), 2 / 3, (-0.7, 8.4), (4, 4))
    assert torch.allclose(out[..., :2], torch.tensor(0.5))  # partly covered pixels average the covered part
    assert torch.all(out[..., 3:] == 0)


# -- registration: synthetic pairs with known geometry ---------------------------------------------------


@pytest.fixture(scope="module")
def synthetic_raw() -> CameraImage:
    rgb = gaussian_blur2d(torch.rand(1, 3, 600, 900, generator=torch.Generator().manual_seed(0)), (13, 13), (2.0, 2.0))
    rgb = (rgb - rgb.min()) / (rgb.max() - rgb.min())
    identity = ((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0))
    meta = CameraMetadata(
        cfa_pattern="RGGB", wb_gains=(1.0, 1.0, 1.0), ccm_wb_cam_to_srgb=identity, default_crop_tlhw=(6, 8, 576, 864)
    )
    return CameraImage.raw(mosaic(rgb, cfa_batch(["RGGB"]))[0, 0].numpy(), meta)


@pytest.mark.parametrize(("scale", "offset_px"), [(2 / 3, (6.3, 8.6)), (0.5, (20.25, 3.75)), (1.0, (4.4, 9.1))])
def test_synthetic_pair_recovers_the_geometry_it_was_made_with(synthetic_raw, scale, offset_px):
    developed = develop(synthetic_raw.tensor(), CanonicalParams.from_metadata([synthetic_raw.meta]))
    jpeg = resample(developed, scale, offset_px, (round(560 * scale), round(850 * scale)))
    reg = register_camera_jpeg(synthetic_raw, jpeg, orientations=(1,))
    assert reg.scale == pytest.approx(scale, rel=1e-4)
    assert reg.offset_px == pytest.approx(offset_px, abs=0.05)


# -- registration: the real D30 pair ---------------------------------------------------------------------


def test_d30_jpeg_is_its_camera_crop_at_two_thirds_scale(d30, d30_registration):
    reg = d30_registration
    assert reg.orientation == 1
    assert reg.scale == pytest.approx(2 / 3, rel=0.005)
    # LibRaw's crop starts at (6, 8); the camera's JPEG starts 1.2 rows higher.
    assert reg.offset_px == pytest.approx(d30.meta.default_crop_tlhw[:2], abs=1.5)
    assert reg.score > 0.9
    assert reg.tile_residual_px < 0.1


def test_d30_residual_offset_after_registration_is_under_a_quarter_pixel(d30, d30_jpeg, d30_registration):
    developed = develop(d30.tensor(), CanonicalParams.from_metadata([d30.meta]))
    on_jpeg_grid = _luma_shift(
        to_sensor(d30_jpeg, d30_registration.orientation), warp_raw_to_jpeg(developed, d30_registration)
    )
    assert np.abs(on_jpeg_grid).max() <= 0.25
    # And on the RAW's grid, inside the JPEG's footprint.
    inside = np.s_[..., 8:1440, 12:2164]
    on_raw_grid = _luma_shift(developed[inside], warp_jpeg_to_raw(d30_jpeg, d30_registration)[inside])
    assert np.abs(on_raw_grid).max() <= 0.25


def test_planted_3_pixel_crop_of_the_jpeg_moves_the_offset_by_3_jpeg_pixels(d30, d30_jpeg, d30_registration):
    moved = register_camera_jpeg(d30, d30_jpeg[..., 3:, 3:], orientations=(1,))
    change = np.subtract(moved.offset_px, d30_registration.offset_px) * d30_registration.scale
    assert change == pytest.approx((3.0, 3.0), abs=0.25)


def test_planted_3_pixel_crop_of_the_raw_moves_the_offset_by_3_raw_pixels(d30, d30_jpeg, d30_registration):
    moved = register_camera_jpeg(_crop_raw(d30, 3, 3), d30_jpeg, orientations=(1,))
    assert np.subtract(moved.offset_px, d30_registration.offset_px) == pytest.approx((-3.0, -3.0), abs=0.25)


def test_rotated_jpeg_is_found_with_its_orientation(d30, d30_jpeg, d30_registration):
    stored_upright = torch.rot90(d30_jpeg, 1, (-2, -1))  # as software that rotates pixels (code 8) stores it
    reg = register_camera_jpeg(d30, stored_upright)
    assert reg.orientation == 8
    assert reg.offset_px == pytest.approx(d30_registration.offset_px, abs=0.1)


def test_unrelated_photo_scores_far_below_the_threshold(d30):
    photo = read_image(DATA / "exif" / "nikon-e950.jpg").pixels
    photo = interpolate(photo, size=(960, 1440), mode="bilinear", antialias=True)
    assert register_camera_jpeg(d30, photo, **ANY_SCORE).score < MIN_REGISTRATION_SCORE / 5


def test_mirrored_jpeg_is_rejected_when_only_sensor_orientation_is_allowed(d30, d30_jpeg):
    with pytest.raises(BadInputError, match=r"does not match the RAW \(gradient correlation -?0\.0"):
        register_camera_jpeg(d30, d30_jpeg.flip(-1), orientations=(1,))


def test_lens_corrected_jpeg_is_rejected(d30, d30_jpeg):
    h, w = d30_jpeg.shape[-2:]
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, h), torch.linspace(-1, 1, w), indexing="ij")
    radius2 = (xs**2 * w**2 + ys**2 * h**2) / (w**2 + h**2)  # 1 at the corners
    stretch = 1 + 6 / (math.hypot(h, w) / 2) * radius2  # barrel distortion moving the corners by 6 px
    barrel = grid_sample(d30_jpeg, torch.stack([xs * stretch, ys * stretch], -1)[None], align_corners=True)
    with pytest.raises(BadInputError, match=rf"not a scaled, shifted copy .* > {MAX_TILE_RESIDUAL_PX:g}"):
        register_camera_jpeg(d30, barrel, orientations=(1,))


def test_tiny_jpeg_is_refused_before_any_work(d30):
    with pytest.raises(BadInputError, match="too small to register"):
        register_camera_jpeg(d30, torch.rand(1, 3, 64, 40))


# -- registration: simulated shots, whose JPEG is rendered from the RAW's own mosaic (exactly on its grid) --


def _simulated_shot(
    source_id: str, luminance_cd_m2: float, cfa_pattern: str = "RGGB", iso: float | None = None, ev: float = 0.0
) -> RenderedShot:
    """A 320 x 384 shot of a test-split scene by a Canon 550D, given its CFA; ``iso`` raises the gain at
    the program exposure, ``ev`` is the exposure compensation."""
    profile = dataclasses.replace(
        get_profile("canon-550d"), name=f"test-{cfa_pattern.lower()}", cfa_pattern=cfa_pattern
    )
    source = next(s for s in load_manifest() if s.source_id == source_id)
    scene = sample_scene(source, 320, 384, np.random.default_rng(0), luminance_cd_m2)
    settings = auto_settings(profile, scene, 35.0, ev)
    if iso is not None:  # the same exposure, reached with more gain
        time_s = settings.exposure_time_s * settings.iso / iso
        settings = dataclasses.replace(settings, iso=iso, exposure_time_s=time_s, highlight_tone_priority=False)
    return render_shot(profile, scene, 0, settings=settings, illuminant_cct_k=5000.0)


def _raw_of(shot: RenderedShot) -> CameraImage:
    return CameraImage.raw(shot.noisy_raw[0, 0].numpy(), shot.metadata)


@pytest.fixture(scope="module")
def noisy_shot() -> RenderedShot:
    return _simulated_shot("photo:canon_ixus", 100.0, iso=6400)


@pytest.fixture(scope="module")
def sunset_shot() -> RenderedShot:
    return _simulated_shot("hdr:venice_sunset", 5000.0, ev=2.0)


@pytest.fixture(scope="module")
def gbrg_shot() -> RenderedShot:
    return _simulated_shot("hdr:desk", 100.0, cfa_pattern="GBRG", iso=3200)


def test_simulated_shots_are_what_their_tests_say(noisy_shot, sunset_shot, gbrg_shot):
    assert noisy_shot.settings.iso == 6400
    assert sunset_shot.settings.exposure_compensation_ev == 2.0
    assert (sunset_shot.noisy_raw >= 0.98 * sunset_shot.metadata.clip_level).float().mean() > 0.02  # clipped sun
    assert (gbrg_shot.metadata.cfa_pattern, gbrg_shot.settings.iso) == ("GBRG", 3200)


@pytest.mark.parametrize("shot", ["noisy_shot", "sunset_shot", "gbrg_shot"])
def test_exactly_aligned_simulated_pair_keeps_the_identity_geometry(request, shot):
    shot = request.getfixturevalue(shot)
    reg = register_camera_jpeg(_raw_of(shot), shot.camera_srgb)  # raises if the pair were rejected
    assert (reg.orientation, reg.scale, reg.offset_px) == (1, 1.0, (0.0, 0.0))
    assert reg.score > 0.9


def test_aligned_gbrg_pair_is_prepared_from_the_jpeg_pixels_unresampled(tmp_path):
    shot = _simulated_shot("photo:canon_ixus", 300.0, cfa_pattern="GBRG")
    write_capture(tmp_path, "SIM_0001", shot, {})
    arrays, record = prepare_one(tmp_path / "SIM_0001.DNG")
    assert (record["scale"], record["offset_px"], record["downscaled"]) == (1.0, (0.0, 0.0), False)
    dy, dx = phase_offset("GBRG", "RGGB")
    h, w = arrays["raw"].shape
    jpeg = (shot.camera_srgb[0, :, dy : dy + h, dx : dx + w].permute(1, 2, 0) * 255 + 0.5).to(torch.uint8)
    assert np.array_equal(arrays["srgb"], jpeg.numpy())
    assert np.allclose(arrays["raw"], shot.noisy_raw[0, 0, dy : dy + h, dx : dx + w].numpy(), atol=1e-6)


@pytest.mark.parametrize("offset_px", [(0.5, 0.5), (-0.3, 0.2)])
def test_sub_pixel_shift_of_a_noisy_simulated_pair_is_found(noisy_shot, offset_px):
    jpeg = noisy_shot.camera_srgb
    shifted = resample(jpeg[..., 1:, 1:], 1.0, offset_px, (312, 376))  # the JPEG seen from (1, 1) + offset_px
    reg = register_camera_jpeg(_raw_of(noisy_shot), shifted, orientations=(1,))
    assert reg.offset_px == pytest.approx((1 + offset_px[0], 1 + offset_px[1]), abs=0.1)
    assert reg.scale == pytest.approx(1.0, abs=2e-4)


def test_whole_pixel_crop_of_a_noisy_simulated_pair_registers_exactly(noisy_shot):
    reg = register_camera_jpeg(_raw_of(noisy_shot), noisy_shot.camera_srgb[..., 3:-5, 2:-6], orientations=(1,))
    assert (reg.scale, reg.offset_px) == (1.0, (3.0, 2.0))


def test_jpeg_of_another_simulated_scene_is_rejected(noisy_shot, sunset_shot):
    with pytest.raises(BadInputError, match="does not match the RAW"):
        register_camera_jpeg(_raw_of(noisy_shot), sunset_shot.camera_srgb)

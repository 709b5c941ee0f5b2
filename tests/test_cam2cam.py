"""apps.cam2cam: the physics of carrying a photo from one camera to another (light, colour, exposure, noise), the
Python API on exact (canonical) ISPs, and ``paramisp cam2cam`` with the learned ones, bad input included."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from apps.cam2cam import (
    CameraTransfer,
    TransferSettings,
    carry_mosaic,
    exposure_gain,
    same_light,
    sensor_to_sensor_matrix,
    target_shot,
)
from core_isp.cameras import get_camera, photo_white_balance
from core_isp.canonical import CanonicalParams, demosaic, highlight_threshold, srgb_decode, srgb_encode
from core_isp.cfa import cfa_batch
from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.io import read_raw
from core_isp.io.dng import exif_from_metadata
from core_isp.io.image_reader import read_image_metadata
from core_isp.io.writers import write_jpeg, write_png
from core_isp.isp import canonical_isp, load_isp
from core_isp.metadata import CameraMetadata
from core_isp.simulation.profiles import get_profile
from core_isp.simulation.render import shot_colour
from core_isp.weights import __file__ as weights_init

NIKON, SONY = get_camera("nikon-d7000"), get_camera("sony-a7r3")
SHOT = CameraMetadata(make="NIKON CORPORATION", model="NIKON D7000", exposure_time_s=1 / 100, iso=100.0,
                      f_number=5.6, focal_length_mm=35.0)  # fmt: skip
#: Four flat colours (sRGB), so demosaicing is exact away from their edges.
PATCHES = ((0.55, 0.35, 0.25), (0.2, 0.45, 0.3), (0.3, 0.3, 0.5), (0.45, 0.45, 0.45))


def _patches(meta: CameraMetadata = SHOT) -> CameraImage:
    pixels = torch.empty(1, 3, 64, 96)
    for k, colour in enumerate(PATCHES):
        pixels[0, :, 32 * (k // 2) : 32 * (k // 2 + 1), 48 * (k % 2) : 48 * (k % 2 + 1)] = torch.tensor(colour)[
            :, None, None
        ]
    return CameraImage(pixels, (meta.replace(image_size_hw=(64, 96)),), "srgb")


def _interiors(x: torch.Tensor) -> torch.Tensor:
    """The pixels at least 4 from a patch edge ``(4, C, 24, 40)``."""
    return torch.stack([x[0, :, 32 * (k // 2) + 4 : 32 * (k // 2) + 28, 48 * (k % 2) + 4 : 48 * (k % 2) + 44]
                        for k in range(4)])  # fmt: skip


def _canonical(source, target, **settings) -> CameraTransfer:
    """The plain physical chain (no residual) on exact ISPs."""
    return CameraTransfer(source, target, canonical_isp(), canonical_isp(), TransferSettings(**{"residual": False,
                                                                                                **settings}))


# -- the physics ----------------------------------------------------------------------------------------------


def test_the_same_light_is_the_target_cameras_white_for_it() -> None:
    white = photo_white_balance(NIKON, SHOT, "3200K")
    assert same_light(NIKON, white, SONY).gains == pytest.approx(SONY.colour.white_balance(3200.0)[0], rel=1e-9)
    gains = photo_white_balance(NIKON, SHOT, "2.1,1,1.4")
    assert same_light(NIKON, gains, NIKON).gains == pytest.approx((2.1, 1.0, 1.4), rel=1e-9)
    assert same_light(NIKON, gains, SONY).source == "user"


def test_sensor_matrix_carries_the_simulated_scene_from_one_sensor_to_the_other() -> None:
    """The simulator sees a scene colour through camera c as ``inv(ccm_c) rgb / wb_c``; the matrix must turn A's
    view into B's for the same illuminant."""
    rgb = np.array([[0.4, 0.1, 0.05], [0.1, 0.3, 0.6], [0.2, 0.2, 0.2]]).T  # three colours as columns
    views, metas = [], []
    for name in ("nikon-d7000", "sony-a7r3"):
        wb, ccm = shot_colour(get_profile(name), 3000.0)
        views.append(np.linalg.solve(ccm, rgb) / np.asarray(wb)[:, None])
        metas.append(get_camera(name).raw_metadata(CameraMetadata(), wb, "as_shot", ccm))
    np.testing.assert_allclose(sensor_to_sensor_matrix(*metas) @ views[0], views[1], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(sensor_to_sensor_matrix(metas[0], metas[0]), np.eye(3), atol=1e-12)


def test_exposure_follows_sensitivity_analogue_gain_and_the_shot() -> None:
    assert (NIKON.sensor.mid_grey_raw, SONY.sensor.mid_grey_raw) == (0.12, 0.10)
    assert exposure_gain(NIKON, SHOT, SONY, SHOT).total == pytest.approx(0.10 / 0.12)
    unknown = dataclasses.replace(SONY, sensor=dataclasses.replace(SONY.sensor, mid_grey_raw=None))
    assert exposure_gain(NIKON, SHOT, unknown, SHOT).total == 1.0  # documented: unknown sensitivity, ratio 1
    # The D7000 holds its sensor a stop down from ISO 800 (Active D-Lighting): at ISO 1600 its RAW is half as bright.
    high = SHOT.replace(iso=1600.0, exposure_time_s=1 / 1600)
    assert exposure_gain(SONY, high, NIKON, high).analog_gain == pytest.approx(0.5)
    # "As if shot at ISO 1600": the exposure time follows, so the picture keeps its brightness ...
    shot, defaults = target_shot(SHOT, SONY, TransferSettings(iso=1600.0))
    assert shot.exposure_time_s == pytest.approx(1 / 1600) and shot.exposure_time_source == "kept exposure"
    assert exposure_gain(SONY, SHOT, SONY, shot).total == pytest.approx(1.0) and defaults == {}
    # ... unless the exposure time is given too: then it is that exposure, here two stops more light.
    shot, _ = target_shot(SHOT, SONY, TransferSettings(iso=400.0, exposure_time_s=1 / 100))
    assert exposure_gain(SONY, SHOT, SONY, shot).exposure == pytest.approx(4.0)
    # A photo without ISO: the target shoots at its noise model's base ISO, and says so.
    shot, defaults = target_shot(CameraMetadata(), SONY, TransferSettings())
    assert defaults == {"iso": 100.0} and (shot.iso, shot.iso_source) == (100.0, "default")


def test_exact_isps_keep_the_colours_and_scale_the_light_by_sensitivity() -> None:
    """With canonical ISPs at both ends, a daylight shot comes back with its colours, brighter or darker in linear
    light by the sensors' sensitivity ratio (the canonical pipeline has no tone curve to absorb it)."""
    photo = _patches()
    result = _canonical(NIKON, SONY, white_balance="daylight", noise=False).transfer(photo)
    expected = srgb_encode(srgb_decode(photo.pixels) * (0.10 / 0.12))
    torch.testing.assert_close(_interiors(result.srgb.pixels), _interiors(expected), atol=2e-4, rtol=0)
    meta = result.raw.meta
    assert (meta.make, meta.cfa_pattern, meta.white_level) == (SONY.make, "RGGB", SONY.sensor.white_level)
    assert result.record["exposure_gain"]["total"] == pytest.approx(0.8333, abs=1e-4)
    assert result.record["illuminant"]["source"] == "daylight" and result.record["noise_iso"] is None


def _texture(seed: int = 0) -> torch.Tensor:
    """Detail at every pixel, in muted colours every camera here sees inside its gamut: ``(1, 3, 64, 96)`` sRGB."""
    g = torch.Generator().manual_seed(seed)
    return (0.25 + 0.45 * torch.rand(1, 1, 64, 96, generator=g)) * (0.92 + 0.16 * torch.rand(1, 3, 64, 96, generator=g))


def test_a_sensor_differing_only_in_its_cfa_phase_loses_no_detail() -> None:
    """A's inverse gives camera RGB, all three colours at every pixel, which is sampled in B's CFA: each of B's sites
    holds A's own value of its colour. A's mosaic in A's pattern would have to be re-interpolated at every site where
    the patterns differ, blurring pixel-level detail that B's forward ISP then renders far from B's own picture."""
    d90 = get_camera("nikon-d90")
    rggb = dataclasses.replace(d90, name="d90-rggb", sensor=dataclasses.replace(d90.sensor, cfa_pattern="RGGB"))
    photo = CameraImage(_texture(), (SHOT.replace(image_size_hw=(64, 96)),), "srgb")
    result = _canonical(rggb, d90, white_balance="daylight", noise=False).transfer(photo)
    assert result.raw.meta.cfa_pattern == "GBRG" and result.record["exposure_gain"]["total"] == pytest.approx(1.0)
    recorded = canonical_isp().inverse(photo.pixels, [result.raw.meta])
    torch.testing.assert_close(result.raw.pixels, recorded, atol=1e-5, rtol=0)


def test_a_sensor_differing_in_its_colour_matrix_is_carried_without_interpolation() -> None:
    """B's colour at a site mixes all three of A's. Carried from A's camera RGB, B's RAW of a textured photo is B's
    own canonical RAW of it, scaled by the exposure gain and the two canonical ISPs' highlight rescales (the
    threshold at which each white balance clips): exactly, where A's mosaic, demosaicked, misses by far more."""
    photo = CameraImage(_texture(1), (SHOT.replace(image_size_hw=(64, 96)),), "srgb")
    result = _canonical(NIKON, SONY, white_balance="daylight", noise=False).transfer(photo)
    white = photo_white_balance(NIKON, SHOT, "daylight")
    meta_a, meta_b = NIKON.raw_metadata(SHOT, white.gains, white.source), result.raw.meta
    threshold_a, threshold_b = (highlight_threshold(p.wb_gains, p.clip_level)
                                for p in (CanonicalParams.from_metadata([m]) for m in (meta_a, meta_b)))  # fmt: skip
    gain = result.record["exposure_gain"]["total"]
    expected = canonical_isp().inverse(photo.pixels, [meta_b]) * gain * float(threshold_a / threshold_b)
    assert float(expected.min()) > 0.0 and float(expected.max()) < 1.0  # neither clamp nor white clip acts
    torch.testing.assert_close(result.raw.pixels, expected, atol=1e-5, rtol=0)
    # What the transfer did from A's mosaic: two of A's three colours at each site interpolated.
    mosaic_a = canonical_isp().inverse(photo.pixels, [meta_a])
    interpolated = carry_mosaic(demosaic(mosaic_a, cfa_batch([meta_a.cfa_pattern])), meta_a, meta_b, gain)
    assert float((interpolated - expected).abs().mean()) > 100 * float((result.raw.pixels - expected).abs().mean())


def test_the_same_camera_re_renders_the_photo() -> None:
    result = _canonical(NIKON, NIKON, noise=False).transfer(_patches())
    torch.testing.assert_close(_interiors(result.srgb.pixels), _interiors(_patches().pixels), atol=2e-4, rtol=0)
    assert result.record["same_camera"] is True and result.record["exposure_gain"]["total"] == 1.0


def test_noise_is_the_targets_at_its_analogue_iso_and_follows_the_seed() -> None:
    photo = _patches(SHOT.replace(iso=1600.0, exposure_time_s=1 / 1600))
    clean = _canonical(SONY, NIKON, noise=False).transfer(photo)
    noisy = _canonical(SONY, NIKON).transfer(photo, seed=3)
    assert noisy.record["noise_iso"] == 800.0  # recorded 1600, the D7000's sensor ran at 800
    assert noisy.raw.meta.iso == 1600.0  # the forward ISP is conditioned on the recorded ISO
    assert noisy.record["exposure_gain"]["total"] == pytest.approx(1.2 * 0.5)
    expected_std = NIKON.noise.std(clean.raw.pixels.double(), 800.0)
    standardised = (noisy.raw.pixels.double() - clean.raw.pixels) / expected_std
    assert float(standardised.mean()) == pytest.approx(0.0, abs=0.05)
    assert float(standardised.std()) == pytest.approx(1.0, abs=0.05)
    torch.testing.assert_close(_canonical(SONY, NIKON).transfer(photo, seed=3).raw.pixels, noisy.raw.pixels)
    assert not torch.equal(_canonical(SONY, NIKON).transfer(photo, seed=4).raw.pixels, noisy.raw.pixels)


def test_residual_transfer_to_the_same_camera_gives_the_photo_back_through_learned_isps() -> None:
    photo = _patches()
    direct = CameraTransfer.load(NIKON, NIKON, TransferSettings(noise=False, residual=False)).transfer(photo)
    residual = CameraTransfer.load(NIKON, NIKON, TransferSettings(noise=False)).transfer(photo)
    # The learned round trip misses the photo; with the residual both renders share that error and it cancels.
    assert float((direct.srgb.pixels - photo.pixels).abs().mean()) > 1e-3
    torch.testing.assert_close(residual.srgb.pixels, photo.pixels, atol=1e-5, rtol=0)
    torch.testing.assert_close(residual.raw.pixels, direct.raw.pixels)
    assert residual.record["settings"]["residual"] is True  # type: ignore[index]
    with pytest.raises(BadInputError, match="source camera's forward ISP"):
        _canonical(NIKON, SONY, residual=True).transfer(photo)


def test_residual_renders_both_raws_in_the_targets_cfa_phase() -> None:
    """A body differing only in its CFA phase, with the same learned ISPs at both ends: A's render samples A's RGB
    in B's phase, so the two renders are the same network on the same mosaic and the photo comes back exactly (in
    A's own phase the forward ISP's CFA-period response would differ between them)."""
    gbrg = dataclasses.replace(NIKON, name="d7000-gbrg", sensor=dataclasses.replace(NIKON.sensor, cfa_pattern="GBRG"))
    photo = CameraImage(_texture(), (SHOT.replace(image_size_hw=(64, 96)),), "srgb")
    isp = load_isp(NIKON)
    transfer = CameraTransfer(NIKON, gbrg, isp, isp, TransferSettings(white_balance="daylight", noise=False),
                              source_forward=isp)  # fmt: skip
    result = transfer.transfer(photo)
    assert result.raw.meta.cfa_pattern == "GBRG"
    torch.testing.assert_close(result.srgb.pixels, photo.pixels, atol=1e-5, rtol=0)


# -- the command line, with the learned ISPs ------------------------------------------------------------------


def _cam2cam(*args: str | Path) -> tuple[int, str]:
    from apps.cam2cam import cli  # noqa: F401  (registers the command)
    from paramisp.cli.main import app

    result = CliRunner().invoke(app, ["cam2cam", *map(str, args)])
    return result.exit_code, result.stdout


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A D7000 JPEG with its EXIF and a PNG without any EXIF."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(0)
    smooth = torch.nn.functional.interpolate(torch.from_numpy(rng.random((1, 3, 8, 12), dtype=np.float32)),
                                             size=(64, 96), mode="bilinear")[0] * 0.7 + 0.1  # fmt: skip
    write_jpeg(folder / "d7000.jpg", smooth, exif=exif_from_metadata(SHOT, (64, 96)))
    write_png(folder / "plain.png", smooth)
    return folder


def test_cam2cam_command_renders_as_the_target_and_writes_its_raw(photos: Path, tmp_path: Path) -> None:
    code, stdout = _cam2cam(photos, "--to", "sony-a7r3", "-o", tmp_path, "--raw", "--format", "jpg", "--json")
    assert code == 0, stdout
    exif_photo, plain = json.loads(stdout)
    # By make/model, the D7000's own camera; the EXIF-less PNG gets the default body, daylight and B's base ISO.
    assert (exif_photo["from"], exif_photo["to"], exif_photo["defaults"]) == ("nikon-d7000", "sony-a7r3", {})
    assert exif_photo["illuminant"]["source"] == "estimated" and exif_photo["unknown_exif"] == []
    assert plain["from"] == "nikon-d7000" and "camera-agnostic" in plain["inverse_weights"]
    assert plain["illuminant"]["source"] == "daylight" and plain["defaults"] == {"iso": 100.0}
    assert sorted(plain["unknown_exif"]) == ["exposure_time_s", "f_number", "focal_length_mm", "iso"]
    raw = read_raw(tmp_path / "d7000.dng")
    assert (raw.meta.model, raw.meta.cfa_pattern, raw.pixels.shape) == ("ILCE-7RM3", "RGGB", (1, 1, 64, 96))
    assert raw.meta.iso == 100.0 and raw.meta.wb_gains == pytest.approx(exif_photo["illuminant"]["to_gains"], rel=1e-3)
    assert read_image_metadata(tmp_path / "d7000.jpg").model == "ILCE-7RM3"
    assert (tmp_path / "plain.jpg").is_file() and (tmp_path / "plain.dng").is_file()
    # Nothing is overwritten without --overwrite.
    assert _cam2cam(photos / "d7000.jpg", "--to", "sony-a7r3", "-o", tmp_path / "d7000.jpg")[0] == 2


def test_cam2cam_refuses_bad_input_in_one_line(photos: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    photo = photos / "d7000.jpg"
    forward_file = Path(weights_init).parent / "nikon-d7000.forward.safetensors"
    text = tmp_path / "notes.jpg"
    text.write_text("not a photo")
    for inputs, args, message in (
        (photo, ["--to", "no-such-camera"], "no shipped weights for camera 'no-such-camera'"),
        (photo, ["--to", "sony-a7r3", "--from", "no-such-camera"], "no shipped weights for camera 'no-such-camera'"),
        (photo, ["--to", "sony-a7r3", "--from", "nikon-d7000", "--from-weights", forward_file],
         "checkpoint is for the forward ISP, expected inverse"),
        (photo, ["--to", "sony-a7r3", "--to-weights", forward_file.with_name("sony-a7r3.inverse.safetensors")],
         "checkpoint is for the inverse ISP, expected forward"),
        (photo, ["--to", "sony-a7r3", "--format", "bmp"], "--format must be one of png, jpg, tif"),
        (photo, ["--to", "sony-a7r3", "--wb", "warm"], "--wb: estimate, daylight"),
        (photo, ["--to", "sony-a7r3", "--iso", "0"], "--iso 0 is not plausible"),
        (text, ["--to", "sony-a7r3"], "notes.jpg"),
    ):  # fmt: skip
        caplog.clear()
        code, _ = _cam2cam(inputs, *args, "-o", tmp_path / "out.png")
        errors = [r.getMessage() for r in caplog.records if "paramisp: error:" in r.getMessage()]
        assert code == 2 and len(errors) == 1 and message in errors[0] and "\n" not in errors[0], (args, errors)
        assert not (tmp_path / "out.png").exists()


def test_change_score_measures_how_much_of_the_cameras_difference_a_transfer_makes() -> None:
    from benchmarks.cam2cam_eval import change_scores

    photo = torch.rand(1, 3, 16, 24, generator=torch.Generator().manual_seed(0))
    change = 0.05 * torch.randn(1, 3, 16, 24, generator=torch.Generator().manual_seed(1))
    truth = photo + change
    exact = change_scores(photo, truth, truth)
    assert exact["correlation"] == pytest.approx(1.0) and exact["error_rms"] == pytest.approx(0.0, abs=1e-12)
    assert exact["true_rms"] == pytest.approx(float(change.square().mean().sqrt()), rel=1e-6)
    # Half the change: fully correlated, half the error of leaving the photo alone.
    half = change_scores(photo, photo + change / 2, truth)
    assert half["correlation"] == pytest.approx(1.0) and half["error_rms"] == pytest.approx(exact["true_rms"] / 2)
    # A change unrelated to the truth's (orthogonal by construction) correlates zero.
    other = torch.roll(change, 1, dims=-1)
    other = other - (other * change).sum() / change.square().sum() * change
    assert change_scores(photo, photo + other, truth)["correlation"] == pytest.approx(0.0, abs=1e-6)

"""Cameras as inference sees them: shipped bodies, the user's store, lookup, white balance, the chain, noise fit."""

from __future__ import annotations

import dataclasses
import math
import os
import stat
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from core_isp.cameras import (
    DEFAULT_CAMERA,
    Camera,
    CameraStore,
    CameraWeights,
    NoiseModel,
    camera_for,
    generic_weights,
    get_camera,
    photo_white_balance,
    resolve_camera,
    shipped_cameras,
)
from core_isp.cameras.noise_fit import fit_noise_model
from core_isp.canonical import CanonicalParams, develop, undevelop
from core_isp.chain import correct_round_trip, run_chain
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.image import CameraImage
from core_isp.isp import InferenceOptions, canonical_isp, load_isp
from core_isp.metadata import CameraMetadata
from core_isp.simulation.profiles import PROFILES


@pytest.fixture
def store(tmp_path, monkeypatch) -> CameraStore:
    monkeypatch.setenv("PARAMISP_HOME", str(tmp_path / "home"))
    return CameraStore()


def user_camera(name: str = "my-cam", **changes) -> Camera:
    body = dataclasses.replace(shipped_cameras()["canon-550d"], name=name, origin="stored", weights=CameraWeights())
    return dataclasses.replace(body, make="Paramisp Test", model="Own Body", **changes)


def test_every_simulated_body_ships_as_a_camera_equal_to_its_profile():
    shipped = shipped_cameras()
    assert set(shipped) == set(PROFILES)
    for name, profile in PROFILES.items():
        expected = profile.camera()
        got = shipped[name]
        assert (got.sensor, got.colour, got.noise, got.make, got.model) == (
            expected.sensor, expected.colour, expected.noise, expected.make, expected.model)  # fmt: skip
        assert got.weights.forward.is_file() and got.weights.inverse.is_file()
    # the held-out body has no weights of its own: it runs the camera-agnostic pair
    assert shipped["canon-550d"].weights == generic_weights()


def test_camera_json_round_trip(tmp_path):
    camera = dataclasses.replace(user_camera(), weights=CameraWeights(forward=tmp_path / "f.safetensors"))
    back = Camera.from_dict(camera.to_dict(weights_root=tmp_path), tmp_path, origin="stored")
    assert back == camera


def test_store_adds_lists_gets_and_removes_atomically(store, tmp_path):
    weights = generic_weights()
    files = {"forward": weights.forward, "inverse": weights.inverse}
    stored = store.add(user_camera(), files, {"note": "test"})
    assert store.names() == ["my-cam"] and stored.origin == "stored"
    assert stored.weights.forward.read_bytes() == weights.forward.read_bytes()
    assert store.report("my-cam") == {"note": "test"}
    with pytest.raises(BadInputError, match="already exists"):
        store.add(user_camera(), files, {})
    assert store.get("my-cam") == stored  # the refused add lost nothing
    store.remove("my-cam")
    assert store.names() == [] and not any(store.cameras_dir.iterdir())
    with pytest.raises(BadInputError, match="no stored camera"):
        store.remove("my-cam")


def test_store_refuses_bad_names_and_unwritable_roots(store, tmp_path):
    with pytest.raises(BadInputError, match="camera name"):
        store.check_can_add("My Camera/..")
    if os.geteuid() == 0:
        blocked = tmp_path / "file-not-folder"
        blocked.write_text("x")
        with pytest.raises(BadInputError, match="not writable"):
            CameraStore(blocked).check_can_add("ok")
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
        with pytest.raises(BadInputError, match="not writable"):
            CameraStore(ro).check_can_add("ok")


def test_lookup_by_name_and_make_model_prefers_stored_cameras(store):
    weights = generic_weights()
    store.add(user_camera(), {"forward": weights.forward, "inverse": weights.inverse}, {})
    assert get_camera("my-cam").origin == "stored"
    assert get_camera("nikon-d90").origin == "shipped"
    shot = CameraMetadata(make="  paramisp test ", model="OWN BODY")
    assert camera_for(shot).name == "my-cam"
    d7000 = shipped_cameras()["nikon-d7000"]
    assert camera_for(CameraMetadata(make=d7000.make, model=d7000.model)).name == "nikon-d7000"
    with pytest.raises(BadInputError, match=r"no shipped weights for camera 'leica-m3'.*my-cam"):
        get_camera("leica-m3")
    with pytest.warns(MetadataWarning, match="no camera known for Foo Bar"):
        fallback = resolve_camera(None, CameraMetadata(make="Foo", model="Bar"))
    # the fallback borrows a body but not its fine-tuned weights, and says so
    assert fallback.name == DEFAULT_CAMERA and fallback.weights == CameraWeights()
    assert load_isp(fallback, directions=()).description.endswith("camera-agnostic weights)")


def test_stored_camera_weights_are_the_ones_loaded(store):
    weights = generic_weights()
    store.add(user_camera(), {"forward": weights.forward, "inverse": weights.inverse}, {})
    isp = load_isp("my-cam", directions=("inverse",))
    assert isp.name == "my-cam" and isp.inverse_model is not None and isp.forward_model is None
    assert "stored" in isp.description


def test_white_balance_estimate_reads_the_recorded_exposure_only():
    camera = shipped_cameras()["nikon-d7000"]
    sunny = CameraMetadata(exposure_time_s=1 / 500, f_number=8.0, iso=100.0)  # EV100 ~ 15: daylight
    indoor = CameraMetadata(exposure_time_s=1 / 30, f_number=2.8, iso=1600.0)  # EV100 ~ 4: tungsten-ish
    assert photo_white_balance(camera, sunny).cct_k == pytest.approx(5500.0)
    assert photo_white_balance(camera, indoor).cct_k == pytest.approx(3400.0)
    assert photo_white_balance(camera, CameraMetadata()).source == "daylight"
    assert photo_white_balance(camera, sunny, "3200K").cct_k == 3200.0
    assert photo_white_balance(camera, sunny, "2,1,1.5").gains == (2.0, 1.0, 1.5)
    for bad in ("warm", "0,1,1", "100K"):
        with pytest.raises(BadInputError, match="--wb"):
            photo_white_balance(camera, sunny, bad)


def test_raw_metadata_for_a_photo_takes_the_camera_sensor_and_the_photo_exif():
    camera = shipped_cameras()["nikon-d90"]
    photo = CameraMetadata(make="X", model="Y", exposure_time_s=0.01, iso=400.0, orientation=6)
    wb = photo_white_balance(camera, photo, "daylight")
    meta = camera.raw_metadata(photo, wb.gains, wb.source)
    assert meta.cfa_pattern == "GBRG" and meta.white_level == camera.sensor.white_level
    assert (meta.exposure_time_s, meta.iso, meta.orientation) == (0.01, 400.0, 6)
    assert meta.make == camera.make and np.allclose(np.sum(meta.ccm_wb_cam_to_srgb, axis=1), 1.0)


def test_chain_with_canonical_isps_and_identity_op_is_the_canonical_round_trip():
    camera = shipped_cameras()["samsung-s7"]
    photo_meta = CameraMetadata(exposure_time_s=0.01, f_number=2.0, iso=200.0)
    wb = photo_white_balance(camera, photo_meta)
    meta = camera.raw_metadata(photo_meta, wb.gains, wb.source)
    srgb = torch.rand(2, 3, 32, 48, generator=torch.Generator().manual_seed(0)) * 0.8
    photo = CameraImage(srgb, (photo_meta, photo_meta), "srgb")
    result = run_chain(photo, canonical_isp(), [meta, meta], canonical_isp())
    params = CanonicalParams.from_metadata([meta, meta])
    torch.testing.assert_close(result.raw_in.pixels, undevelop(srgb, params))
    torch.testing.assert_close(result.rendered.pixels, develop(undevelop(srgb, params), params).clamp(0, 1))
    assert result.raw_out.metadata == (meta, meta) and result.rendered.space == "srgb"


def test_unclipped_option_keeps_values_outside_the_unit_range():
    camera = shipped_cameras()["nikon-d7000"]
    shot = CameraMetadata(exposure_time_s=0.01, f_number=4.0, iso=100.0, focal_length_mm=50.0)
    meta = camera.raw_metadata(shot, camera.colour.white_balance(5500.0)[0], "daylight")
    raw = torch.rand(1, 1, 64, 64, generator=torch.Generator().manual_seed(0)) * 3.0  # up to 3x white
    isp = load_isp("generic", directions=("forward",))
    clipped, unclipped = isp.forward(raw, [meta]), isp.forward(raw, [meta], InferenceOptions(clip=False))
    assert clipped.min() >= 0.0 and clipped.max() <= 1.0
    assert unclipped.max() > 1.0 and unclipped.min() < 0.0
    torch.testing.assert_close(unclipped.clamp(0.0, 1.0), clipped)


def test_noise_fit_recovers_a_known_model_from_smooth_mosaics():
    truth = NoiseModel(shot_at_base_iso=4e-5, base_iso=100.0, log_read_offset=0.5)
    g = torch.Generator().manual_seed(1)
    samples = []
    for iso in (100.0, 400.0, 1600.0):
        y, x = torch.meshgrid(torch.linspace(0, 1, 256), torch.linspace(0, 1, 384), indexing="ij")
        clean = (0.02 + 0.6 * x * (0.3 + 0.7 * y)).double()  # smooth ramps over the whole range
        noisy = clean + truth.std(clean, iso) * torch.randn(clean.shape, generator=g, dtype=torch.float64)
        samples.append((iso, noisy.float(), 1.0))
    fit = fit_noise_model(samples)
    for iso in (100.0, 400.0, 1600.0):
        got = math.sqrt(fit.model.read(iso) + fit.model.shot(iso) * 0.18)
        want = math.sqrt(truth.read(iso) + truth.shot(iso) * 0.18)
        assert got == pytest.approx(want, rel=0.1)


def test_noise_fit_needs_usable_shots():
    with pytest.raises(BadInputError):
        fit_noise_model([])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BadInputError):
            fit_noise_model([(100.0, torch.ones(64, 64), 1.0)])  # all clipped


def test_residual_chain_gives_the_photo_back_without_an_op_and_adds_only_what_an_op_changed():
    from functools import partial

    from core_isp.raw_domain import scale_exposure

    camera = shipped_cameras()["nikon-d7000"]
    shot = CameraMetadata(exposure_time_s=0.01, f_number=4.0, iso=200.0, focal_length_mm=35.0)
    meta = camera.raw_metadata(shot, camera.colour.white_balance(5000.0)[0], "estimated")
    srgb = torch.rand(1, 3, 8, 12, generator=torch.Generator().manual_seed(1))
    photo = CameraImage(F.interpolate(srgb, size=(48, 64), mode="bilinear") * 0.6 + 0.1, (shot,), "srgb")
    isp = load_isp(camera)  # a learned pair: its round trip is not the identity
    plain = run_chain(photo, isp, [meta], isp)
    assert float((plain.rendered.pixels - photo.pixels).abs().mean()) > 1e-3
    same = run_chain(photo, isp, [meta], isp, residual=True)
    torch.testing.assert_close(same.rendered.pixels, photo.pixels, atol=1e-6, rtol=0)
    torch.testing.assert_close(same.round_trip.pixels, plain.rendered.pixels)
    op = partial(scale_exposure, ev=0.5)
    brighter, corrected = run_chain(photo, isp, [meta], isp, op), run_chain(photo, isp, [meta], isp, op, residual=True)
    expected = (photo.pixels + brighter.rendered.pixels - plain.rendered.pixels).clamp(0, 1)
    torch.testing.assert_close(corrected.rendered.pixels, expected)
    assert corrected.rendered.pixels.mean() > photo.pixels.mean() + 0.02
    with pytest.raises(BadInputError, match="one size"):
        correct_round_trip(photo.pixels, photo.pixels[..., :32], photo.pixels)
    codes = (photo.pixels * 255).round().to(torch.uint8)
    torch.testing.assert_close(correct_round_trip(codes, photo.pixels, photo.pixels), codes.float() / 255)


def test_chain_renders_with_the_metadata_the_raw_op_produced():
    from functools import partial

    from core_isp.raw_domain import scale_exposure

    camera = shipped_cameras()["nikon-d40"]
    shot = CameraMetadata(exposure_time_s=0.01, f_number=4.0, iso=100.0, focal_length_mm=35.0)
    meta = camera.raw_metadata(shot, camera.colour.white_balance(5000.0)[0], "estimated")
    photo = CameraImage(torch.full((1, 3, 16, 16), 0.3), (shot,), "srgb")
    result = run_chain(photo, canonical_isp(), [meta], canonical_isp(), op=partial(scale_exposure, ev=1.0))
    assert result.raw_out.meta.exposure_time_s == pytest.approx(0.02)
    torch.testing.assert_close(result.raw_out.pixels, 2.0 * result.raw_in.pixels)
    assert result.rendered.meta == result.raw_out.meta
    assert result.rendered.pixels.mean() > photo.pixels.mean()

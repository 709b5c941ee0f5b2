"""The shipped ISPs from a user's side: weights, the Python API, to-raw / to-srgb on real files, bad input."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import warnings

import exifread
import numpy as np
import pytest
import rawpy
import tifffile
import torch
from PIL import Image

from conftest import D30, DATA
from core_isp.cameras import get_camera, photo_white_balance
from core_isp.checkpoint import load_checkpoint
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.io import find_camera_jpeg, read_raw, register_camera_jpeg
from core_isp.io.camera_jpeg import warp_raw_to_jpeg
from core_isp.io.image_reader import read_image
from core_isp.isp import available_cameras, load_isp, registry, weights_dir
from core_isp.models.paramisp import is_conditioning
from core_isp.simulation.profiles import HELD_OUT_PROFILES, TUNING_PROFILES

TRACEBACK = "Traceback (most recent call last)"


def paramisp(*args) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "paramisp", *map(str, args)], capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def test_shipped_weights_cover_every_tuning_camera_within_25_mb():
    assert set(available_cameras()) == {"generic", *TUNING_PROFILES, *HELD_OUT_PROFILES}
    for name in HELD_OUT_PROFILES:  # held out of all tuning: the body ships, with the camera-agnostic weights
        assert (registry()[name]["forward"], registry()[name]["inverse"]) == (
            "generic.forward.safetensors", "generic.inverse.safetensors")  # fmt: skip
    size = sum(f.stat().st_size for f in weights_dir().glob("*.safetensors"))
    assert size <= 25e6
    isp = load_isp("nikon-d7000")
    assert isp.forward_info.weights_dtype == "float16" and isp.forward_info.training_stage == "finetune"
    settings = json.loads(isp.forward_info.training)
    assert settings["seed"] == 42 and settings["steps"] > 0 and settings["data"] == "sim:nikon-d7000"
    assert load_isp().inverse_info.training_stage == "pretrain"
    # A camera gets its fine-tuned file only where that beat the pre-trained start on its validation set.
    entries = registry()
    for name in TUNING_PROFILES:
        entry = entries[name]
        for direction in ("forward", "inverse"):
            scores = entry["validation_psnr"][direction]
            source = name if scores["fine_tuned"] > scores["pretrained"] else "generic"
            assert entry[direction] == f"{source}.{direction}.safetensors"


def test_joint_pairs_ship_where_they_beat_the_separate_pair_and_other_cameras_fall_back():
    entries = registry()
    joint = {name: entry["joint"] for name, entry in entries.items() if "joint" in entry}
    assert set(joint) == {"generic", "nikon-d7000", "sony-a7r3"}
    for name, entry in joint.items():
        scores = entry["validation"]
        assert ("forward" in entry) == (scores["joint"]["score"] > scores["separate"]["score"]), name
        if "forward" in entry:
            isp = load_isp(name, pair="joint")
            assert isp.weight_files == {d: weights_dir() / entry[d] for d in ("forward", "inverse")}
            assert isp.forward_info.training_stage == isp.inverse_info.training_stage == "joint"
            assert "joint pair" in isp.description
    # The held-out body runs the camera-agnostic weights both ways, so it takes their joint pair.
    assert load_isp(HELD_OUT_PROFILES[0], pair="joint").weight_files == load_isp("generic", pair="joint").weight_files
    # A body without a joint pair keeps its separate one, and says so.
    d40 = load_isp("nikon-d40", pair="joint")
    assert d40.weight_files == load_isp("nikon-d40").weight_files and "no joint pair" in d40.description
    with pytest.raises(BadInputError, match="pair must be one of separate, joint, brackets, got 'both'"):
        load_isp("nikon-d40", pair="both")


def test_the_gain_rule_term_ships_over_the_camera_agnostic_isps_and_keeps_their_record():
    """``tools/ship_default_weights.py --gain-rule``: the camera-agnostic ISPs gain a trained term where it beat them
    on validation, and stay the same files otherwise (stage, training record, plus the term's run)."""
    generic = registry()["generic"]
    # The joint inverse's term was trained but not shipped: synth-blur, the joint pair's user, chose without it on
    # validation scenes (benchmarks/RESULTS.md, "The body's gain rule").
    runs = {"pretrain": (generic, ("forward", "inverse")), "joint": (generic["joint"], ("forward",))}
    for entry, directions in runs.values():
        assert set(entry["gain_rule"]) == set(directions)
    for (stage, (entry, directions)), direction in itertools.product(runs.items(), ("forward", "inverse")):
        if direction not in directions:
            model = load_checkpoint(weights_dir() / entry[direction], direction=direction)[0]
            assert not model.paramnet.gain_rule.weight.any()
            continue
        record = entry["gain_rule"][direction]
        scores = record["validation"]
        assert record["shipped"] == (scores["gain_rule"]["score"] > scores["before"]["score"])
        model, info = load_checkpoint(weights_dir() / entry[direction], direction=direction)
        assert bool(model.paramnet.gain_rule.weight.any()) == record["shipped"]
        if record["shipped"]:
            assert info.training_stage == stage
            assert json.loads(info.training)["gain_rule"]["trainable"] == "gain_rule"
    # The bodies' own ISPs learned their rule from the ISO: their term stays zero.
    own = load_checkpoint(weights_dir() / registry()["nikon-d7000"]["forward"], direction="forward")[0]
    assert not own.paramnet.gain_rule.weight.any()
    # The bracket conditioning, trained before the term, still loads over the camera-agnostic inverse and holds the
    # term at zero: HDR's inverse is the network it was validated as.
    brackets = load_isp(None, pair="brackets")
    assert brackets.bracket_conditioned and not brackets.inverse_model.paramnet.gain_rule.weight.any()


def test_bracket_conditioning_ships_where_it_beats_the_separate_inverse_and_changes_only_the_conditioning():
    entries = {name: entry["brackets"] for name, entry in registry().items() if "brackets" in entry}
    assert set(entries) == {"generic", "nikon-d7000", "sony-a7r3"}
    shipped = 0
    for name, entry in entries.items():
        scores = entry["validation"]
        assert ("inverse" in entry) == (scores["brackets"]["score"] > scores["separate"]["score"]), name
        if "inverse" not in entry:
            continue
        shipped += 1
        separate = load_isp(name, directions=("inverse",))
        isp = load_isp(name, directions=("inverse",), pair="brackets")
        assert isp.bracket_conditioned and not separate.bracket_conditioned
        assert isp.weight_files == {"inverse": separate.weight_files["inverse"],
                                    "inverse_conditioning": weights_dir() / entry["inverse"]}  # fmt: skip
        base = separate.inverse_model.state_dict()
        moved = [k for k, v in isp.inverse_model.state_dict().items() if not torch.equal(v, base[k])]
        assert moved and all(is_conditioning(k) for k in moved), name
        assert "inverse conditioned for brackets" in isp.description
    assert shipped
    # The held-out body runs the camera-agnostic inverse, so it takes its conditioning; the forward is untouched.
    held_out = load_isp(HELD_OUT_PROFILES[0], pair="brackets")
    assert held_out.weight_files == {**load_isp("generic", pair="brackets").weight_files}
    assert held_out.weight_files["forward"] == load_isp(HELD_OUT_PROFILES[0]).weight_files["forward"]
    # A body with an inverse of its own and no conditioning for it keeps its separate inverse, and says so.
    d40 = load_isp("nikon-d40", pair="brackets")
    assert d40.weight_files == load_isp("nikon-d40").weight_files and not d40.bracket_conditioned
    assert "no bracket conditioning" in d40.description
    # A conditioning file belongs to the checkpoint it was made over: a given inverse file goes without it.
    given = load_isp("nikon-d7000", inverse_weights=weights_dir() / "nikon-d7000.inverse.safetensors", pair="brackets")
    assert not given.bracket_conditioned


def test_python_api_round_trip_shapes_and_refusals():
    isp = load_isp("samsung-s7")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        raw = read_raw(D30)
    crop = raw.tensor()[..., 200:296, 300:428]
    meta = raw.meta.replace(image_size_hw=(96, 128), default_crop_tlhw=None)
    srgb = isp.forward(crop, meta)
    assert srgb.shape == (1, 3, 96, 128) and float(srgb.min()) >= 0 and float(srgb.max()) <= 1
    back = isp.inverse(srgb, meta)
    assert back.shape == (1, 1, 96, 128)
    with pytest.raises(BadInputError, match="no shipped weights for camera 'leica-m3'"):
        load_isp("leica-m3")


@pytest.fixture(scope="module")
def rotated_jpeg(tmp_path_factory):
    """A real camera JPEG stored as a camera turned clockwise would store it (EXIF Orientation 6)."""
    path = tmp_path_factory.mktemp("photos") / "canon_40d_portrait.jpg"
    im = Image.open(DATA / "exif" / "Canon_40D.jpg")
    exif = im.getexif()
    exif[274] = 6
    im.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif.tobytes(), quality=95)
    return path


def test_to_raw_writes_a_dng_that_other_readers_open_upright_with_the_exif(tmp_path, rotated_jpeg):
    res = paramisp("to-raw", rotated_jpeg, "-o", tmp_path, "--camera", "nikon-d7000", "--json")
    assert res.returncode == 0, res.stderr
    record = json.loads(res.stdout)[0]
    dng = tmp_path / "canon_40d_portrait.dng"
    stored = read_image(rotated_jpeg, to="sensor")
    with rawpy.imread(str(dng)) as r:
        assert r.raw_image_visible.shape == stored.size_hw
        assert r.sizes.flip == 6  # LibRaw shows it upright
        assert r.other.iso_speed == 100
        # LibRaw's own rendering (what dcraw_emu writes) comes out upright, with the photo's upright shape.
        rendered = r.postprocess(use_camera_wb=True)
    assert rendered.shape[:2] == tuple(to_upright_shape(stored.size_hw, stored.meta.orientation))
    with open(dng, "rb") as f:
        tags = exifread.process_file(f, details=False)
    assert str(tags["EXIF ExposureTime"]) == "1/160" and str(tags["EXIF FNumber"]) == "71/10"
    assert str(tags["EXIF FocalLength"]) == "135" and "Rotated 90 CW" in str(tags["Image Orientation"])
    assert "WB estimated" in str(tags["Image ImageDescription"]) and record["wb_source"] == "estimated"


@pytest.fixture(scope="module")
def coolpix_crop(tmp_path_factory):
    """A 96x64 corner of a real camera JPEG with its EXIF: a bright scene (ISO 64, 1/75 s, f/5.9), so daylight."""
    path = tmp_path_factory.mktemp("photos") / "dscn0010_crop.jpg"
    im = Image.open(DATA / "exif" / "DSCN0010.jpg")
    im.crop((0, 0, 96, 64)).save(path, exif=im.getexif().tobytes(), quality=95)
    return path


def dng_description(path) -> str:
    with open(path, "rb") as f:
        return str(exifread.process_file(f, details=False)["Image ImageDescription"])


def test_to_raw_exif_overrides_change_only_what_they_name(tmp_path, coolpix_crop):
    dng = tmp_path / "x.dng"
    res = paramisp("to-raw", coolpix_crop, "-o", dng, "--camera", "nikon-d7000", "--iso", "1600",
                   "--exposure-time", "0.5", "--json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    written = json.loads(res.stdout)[0]["metadata"]
    recorded = read_image(coolpix_crop, to="sensor").meta
    assert (written["iso"], written["exposure_time_s"]) == (1600, 0.5)
    assert (written["f_number"], written["focal_length_mm"]) == (recorded.f_number, recorded.focal_length_mm)
    # The light is the recorded shot's (bright: near daylight); the overrides alone would have made it indoor light.
    camera = get_camera("nikon-d7000")
    light = photo_white_balance(camera, recorded)
    as_overridden = photo_white_balance(camera, recorded.with_exif(iso=1600, exposure_time_s=0.5))
    assert light.cct_k > 5000 and as_overridden.cct_k < 4000
    assert written["wb_gains"] == pytest.approx(light.gains)
    assert light.describe() in dng_description(dng)


def test_to_raw_provenance_names_the_weight_file_it_used(tmp_path, coolpix_crop):
    mine = tmp_path / "mine.inverse.safetensors"
    mine.write_bytes((weights_dir() / "generic.inverse.safetensors").read_bytes())
    dng = tmp_path / "x.dng"
    res = paramisp("to-raw", coolpix_crop, "-o", dng, "--camera", "nikon-d90", "--weights", mine, "--json")
    assert res.returncode == 0, res.stderr
    record = json.loads(res.stdout)[0]
    assert record["camera"] == "nikon-d90" and record["weights"] == "custom"
    assert record["weights_description"] == f"inverse weights {mine}"
    for provenance in (dng_description(dng), res.stderr):
        assert f"sensor of camera nikon-d90, inverse weights {mine}," in provenance


def to_upright_shape(hw, orientation: int):
    return hw[::-1] if orientation >= 5 else hw


def test_to_srgb_on_the_d30_is_registered_to_its_camera_jpeg(tmp_path):
    res = paramisp("to-srgb", D30, "-o", tmp_path / "d30.png", "--json")
    assert res.returncode == 0, res.stderr
    assert "camera-agnostic" in res.stderr  # no shipped weights for a Canon EOS D30
    ours = torch.from_numpy(np.asarray(Image.open(tmp_path / "d30.png"), dtype=np.float32) / 255).permute(2, 0, 1)[None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        raw = read_raw(D30)
    jpeg = find_camera_jpeg(D30)
    reg = register_camera_jpeg(raw, jpeg.image)
    # Our rendering lies on the RAW grid (upright = sensor orientation here), so the JPEG's registration maps
    # it onto the JPEG: what is left must be (almost) no shift and a high structural agreement.
    on_jpeg = warp_raw_to_jpeg(ours, reg)
    from skimage.registration import phase_cross_correlation

    a = on_jpeg[0].mean(0).numpy()
    b = jpeg.image[0].mean(0).numpy()
    shift, _, _ = phase_cross_correlation(b, a, upsample_factor=20, normalization=None)
    assert np.abs(shift).max() <= 0.5, shift
    corr = np.corrcoef(np.diff(a, axis=1).ravel(), np.diff(b, axis=1).ravel())[0, 1]
    assert corr > 0.8, corr


def test_bad_inputs_get_one_line_reasons(tmp_path):
    forward_file = weights_dir() / "generic.forward.safetensors"
    plain = tmp_path / "plain.jpg"
    Image.fromarray((np.random.default_rng(0).random((40, 52, 3)) * 255).astype(np.uint8)).save(plain)
    nan = tmp_path / "nan.tif"
    a = np.full((32, 32, 3), 0.5, dtype=np.float32)
    a[3, 4, 1] = np.inf
    tifffile.imwrite(nan, a, photometric="rgb")
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (1, 1), (128, 64, 32)).save(tiny)

    wrong = paramisp("to-raw", plain, "-o", tmp_path / "a", "-w", forward_file)
    assert wrong.returncode == 2 and "expected inverse" in wrong.stderr and TRACEBACK not in wrong.stderr
    unknown = paramisp("to-srgb", D30, "-o", tmp_path / "b", "--camera", "leica-m3")
    assert unknown.returncode == 2 and "no shipped weights for camera 'leica-m3'" in unknown.stderr
    res = paramisp("to-raw", plain, nan, tiny, "-o", tmp_path / "c", "--json")
    assert TRACEBACK not in res.stderr
    assert res.returncode == 2  # the non-finite TIFF
    records = {r["file"].split("/")[-1]: r for r in json.loads(res.stdout)}
    assert records["plain.jpg"]["ok"] and set(records["plain.jpg"]["unknown_exif"]) == {
        "exposure_time_s", "iso", "f_number", "focal_length_mm"}  # fmt: skip
    assert records["plain.jpg"]["wb_source"] == "daylight"  # no exposure EXIF: the documented fallback
    assert "no EXIF" in res.stderr
    assert not records["nan.tif"]["ok"] and "NaN or infinite" in records["nan.tif"]["error"]
    assert records["tiny.png"]["ok"]  # a 1x1 photo gives a 1x1 DNG (LibRaw opens none under 22 px)

"""apps.dataset_synth: the blur physics against its definitions, and the dataset job (layout, determinism,
resumption, shards, workers, bad input)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from apps.dataset_synth import BlurShotSpec, BlurSynthesizer, FrameDefaults, SynthSettings, blur_from_raw
from apps.dataset_synth.dataset import MANIFEST, JobSpec, Shard, read_manifests, run_job
from apps.dataset_synth.shot import parse_choice
from apps.dataset_synth.sources import plan_samples
from apps.dataset_synth.synth import extend_highlights, shake_photo
from core_isp.cameras import exposure_level, get_camera
from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.io.writers import write_png
from core_isp.isp import canonical_isp, load_isp
from core_isp.metadata import CameraMetadata
from core_isp.simulation.shake import ShakeRanges

CAMERA = get_camera("nikon-d7000")
STILL = ShakeRanges(length_fraction=(0.0, 0.0), roll_deg=(0.0, 0.0))


def _frames_meta(count: int, t: float = 1 / 240, iso: float = 800.0, f: float = 4.0) -> list[CameraMetadata]:
    base = CameraMetadata(exposure_time_s=t, iso=iso, f_number=f, focal_length_mm=24.0)
    return [CAMERA.raw_metadata(base, (2.0, 1.0, 1.5), "user").replace(image_size_hw=(32, 48))] * count


def _raw_frames(level: float, count: int, **meta: float) -> CameraImage:
    return CameraImage(torch.full((count, 1, 32, 48), level), tuple(_frames_meta(count, **meta)), "raw")


# -- the blurry shot's parameters ------------------------------------------------------------------------------


def test_derived_shot_sums_exposure_and_keeps_brightness() -> None:
    metas = _frames_meta(8, t=1 / 240, iso=800.0)
    shot = BlurShotSpec().draw(metas, CAMERA, np.random.default_rng(0), summed_exposure=True)
    assert shot.exposure_time_s == pytest.approx(8 / 240)
    assert shot.iso == pytest.approx(100.0)  # 800 / 8, already a third stop
    assert exposure_level(shot) == pytest.approx(exposure_level(metas[0]))
    assert shot.exposure_time_source == "synthesised"


def test_below_base_iso_the_lens_stops_down() -> None:
    metas = _frames_meta(8, t=1 / 240, iso=200.0, f=4.0)  # 200 / 8 = 25: two stops under base ISO 100
    shot = BlurShotSpec().draw(metas, CAMERA, np.random.default_rng(0), summed_exposure=True)
    assert shot.iso == 100.0
    assert shot.f_number == pytest.approx(8.0, rel=0.02)
    assert exposure_level(shot) == pytest.approx(exposure_level(metas[0]), rel=0.05)


def test_given_and_drawn_parameters() -> None:
    spec = BlurShotSpec(exposure_time_s=(0.01, 0.1), iso=400.0, f_number=2.8)
    draws = [spec.draw(_frames_meta(4), CAMERA, np.random.default_rng(s), True) for s in range(20)]
    assert all(0.01 <= d.exposure_time_s <= 0.1 and d.iso == 400.0 and d.f_number == 2.8 for d in draws)
    assert len({d.exposure_time_s for d in draws}) == 20
    assert parse_choice("1/60", "--x") == pytest.approx(1 / 60)
    assert parse_choice("100:1600", "--x") == (100.0, 1600.0)
    for bad in ("fast", "-1", "10:1"):
        with pytest.raises(BadInputError, match="--x"):
            parse_choice(bad, "--x")


def test_frame_defaults_fill_only_what_is_missing() -> None:
    filled = FrameDefaults().fill(CameraMetadata(iso=1600.0), exposure_time_s=1 / 30)
    assert (filled.iso, filled.exposure_time_s, filled.f_number) == (1600.0, 1 / 30, FrameDefaults.f_number)
    assert filled.exposure_time_source == "default" and filled.iso_source is None


# -- the physics ----------------------------------------------------------------------------------------------


def test_frames_add_up_to_the_exposure_and_noise_follows_the_camera() -> None:
    frames = _raw_frames(0.05, 8, iso=400.0)
    settings = SynthSettings(shot=BlurShotSpec(iso=100.0), highlight_gain=(1.0, 1.0))
    sample = blur_from_raw(frames, CAMERA, canonical_isp(), settings, np.random.default_rng(1), summed_exposure=True)
    # 8 frames of t at ISO 400 -> 8 t at ISO 100: twice the level per site, the sharp target likewise.
    torch.testing.assert_close(sample.sharp_raw.pixels, torch.full_like(sample.sharp_raw.pixels, 0.1))
    residual = (sample.blurry_raw.pixels - sample.sharp_raw.pixels).double()
    expected_std = float(CAMERA.noise.std(0.1, 100.0))
    assert abs(float(residual.mean())) < 0.1 * expected_std
    assert float(residual.std()) == pytest.approx(expected_std, rel=0.1)
    assert sample.blurry.meta.iso == 100.0 and sample.blurry.meta.exposure_time_s == pytest.approx(8 / 240)


def test_highlight_tone_priority_frames_are_a_stop_darker_in_raw() -> None:
    assert CAMERA.sensor.highlight_priority_iso == 800  # the D7000 profile's Active D-Lighting
    frames = _raw_frames(0.05, 8, iso=1600.0)  # recorded 1600, the sensor ran at 800
    settings = SynthSettings(shot=BlurShotSpec(iso=200.0), highlight_gain=(1.0, 1.0))
    sample = blur_from_raw(frames, CAMERA, canonical_isp(), settings, np.random.default_rng(1), summed_exposure=True)
    torch.testing.assert_close(sample.sharp_raw.pixels, torch.full_like(sample.sharp_raw.pixels, 0.1))
    assert sample.record["frame_gains"][0] == pytest.approx(0.25)


def test_clipping_at_white_and_highlight_extension() -> None:
    frames = _raw_frames(1.0, 4, iso=400.0)  # a blown area: the inverse gives white
    extended = extend_highlights(frames.pixels.double(), list(frames.metadata), 3.0)
    assert float(extended.max()) == pytest.approx(3.0, rel=1e-3)  # deep inside the area: the full gain
    settings = SynthSettings(shot=BlurShotSpec(iso=100.0), highlight_gain=(3.0, 3.0))
    sample = blur_from_raw(frames, CAMERA, canonical_isp(), settings, np.random.default_rng(0), summed_exposure=True)
    assert float(sample.sharp_raw.pixels.max()) <= 1.0
    assert sample.record["clipped_share"] > 0.99


def test_a_moving_highlight_streaks_brighter_when_extended() -> None:
    pixels = torch.full((1, 1, 32, 48), 0.02)
    pixels[..., 12:20, 4:12] = 1.0  # a clipped light
    photo = CameraImage(pixels, tuple(_frames_meta(1)), "raw")
    moved = torch.zeros(16, 1, 32, 48)
    for k in range(16):
        moved[k] = torch.roll(pixels[0], shifts=2 * k, dims=-1)
    frames = CameraImage(moved, photo.metadata * 16, "raw")
    means = []
    for gain in (1.0, 4.0):
        settings = SynthSettings(shot=BlurShotSpec(iso=100.0), highlight_gain=(gain, gain))
        s = blur_from_raw(frames, CAMERA, canonical_isp(), settings, np.random.default_rng(0), summed_exposure=False)
        means.append(float(s.blurry_raw.pixels[..., 12:20, 12:36].mean()))
    assert means[1] > 1.5 * means[0]


def test_a_still_photo_gives_the_photo_back_and_a_shaken_one_blurs() -> None:
    rng = np.random.default_rng(0)
    srgb = torch.from_numpy(rng.random((1, 3, 64, 96), dtype=np.float32)).clamp(0.1, 0.9)
    meta = CameraMetadata(exposure_time_s=1 / 50, iso=100.0, f_number=5.6, focal_length_mm=35.0)
    photo = CameraImage(srgb, (meta.replace(image_size_hw=(64, 96)),), "srgb")
    still = SynthSettings(shake=STILL, highlight_gain=(1.0, 1.0), white_balance="daylight")
    s = BlurSynthesizer(CAMERA, canonical_isp(), canonical_isp(), still).from_photo(photo, seed=3)
    torch.testing.assert_close(s.blurry_raw.pixels, s.sharp_raw.pixels, atol=6 * float(CAMERA.noise.std(0.9, 100)),
                               rtol=0)  # fmt: skip
    wide = SynthSettings(shake=ShakeRanges(length_fraction=(0.06, 0.06)))  # ~7 px at 64x96
    shaken = BlurSynthesizer(CAMERA, canonical_isp(), canonical_isp(), wide).from_photo(photo, seed=3)
    assert shaken.record["shake_extent_px"] > 0
    detail = [float(torch.diff(x.pixels, dim=-1).abs().mean()) for x in (shaken.blurry, shaken.sharp)]
    assert detail[0] < 0.6 * detail[1]


def test_with_the_residual_a_still_photos_sharp_target_is_the_photo_through_learned_isps() -> None:
    rng = np.random.default_rng(1)
    coarse = torch.from_numpy(rng.random((1, 3, 8, 12), dtype=np.float32))
    srgb = torch.nn.functional.interpolate(coarse, size=(64, 96), mode="bilinear") * 0.6 + 0.15
    meta = CameraMetadata(exposure_time_s=1 / 50, iso=200.0, f_number=5.6, focal_length_mm=35.0)
    photo = CameraImage(srgb, (meta.replace(image_size_hw=(64, 96)),), "srgb")
    isp = load_isp(CAMERA)
    still = SynthSettings(shake=STILL, highlight_gain=(1.0, 1.0), white_balance="daylight")
    plain = BlurSynthesizer(CAMERA, isp, isp, replace(still, residual=False)).from_photo(photo, seed=3)
    residual = BlurSynthesizer(CAMERA, isp, isp, still).from_photo(photo, seed=3)
    assert residual.record["shot"] == {"exposure_time_s": 1 / 50, "iso": 200.0, "f_number": 5.6,
                                       "focal_length_mm": 35.0}  # fmt: skip
    # The learned round trip misses the photo; the residual puts back what it missed, in both renders alike.
    assert float((plain.sharp.pixels - srgb).abs().mean()) > 1e-3
    torch.testing.assert_close(residual.sharp.pixels, srgb, atol=1e-5, rtol=0)
    torch.testing.assert_close(residual.blurry_raw.pixels, plain.blurry_raw.pixels)
    moved = residual.blurry.pixels - residual.sharp.pixels  # the noise only, as without the residual
    torch.testing.assert_close(moved, plain.blurry.pixels - plain.sharp.pixels, atol=2e-3, rtol=0)


def test_an_inverse_that_misses_the_level_is_corrected_by_its_forward() -> None:
    from core_isp.canonical.develop import undevelop
    from core_isp.chain import fit_raw_level, to_raw
    from core_isp.isp import FixedISP

    exact = canonical_isp()
    bright = FixedISP("too-bright", exact.process, lambda x, p: undevelop(x, p) * 1.6)
    rng = np.random.default_rng(0)
    coarse = torch.from_numpy(rng.random((1, 3, 10, 14), dtype=np.float32))  # smooth: demosaicing loses nothing
    srgb = torch.nn.functional.interpolate(coarse, size=(300, 420), mode="bilinear").clamp(0.05, 0.7)
    shot = CAMERA.raw_metadata(CameraMetadata(exposure_time_s=1 / 50, iso=800.0, f_number=4.0), (2.0, 1.0, 1.5), "user")
    photo = CameraImage(srgb, (shot.replace(image_size_hw=(300, 420)),), "srgb")
    raw = to_raw(photo, bright, list(photo.metadata))
    assert fit_raw_level(raw, photo, exact) == pytest.approx(1 / 1.6, rel=0.03)
    assert fit_raw_level(to_raw(photo, exact, list(photo.metadata)), photo, exact) == pytest.approx(1.0, rel=0.03)
    plain = CameraMetadata(exposure_time_s=1 / 50, iso=400.0, f_number=4.0, image_size_hw=(64, 96))  # no HTP
    frames = [CameraImage(srgb[..., :64, :96].clone(), (plain,), "srgb")] * 3
    # Without the residual: it would put back what the level misses, hiding what the fit does.
    settings = SynthSettings(highlight_gain=(1.0, 1.0), white_balance="daylight", max_step_px=None, residual=False)
    fitted = BlurSynthesizer(CAMERA, bright, exact, settings).from_frames(frames, seed=0)
    blind = BlurSynthesizer(CAMERA, bright, exact, replace(settings, fit_level=False)).from_frames(frames, seed=0)
    assert fitted.record["level_gains"] == [pytest.approx(1 / 1.6, rel=0.03)] * 3
    # The sharp target keeps the frames' brightness (the blurry shot's exposure is derived to keep it) only when fitted.
    frame = frames[0].pixels[..., :64, :96]
    assert float((fitted.sharp.pixels - frame).abs().mean()) < 0.03  # the shot keeps it to a third of a stop
    assert float((blind.sharp.pixels - frame).mean()) > 0.05


def test_shaking_keeps_the_cfa_phase() -> None:
    raw = CameraImage(torch.rand(1, 1, 32, 48), tuple(_frames_meta(1)), "raw")
    from core_isp.simulation.shake import ShakePath

    path = ShakePath(np.array([[2.0, 0.0], [0.0, 0.0]]), np.zeros(2))
    frames = shake_photo(raw, path)
    torch.testing.assert_close(frames.pixels[1], raw.pixels[0])
    torch.testing.assert_close(frames.pixels[0, ..., 2:-2], raw.pixels[0, ..., :-4])


def test_fast_motion_gets_in_between_frames_along_the_flow() -> None:
    from apps.dataset_synth.interpolate import interpolate_frames
    from core_isp.simulation.scenes import dead_leaves

    scene = torch.from_numpy(dead_leaves(96, 176, 1)).float().mean(0)[None, None] * 0.3
    meta = _frames_meta(2)
    frames = torch.cat([scene[..., :, 0:144], scene[..., :, 8:152]])  # the content moves 8 px left
    out, per_gap = interpolate_frames(frames, meta, max_step_px=2.0)
    assert per_gap >= 3 and out.shape[0] == 2 + per_gap
    torch.testing.assert_close(out[0], frames[0]) and torch.testing.assert_close(out[-1], frames[1])
    truth = scene[0, ..., 4:148]
    middle = out[out.shape[0] // 2][..., 8:-8, 8:-8]
    cross_fade = frames.mean(0)[..., 8:-8, 8:-8]
    assert float((middle - truth[..., 8:-8, 8:-8]).abs().mean()) < 0.4 * float(
        (cross_fade - truth[..., 8:-8, 8:-8]).abs().mean()
    )
    still, none = interpolate_frames(torch.cat([frames[:1], frames[:1]]), meta, max_step_px=2.0)
    assert none == 0 and still.shape[0] == 2


# -- the dataset job ------------------------------------------------------------------------------------------


def _video(path: Path, frames: int, size: tuple[int, int] = (48, 64)) -> Path:
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (size[0], size[1] + frames, 3), dtype=np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=24)
        stream.width, stream.height, stream.pix_fmt = size[1], size[0], "yuv420p"
        for k in range(frames):
            image = np.ascontiguousarray(base[:, k : k + size[1]])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("synth-inputs")
    clip = _video(root / "clip.mp4", 9)
    folder = root / "burst"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for k in range(4):
        write_png(folder / f"f{k:02d}.png", torch.from_numpy(rng.random((3, 40, 56), dtype=np.float32)))
    photo = root / "photo.png"
    write_png(photo, torch.from_numpy(rng.random((3, 40, 56), dtype=np.float32)))
    return {"clip": clip, "folder": folder, "photo": photo}


def _spec(inputs: dict[str, Path], **kw: object) -> JobSpec:
    return JobSpec((str(inputs["clip"]), str(inputs["folder"]), str(inputs["photo"])), "nikon-d7000", window=3,
                   seed=7, **kw)  # type: ignore[arg-type]  # fmt: skip


def _lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]


@pytest.fixture(scope="module")
def reference(inputs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    torch.set_num_threads(1)  # the worker processes' count, so outputs match bit for bit
    report = run_job(_spec(inputs, raw=True), out, progress=False)
    assert (report.samples, report.made) == (5, 5)
    return out


def test_plan_names_and_layout(inputs: dict[str, Path], reference: Path) -> None:
    names = [p.name for p in plan_samples([str(inputs["clip"]), str(inputs["folder"]), str(inputs["photo"])], 3)]
    assert names == ["clip_00000", "clip_00001", "clip_00002", "burst_00000", "photo"]
    records = _lines(reference)
    assert [r["name"] for r in records] == names and [r["index"] for r in records] == list(range(5))
    for r in records:
        for kind in ("blurry", "sharp", "raw_blurry", "raw_sharp"):
            assert (reference / r["files"][kind]["path"]).is_file()
    assert records[0]["input"]["frame_numbers"] == [0, 2] and records[0]["shot"]["exposure_time_s"] == 3 / 24
    assert "shake" in records[-1] and records[-1]["frames"] == SynthSettings().photo_subframes


def test_same_seed_same_dataset_other_seed_other(inputs: dict[str, Path], reference: Path, tmp_path: Path) -> None:
    run_job(_spec(inputs, raw=True), tmp_path / "again", progress=False)
    assert _lines(tmp_path / "again") == _lines(reference)
    other = _spec(inputs, raw=True)
    other = JobSpec(other.inputs, other.camera, other.window, 8, other.settings, raw=True)
    run_job(other, tmp_path / "other", progress=False)
    pairs = list(zip(_lines(tmp_path / "other"), _lines(reference), strict=True))
    assert all(a["highlight_gain"] != b["highlight_gain"] for a, b in pairs)  # every sample draws anew
    # The pixels change wherever a draw reaches them: a shake path, or noise (frames that already carry the shot's
    # noise get none added, so their blurry image is the same whatever the seed).
    reached = [(a, b) for a, b in pairs if "shake" in a or a["noise_present"] < 1.0]
    assert reached and all(a["files"]["blurry"]["sha256"] != b["files"]["blurry"]["sha256"] for a, b in reached)


def test_a_killed_run_resumes_to_the_same_dataset(inputs: dict[str, Path], reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    run_job(_spec(inputs, raw=True), out, progress=False)
    lines = (out / MANIFEST).read_text().splitlines(keepends=True)
    # Killed while sample 3 was being written: its file half there, its manifest line torn.
    (out / MANIFEST).write_text("".join(lines[:3]) + lines[3][:40])
    (out / "blurry" / "burst_00000.png").write_bytes(b"\x89PNG half")
    (out / "sharp" / "photo.png").unlink()
    report = run_job(_spec(inputs, raw=True), out, progress=False)
    assert (report.made, report.skipped) == (2, 3)
    assert _lines(out) == _lines(reference)


def test_shards_and_workers_make_the_same_manifest(inputs: dict[str, Path], reference: Path, tmp_path: Path) -> None:
    out = tmp_path / "sharded"
    for i in range(2):
        run_job(_spec(inputs, raw=True), out, shard=Shard(i, 2), progress=False)
    assert sorted(r["name"] for r in read_manifests(out).values()) == sorted(r["name"] for r in _lines(reference))
    report = run_job(_spec(inputs, raw=True), out, progress=False)  # the unsharded run merges the shards
    assert report.made == 0 and _lines(out) == _lines(reference)
    assert not list(out.glob("manifest-*"))
    run_job(_spec(inputs, raw=True), tmp_path / "pool", workers=2, progress=False)
    assert _lines(tmp_path / "pool") == _lines(reference)


def test_the_ray_backend_makes_the_same_manifest(inputs: dict[str, Path], reference: Path, tmp_path: Path) -> None:
    ray = pytest.importorskip("ray", reason="the Ray backend is tested where the [ray] extra is installed (CI has it)")
    try:
        run_job(_spec(inputs, raw=True), tmp_path / "ray", workers=2, backend="ray", progress=False)
    finally:
        ray.shutdown()
    assert _lines(tmp_path / "ray") == _lines(reference)


def test_bad_input(inputs: dict[str, Path], reference: Path, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match=r"holds a different dataset .*seed"):
        run_job(JobSpec(_spec(inputs).inputs, "nikon-d7000", 3, 99, raw=True), reference, progress=False)
    # Another pair of ISPs is another dataset: the weights that run are part of its identity.
    with pytest.raises(BadInputError, match=r"holds a different dataset .*weights_sha256"):
        run_job(_spec(inputs, raw=True, pair="separate"), reference, progress=False)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(BadInputError, match=r"junk\.mp4: cannot read as video"):
        plan_samples([str(junk)], 3)
    with pytest.raises(BadInputError, match="too few for a window of 20"):
        plan_samples([str(inputs["clip"])], 20)
    with pytest.raises(BadInputError, match="needs --window"):
        plan_samples([str(inputs["clip"])], None)
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    write_png(mixed / "a.png", torch.rand(3, 40, 56))
    write_png(mixed / "b.png", torch.rand(3, 40, 58))
    with pytest.raises(BadInputError, match="frames differ in size"):
        run_job(JobSpec((str(mixed),), "nikon-d7000"), tmp_path / "mixed-out", progress=False)
    for spec in ("2/2", "1", "a/b", "0/0"):
        with pytest.raises(BadInputError, match="--shard"):
            Shard.parse(spec)
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    with pytest.raises(BadInputError, match="not empty"):
        run_job(_spec(inputs), kept, progress=False)
    assert (kept / "notes.txt").read_text() == "mine"

"""apps.deblur: the network's shape contract and locality (tiles equal one pass), that it learns a blur, the RAW and
photo paths of the API with their documented defaults, weight files, training pairs and ``paramisp deblur``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from apps.dataset_synth.dataset import MANIFEST, append_record
from apps.deblur import (
    DeblurConfig,
    DeblurNet,
    Deblurrer,
    PairSet,
    TrainSettings,
    deblur_mosaic,
    deblur_tensor,
    load_weights,
    random_crops,
    read_pair_folder,
    save_weights,
    srgb_average,
    srgb_shaken_average,
    train,
    write_pair,
)
from apps.deblur.train import deblur_loss
from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.io import read_raw
from core_isp.io.dng import write_dng
from core_isp.io.writers import write_png
from core_isp.isp import InferenceOptions, canonical_isp
from core_isp.metadata import CameraMetadata
from core_isp.simulation.shake import ShakePath
from core_isp.weights import __file__ as weights_init

#: A small network: two levels, width 8 (the tests are about behaviour, not capacity).
TINY = {"width": 8, "encoder_blocks": (1, 1), "middle_blocks": 1, "condition_width": 8}
RAW_META = CameraMetadata(make="NIKON CORPORATION", model="NIKON D7000", cfa_pattern="GBRG",
                          black_level_per_site=(0.0, 0.0, 0.0, 0.0), white_level=1.0, wb_gains=(2.0, 1.0, 1.5),
                          wb_source="as_shot", ccm_wb_cam_to_srgb=((1, 0, 0), (0, 1, 0), (0, 0, 1)),
                          exposure_time_s=1 / 30, iso=800.0, f_number=4.0, focal_length_mm=35.0)  # fmt: skip


def _net(domain: str, seed: int = 0) -> DeblurNet:
    """A tiny network with every weight random, residual scales included (at their zero init each block is the
    identity, which would make locality trivially true)."""
    torch.manual_seed(seed)
    net = DeblurNet(DeblurConfig.for_domain(domain, **TINY))  # type: ignore[arg-type]
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith(("beta", "gamma")):
                p.normal_(0.0, 0.5)
    return net.eval()


def _smooth(shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    """Smooth random content in [0.1, 0.8]: coarse noise upsampled."""
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(shape[0], shape[1], shape[2] // 8 + 1, shape[3] // 8 + 1, generator=g)
    return torch.nn.functional.interpolate(coarse, size=shape[2:], mode="bicubic").clamp(0, 1) * 0.7 + 0.1


@pytest.mark.parametrize(("domain", "channels", "size"), [("raw", 4, (32, 48)), ("srgb", 3, (64, 32))])
@pytest.mark.parametrize("batch", [1, 3])
def test_network_keeps_shape_and_passes_gradients(domain: str, channels: int, size: tuple, batch: int) -> None:
    net = _net(domain).train()
    x = torch.rand(batch, channels, *size, requires_grad=True)
    y = net(x, torch.full((batch,), 400.0))
    assert y.shape == x.shape
    y.square().mean().backward()
    assert x.grad is not None and float(x.grad.abs().sum()) > 0
    assert all(p.grad is not None for p in net.parameters())


def test_network_output_depends_on_iso() -> None:
    net, x = _net("raw"), torch.rand(1, 4, 32, 32)
    assert not torch.allclose(net(x, torch.tensor([100.0])), net(x, torch.tensor([6400.0])))


def test_network_refuses_sizes_off_its_grid() -> None:
    with pytest.raises(ValueError, match="multiples of 4"):
        _net("raw")(torch.rand(1, 4, 30, 32), torch.tensor([100.0]))


@pytest.mark.parametrize("domain", ["raw", "srgb"])
def test_tiles_give_the_same_output_as_one_pass(domain: str) -> None:
    net = _net(domain)
    channels = 4 if domain == "raw" else 3
    x, iso = torch.rand(2, channels, 75, 101), torch.tensor([200.0, 3200.0])
    whole = deblur_tensor(net, x, iso, tile=None)
    assert whole.shape == x.shape
    # 40 and 24 are off the network's grid of 16 once shrunk to even tiles (3 x 27 rows, 3 x 36 columns): the
    # tiles must stay on the grid (a regression: a 720 x 1280 photo in tiles of 512 failed).
    for tile in (16, 40, 48):
        torch.testing.assert_close(deblur_tensor(net, x, iso, tile=tile), whole, atol=2e-5, rtol=0)


def test_mosaic_of_odd_size_and_any_phase_keeps_its_size_and_tiles_exactly() -> None:
    net = _net("raw")
    raw, meta = torch.rand(1, 1, 67, 91), [RAW_META.replace(image_size_hw=(67, 91))]
    whole = deblur_mosaic(net, raw, meta, torch.tensor([800.0]), InferenceOptions(tile=None))
    tiled = deblur_mosaic(net, raw, meta, torch.tensor([800.0]), InferenceOptions(tile=24))
    assert whole.shape == raw.shape and float(whole.min()) >= 0.0 and float(whole.max()) <= 1.0
    torch.testing.assert_close(tiled, whole, atol=2e-5, rtol=0)


def _blurred_pairs(copies: int = 2) -> PairSet:
    """One sRGB pair under several sample names, its blur a horizontal 9-pixel box: the held-out copy then scores
    how well the network fits the pair it learnt."""
    dots = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2)) > 0.9
    sharp = _smooth((1, 3, 64, 64), seed=1) + 0.15 * dots
    box = torch.full((3, 1, 1, 9), 1 / 9)
    blurry = torch.nn.functional.conv2d(torch.nn.functional.pad(sharp, (4, 4, 0, 0), mode="replicate"), box, groups=3)
    return PairSet("srgb", (blurry[0],) * copies, (sharp[0],) * copies, torch.full((copies,), 100.0),
                   tuple(f"set{i}/blurry/s" for i in range(copies)), torch.ones(copies, 3))  # fmt: skip


def test_a_tiny_network_overfits_a_blurred_pair_and_checkpoints_what_it_did(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    settings = TrainSettings(domain="srgb", budget_min=None, max_steps=300, batch=4, crop_px=64, lr=3e-3,
                             val_share=0.5, checkpoint_every_s=1e9,
                             config=DeblurConfig.for_domain("srgb", **TINY))  # fmt: skip
    report = train(_blurred_pairs(), tmp_path / "w.safetensors", settings, {"folders": ["synthetic"]}, progress=False)
    record = report.record
    assert report.steps == 300 and record["steps"] == 300
    # Deblurred: the L1 falls to half the blurry input's (0.043).
    assert record["held_out_l1"] < 0.6 * record["held_out_input_l1"]
    _, info = load_weights(tmp_path / "w.safetensors", "srgb")
    assert json.loads(info.training)["data"]["folders"] == ["synthetic"] and info.code_version
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic write left no temporary file


def test_same_seed_and_step_budget_give_the_same_weights(tmp_path: Path) -> None:
    settings = TrainSettings(domain="srgb", budget_min=None, max_steps=3, batch=2, crop_px=32,
                             config=DeblurConfig.for_domain("srgb", **TINY))  # fmt: skip
    for name in ("a", "b"):
        train(_blurred_pairs(), tmp_path / f"{name}.safetensors", settings, progress=False)
    a, _ = load_weights(tmp_path / "a.safetensors")
    b, _ = load_weights(tmp_path / "b.safetensors")
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True))


@pytest.fixture(scope="module")
def weights(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("weights")
    out = {d: folder / f"{d}.safetensors" for d in ("raw", "srgb")}
    for domain, path in out.items():
        save_weights(_net(domain), path, {"budget_min": 0})
    return out


def test_raw_round_trip_through_the_api_keeps_size_and_metadata(weights: dict[str, Path]) -> None:
    raw = CameraImage.raw(_smooth((1, 1, 66, 90)), RAW_META.replace(image_size_hw=(66, 90)))
    deblurrer = Deblurrer.load(weights["raw"], isp=canonical_isp(), options=InferenceOptions(tile=32))
    result = deblurrer.deblur(raw)
    assert result.raw is not None and result.raw.pixels.shape == raw.pixels.shape
    assert result.raw.meta == raw.meta and result.srgb.meta == raw.meta
    assert result.srgb.pixels.shape == (1, 3, 66, 90)
    assert result.record["iso"] == 800.0 and result.record["defaults"] == {}
    assert result.record["camera"] == "nikon-d7000"  # by make/model


def test_photo_without_exif_gets_the_documented_defaults_named(weights: dict[str, Path]) -> None:
    photo = CameraImage(_smooth((1, 3, 50, 70)), (CameraMetadata(),), "srgb")
    result = Deblurrer.load(weights["raw"], isp=canonical_isp()).deblur(photo)
    assert result.srgb.pixels.shape == (1, 3, 50, 70) and result.raw is not None
    assert set(result.record["defaults"]) == {"camera", "iso", "white_balance"}  # type: ignore[arg-type]
    assert result.record["iso"] == 100.0 and result.record["white_balance"] == "WB daylight (5500 K)"
    srgb_net = Deblurrer.load(weights["srgb"]).deblur(photo)
    assert srgb_net.raw is None and srgb_net.srgb.pixels.shape == (1, 3, 50, 70)


def test_residual_deblurring_changes_a_photo_only_where_the_network_does(weights: dict[str, Path]) -> None:
    shot = CameraMetadata(make="NIKON CORPORATION", model="NIKON D7000", exposure_time_s=1 / 30, iso=800.0,
                          f_number=4.0, focal_length_mm=35.0, image_size_hw=(48, 64))  # fmt: skip
    photo = CameraImage(_smooth((1, 3, 48, 64)), (shot,), "srgb")
    plain = Deblurrer.load(weights["raw"], camera="nikon-d7000", residual=False)
    residual = Deblurrer.load(weights["raw"], camera="nikon-d7000")
    for deblurrer in (plain, residual):  # the identity network: its output layer zeroed
        torch.nn.init.zeros_(deblurrer.model.ending.weight)
        torch.nn.init.zeros_(deblurrer.model.ending.bias)
    # The learned ISPs' round trip alone moves the photo; the residual path gives it back.
    assert float((plain.deblur(photo).srgb.pixels - photo.pixels).abs().mean()) > 1e-3
    torch.testing.assert_close(residual.deblur(photo).srgb.pixels, photo.pixels, atol=1e-6, rtol=0)


def test_wrong_kind_of_weights_is_refused_in_one_line(weights: dict[str, Path], tmp_path: Path) -> None:
    isp_file = Path(weights_init).parent / "generic.forward.safetensors"
    text = tmp_path / "notes.safetensors"
    text.write_text("not weights")
    for path, domain, message in (
        (isp_file, None, "a forward ISP checkpoint, not deblurring weights"),
        (weights["srgb"], "raw", "srgb deblurring weights, expected raw"),
        (text, None, "not a readable safetensors file"),
    ):
        with pytest.raises(BadInputError, match=message) as caught:
            load_weights(path, domain)  # type: ignore[arg-type]
        assert "\n" not in str(caught.value)
    with pytest.raises(BadInputError, match="RAW deblurring network takes the 4 packed"):
        DeblurConfig(domain="raw", channels=3)


def test_srgb_average_is_the_mean_with_the_noise_of_n_frames() -> None:
    frames = [CameraImage(torch.full((1, 3, 8, 8), v), (CameraMetadata(iso=800.0),), "srgb") for v in (0.2, 0.4, 0.9)]
    blurry, sharp = srgb_average(frames)
    torch.testing.assert_close(blurry.pixels, torch.full((1, 3, 8, 8), 0.5))
    assert sharp is frames[1] and blurry.meta.iso == pytest.approx(800.0 / 3)


def test_srgb_shaken_average_is_the_mean_of_moved_copies_with_the_photo_as_target() -> None:
    torch.manual_seed(0)
    photo = CameraImage(torch.rand(1, 3, 12, 16), (CameraMetadata(iso=800.0),), "srgb")
    still = ShakePath(np.zeros((4, 2)), np.zeros(4))
    blurry, sharp = srgb_shaken_average(photo, still)
    assert sharp is photo and blurry.meta.iso == 800.0  # copies share one noise: the ISO stays
    torch.testing.assert_close(blurry.pixels, photo.pixels, rtol=0, atol=0)
    # Whole-pixel shifts one column left and right: away from the borders, the mean of the two neighbours.
    blurry, _ = srgb_shaken_average(photo, ShakePath(np.array([[-1.0, 0.0], [1.0, 0.0]]), np.zeros(2)))
    expected = (photo.pixels[..., 2:] + photo.pixels[..., :-2]) / 2
    torch.testing.assert_close(blurry.pixels[..., 1:-1], expected, rtol=0, atol=1e-6)


def test_white_balanced_loss_weighs_a_plane_by_its_gain() -> None:
    target = torch.full((2, 4, 8, 8), 0.1)
    pred = target.clone()
    pred[:, 0] += 0.02  # an error in the red plane only
    plain = deblur_loss(pred, target, "raw")
    assert float(deblur_loss(pred, target, "raw", torch.ones(2, 4))) == pytest.approx(float(plain), abs=1e-7)
    red_gain = torch.tensor([[2.0, 1.0, 1.0, 1.5]]).expand(2, -1)
    # The render multiplies the red plane by 2 before its curve: the same error weighs more (less than twice: the
    # curve flattens at the brighter level).
    assert 1.3 * float(plain) < float(deblur_loss(pred, target, "raw", red_gain)) < 2.0 * float(plain)
    blue_gain = torch.tensor([[1.0, 1.0, 1.0, 3.0]]).expand(2, -1)
    assert float(deblur_loss(pred, target, "raw", blue_gain)) == pytest.approx(float(plain), abs=1e-7)


def test_pair_folders_read_as_packed_raw_or_srgb_with_cell_aligned_crops(tmp_path: Path) -> None:
    meta = RAW_META.replace(image_size_hw=(48, 64))
    for name, iso in (("a", 400.0), ("b", 1600.0)):
        for folder in ("raw_blurry", "raw_sharp"):
            (tmp_path / folder).mkdir(exist_ok=True)
            write_dng(tmp_path / folder / f"{name}.dng", _smooth((1, 1, 48, 64)), meta)
        image = CameraImage(_smooth((1, 3, 48, 64)), (CameraMetadata(iso=iso),), "srgb")
        write_pair(tmp_path, name, image, image, {})
    raw = read_pair_folder(tmp_path, "raw")
    assert len(raw) == 2 and raw.blurry[0].shape == (4, 24, 32) and raw.iso.tolist() == [400.0, 1600.0]
    blurry, sharp, iso, gains = random_crops(raw, 5, 16, torch.Generator().manual_seed(0))
    assert blurry.shape == sharp.shape == (5, 4, 8, 8) and iso.shape == (5,)
    # The render's white balance on the planes R, Gr, Gb, B, relative to green.
    torch.testing.assert_close(gains, torch.tensor([[2.0, 1.0, 1.0, 1.5]]).expand(5, -1))
    srgb = read_pair_folder(tmp_path, "srgb")
    assert srgb.blurry[1].shape == (3, 48, 64) and len(srgb) == 2
    append_record(tmp_path / MANIFEST, {"name": "c", "shot": {"iso": 100.0}})
    with pytest.raises(BadInputError):
        read_pair_folder(tmp_path, "srgb")  # a recorded sample without its files


def _deblur(*args: str | Path) -> tuple[int, str]:
    from apps.deblur import cli  # noqa: F401  (registers the command)
    from paramisp.cli.main import app

    result = CliRunner().invoke(app, ["deblur", *map(str, args)])
    return result.exit_code, result.stdout


def test_cli_writes_render_and_raw_and_refuses_to_overwrite(weights: dict[str, Path], tmp_path: Path) -> None:
    torch.set_num_threads(1)
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_dng(inputs / "shot.dng", _smooth((1, 1, 48, 64)), RAW_META.replace(image_size_hw=(48, 64)))
    write_png(inputs / "plain.png", _smooth((1, 3, 48, 64))[0])
    out = tmp_path / "out"
    code, stdout = _deblur(inputs, "-o", out, "--weights", weights["raw"], "--raw", "--json")
    assert code == 0, stdout
    records = {Path(r["file"]).name: r for r in json.loads(stdout)}
    assert records["plain.png"]["defaults"]["iso"] == 100.0 and "camera" in records["plain.png"]["defaults"]
    assert read_raw(out / "shot.dng").pixels.shape == (1, 1, 48, 64) and (out / "shot.png").is_file()
    assert (out / "plain.png").is_file() and (out / "plain.dng").is_file()
    assert _deblur(inputs / "shot.dng", "-o", out / "shot.png", "--weights", weights["raw"])[0] == 2
    assert _deblur(inputs / "shot.dng", "-o", out / "shot.png", "--weights", weights["raw"], "--overwrite")[0] == 0
    isp_file = Path(weights_init).parent / "generic.forward.safetensors"
    assert _deblur(inputs / "shot.dng", "-o", tmp_path / "x.png", "--weights", isp_file)[0] == 2
    assert _deblur(inputs / "shot.dng", "-o", tmp_path / "x.png", "--weights", weights["srgb"], "--raw")[0] == 2

"""Metrics: PSNR/SSIM against scikit-image, the ParamISP five-crop protocol, ST-LPIPS against its reference
package, and the clean refusal of standard LPIPS where its weights are absent."""

from __future__ import annotations

import importlib.resources
import importlib.util
import math
import warnings
from pathlib import Path

import kornia
import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from conftest import DATA
from core_isp.errors import ParamispError
from core_isp.io.image_reader import read_image
from core_isp.metrics import (
    STLPIPS,
    ProtocolScores,
    five_crop_origins,
    five_crops,
    load_lpips,
    lpips_optional,
    lpips_unavailable_reason,
    mean_protocol_scores,
    paper_protocol_scores,
    psnr,
    shift_tolerant_lpips,
    ssim,
    st_lpips,
    standard_lpips,
)

PHOTO = DATA / "exif" / "DSCN0010.jpg"  # 640x480 real photo


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    """``(1, 3, 480, 640)`` float32 in [0, 1]."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # EXIF completeness is not under test here
        return read_image(PHOTO).pixels


@pytest.fixture(scope="module")
def model() -> STLPIPS:
    return STLPIPS()


def _skimage_ssim(pred: np.ndarray, target: np.ndarray, data_range: float = 1.0) -> float:
    """Reference SSIM of one ``(C, H, W)`` image, in the configuration our :func:`ssim` claims to equal."""
    return structural_similarity(
        pred,
        target,
        channel_axis=0,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=data_range,
    )


# ---------------------------------------------------------------- PSNR / SSIM


def test_psnr_known_value_and_range() -> None:
    target = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    pred = target + torch.tensor([0.1, 0.01]).view(2, 1, 1, 1)  # MSE 1e-2 and 1e-4
    torch.testing.assert_close(psnr(pred, target), torch.tensor([20.0, 40.0]))
    torch.testing.assert_close(psnr(pred * 255, target * 255, data_range=255.0), torch.tensor([20.0, 40.0]))
    assert psnr(target, target).isinf().all()


def test_psnr_matches_scikit_image(photo: torch.Tensor) -> None:
    target = photo[..., :64, :64].double()
    pred = (target + 0.05 * torch.randn(target.shape, generator=torch.Generator().manual_seed(1))).clamp(0, 1)
    want = peak_signal_noise_ratio(target[0].numpy(), pred[0].numpy(), data_range=1.0)
    assert psnr(pred, target).item() == pytest.approx(want, abs=1e-10)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-10), (torch.float32, 1e-5)])
@pytest.mark.parametrize("channels", [3, 1])
def test_ssim_matches_scikit_image(photo: torch.Tensor, dtype: torch.dtype, tol: float, channels: int) -> None:
    g = torch.Generator().manual_seed(2)
    target = torch.cat([photo[..., :48, :56], photo[..., 200:248, 300:356]])[:, :channels].to(dtype)
    pred = (target + 0.04 * torch.randn(target.shape, generator=g, dtype=dtype)).clamp(0, 1)
    pred[1] = kornia.filters.gaussian_blur2d(target[1:2], (5, 5), (1.2, 1.2))[0]
    got = ssim(pred, target)
    assert got.shape == (2,)
    for i in range(2):
        want = _skimage_ssim(pred[i].double().numpy(), target[i].double().numpy())
        assert got[i].item() == pytest.approx(want, abs=tol)


def test_ssim_inferred_range_matches_scikit_image() -> None:
    # A dim mosaic: the range torchmetrics infers (and the reference code used) is far below 1.
    g = torch.Generator().manual_seed(3)
    target = 0.25 * torch.rand(2, 1, 32, 40, generator=g, dtype=torch.float64)
    pred = target + 0.01 * torch.randn(target.shape, generator=g, dtype=torch.float64)
    inferred = max(float(pred.max() - pred.min()), float(target.max() - target.min()))
    got = ssim(pred, target, data_range=None)
    for i in range(2):
        want = _skimage_ssim(pred[i].numpy(), target[i].numpy(), data_range=inferred)
        assert got[i].item() == pytest.approx(want, abs=1e-10)
    assert not torch.allclose(got, ssim(pred, target))  # the choice of range matters


def test_ssim_identity_gradient_and_size_check(photo: torch.Tensor) -> None:
    target = photo[..., :32, :32]
    assert ssim(target, target).item() == pytest.approx(1.0, abs=1e-6)
    pred = (target * 0.9).requires_grad_()
    ssim(pred, target).sum().backward()
    assert pred.grad is not None and pred.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="11 pixels"):
        ssim(target[..., :10, :], target[..., :10, :])
    with pytest.raises(ValueError, match="differ in shape"):
        ssim(target, target[..., :31])


# ---------------------------------------------------------------- paper protocol


def test_five_crop_origins_known_values() -> None:
    # Centre, top-left, top-right, bottom-left, bottom-right of a 4000x3000 frame with 1024 crops.
    assert five_crop_origins(3000, 4000, 1024, 1024) == [(988, 1488), (0, 0), (0, 2976), (1976, 0), (1976, 2976)]
    # Odd origins round up to even, or down where rounding up would leave the image.
    assert five_crop_origins(151, 135, 64, 64) == [(44, 36), (0, 0), (0, 70), (86, 0), (86, 70)]
    assert five_crop_origins(64, 64, 64, 64) == [(0, 0)] * 5
    with pytest.raises(ValueError, match="does not fit"):
        five_crop_origins(60, 64, 64, 64)


@pytest.mark.parametrize("height, width, crop", [(151, 135, 64), (97, 203, 50), (41, 39, 1024)])
def test_five_crops_keep_the_cfa_phase(height: int, width: int, crop: int) -> None:
    rows = torch.arange(height).view(-1, 1) % 2
    cols = torch.arange(width).view(1, -1) % 2
    site = (2 * rows + cols).float()[None, None]  # 0=R, 1=G, 2=G, 3=B of an RGGB mosaic
    crops = five_crops(site, crop)
    assert crops.shape == (5, 1, min(crop, height), min(crop, width))
    for c in crops:
        assert c[0, :2, :2].tolist() == [[0.0, 1.0], [2.0, 3.0]]


def _protocol_by_hand(pred: np.ndarray, target: np.ndarray, origins: list[tuple[int, int]], crop: int):
    """The protocol written out in NumPy / scikit-image on ``(C, H, W)`` arrays."""
    pred = np.clip(pred, 0.0, 1.0)
    windows = [(slice(None), slice(r + 2, r + crop - 2), slice(c + 2, c + crop - 2)) for r, c in origins]
    cut = [(pred[w], target[w]) for w in windows]
    mse = np.mean([np.square(p - t) for p, t in cut])
    return 10 * math.log10(1.0 / mse), float(np.mean([_skimage_ssim(p, t) for p, t in cut]))


@pytest.mark.parametrize("channels", [3, 1])
def test_paper_protocol_matches_hand_computation(photo: torch.Tensor, channels: int) -> None:
    target = photo[:, :channels, 100:251, 200:335].double()  # 151x135: the rounding cases above
    # Out-of-range predictions: the protocol clips them before scoring.
    pred = target + 0.08 * torch.randn(target.shape, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    scores = paper_protocol_scores(pred, target, crop_size=64)
    origins = [(44, 36), (0, 0), (0, 70), (86, 0), (86, 70)]
    want_psnr, want_ssim = _protocol_by_hand(pred[0].numpy(), target[0].numpy(), origins, 64)
    assert scores.psnr_db == pytest.approx(want_psnr, abs=1e-9)
    assert scores.ssim == pytest.approx(want_ssim, abs=1e-9)
    # Joint PSNR is not the mean of per-crop PSNRs.
    crops_p, crops_t = five_crops(pred.clamp(0, 1), 64)[..., 2:-2, 2:-2], five_crops(target, 64)[..., 2:-2, 2:-2]
    assert psnr(crops_p, crops_t).mean().item() != pytest.approx(scores.psnr_db, abs=1e-6)


def test_paper_protocol_small_image_uses_whole_frame(photo: torch.Tensor) -> None:
    target = photo[..., :48, :40]
    pred = kornia.filters.gaussian_blur2d(target, (5, 5), (1.0, 1.0))
    scores = paper_protocol_scores(pred, target)  # crop 1024 shrinks to 48x40; all five crops coincide
    inner = (..., slice(2, -2), slice(2, -2))
    assert scores.psnr_db == pytest.approx(psnr(pred[inner], target[inner]).item(), abs=1e-4)
    assert scores.ssim == pytest.approx(ssim(pred[inner], target[inner]).item(), abs=1e-6)
    # Overshooting a clipped highlight costs nothing: the prediction is clipped to [0, 1] first.
    saturated = target.clamp(max=0.6) / 0.6
    overshoot = saturated.where(saturated < 1, 1.7)
    assert (overshoot > 1).sum() > 100
    perfect = paper_protocol_scores(overshoot, saturated)
    assert perfect.psnr_db == math.inf and perfect.ssim == pytest.approx(1.0, abs=1e-6)


def test_paper_protocol_shape_contract() -> None:
    x = torch.rand(2, 3, 32, 32)
    with pytest.raises(ValueError, match="1,C,H,W"):
        paper_protocol_scores(x, x)
    with pytest.raises(ValueError, match="mosaic"):
        paper_protocol_scores(x[:1, :2], x[:1, :2])


def test_mean_protocol_scores() -> None:
    mean = mean_protocol_scores(iter([ProtocolScores(30.0, 0.9), ProtocolScores(40.0, 0.8)]))
    assert mean.psnr_db == 35.0 and mean.ssim == pytest.approx(0.85)
    assert str(ProtocolScores(31.234, 0.91234)) == "PSNR 31.23 dB, SSIM 0.9123"
    with pytest.raises(ValueError, match="no scores"):
        mean_protocol_scores([])


# ---------------------------------------------------------------- ST-LPIPS

# Scores of the reference implementation, stlpips_pytorch 0.0.2:
# ``stlpips.LPIPS(net="alex", variant="shift_tolerant")(crop, other, normalize=True)``, run in a throwaway
# script outside the repository (its torchvision / IPython / torchsummary imports stubbed, as none is used by
# that network), on the pairs built by ``_reference_pairs``. Our module agreed to within 3e-8 on these and on
# 86 further pairs (random images of 32 to 256 pixels a side; blurred, noisy and shifted photo crops).
REFERENCE_ST_LPIPS = {"blur": 0.5007933974266052, "shift": 0.0060127186588943005, "noise": 0.014634443446993828}


def _reference_pairs(photo: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    crop = photo[..., 96:224, 200:328]
    noise = 0.03 * torch.randn(crop.shape, generator=torch.Generator().manual_seed(0))
    return {
        "blur": (crop, kornia.filters.gaussian_blur2d(crop, (7, 7), (1.5, 1.5))),
        "shift": (crop, photo[..., 96:224, 201:329]),
        "noise": (crop, (crop + noise).clamp(0, 1)),
    }


def test_st_lpips_matches_reference_package(photo: torch.Tensor, model: STLPIPS) -> None:
    pairs = _reference_pairs(photo)
    for name, (a, b) in pairs.items():
        assert model(a, b).item() == pytest.approx(REFERENCE_ST_LPIPS[name], abs=2e-5), name
    # Batched scoring and the shared functional model give the same numbers.
    a = torch.cat([a for a, _ in pairs.values()])
    b = torch.cat([b for _, b in pairs.values()])
    torch.testing.assert_close(st_lpips(a, b), torch.tensor(list(REFERENCE_ST_LPIPS.values())), atol=2e-5, rtol=0)


def test_st_lpips_identical_images_score_zero(photo: torch.Tensor, model: STLPIPS) -> None:
    x = photo[..., :64, :96]
    assert model(x, x).abs().max().item() < 1e-7


def test_st_lpips_grows_with_blur_and_noise(photo: torch.Tensor, model: STLPIPS) -> None:
    crop = photo[..., 300:428, 400:528]
    blurred = [kornia.filters.gaussian_blur2d(crop, (11, 11), (s, s)) for s in (0.5, 1.0, 1.5, 2.0, 3.0)]
    noise = torch.randn(crop.shape, generator=torch.Generator().manual_seed(1))
    noisy = [(crop + s * noise).clamp(0, 1) for s in (0.01, 0.02, 0.05, 0.1, 0.2)]
    for degraded in (blurred, noisy):
        scores = model(crop.expand(len(degraded), -1, -1, -1), torch.cat(degraded))
        assert (scores.diff() > 0).all(), scores


def test_st_lpips_tolerates_a_one_pixel_shift(photo: torch.Tensor, model: STLPIPS) -> None:
    crop = photo[..., 96:224, 200:328]
    shifted = photo[..., 96:224, 201:329]
    # Noise of exactly the same MSE as the shift.
    noise = torch.randn(crop.shape, generator=torch.Generator().manual_seed(2))
    noise *= (shifted - crop).square().mean().sqrt() / noise.square().mean().sqrt()
    shift_score, noise_score = model(crop, shifted).item(), model(crop, crop + noise).item()
    assert shift_score < 0.1 * noise_score, (shift_score, noise_score)


def test_st_lpips_is_differentiable_and_frozen(photo: torch.Tensor, model: STLPIPS) -> None:
    target = photo[..., :64, :64]
    pred = kornia.filters.gaussian_blur2d(target, (5, 5), (1.0, 1.0)).requires_grad_()
    model(pred, target).sum().backward()
    assert pred.grad is not None and pred.grad.isfinite().all() and pred.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in model.parameters())
    assert not model.training and STLPIPS.label == "ST-LPIPS"
    with pytest.raises(ValueError, match="21 pixels"):
        model(target[..., :20, :], target[..., :20, :])


def _packaged_weights() -> dict[str, torch.Tensor]:
    source = importlib.resources.files("stlpips_pytorch") / "weights/vST0.0/alex_shift_tolerant.pth"
    with source.open("rb") as f:
        return torch.load(f, map_location="cpu", weights_only=True)


def test_st_lpips_loads_every_tensor_of_the_file(model: STLPIPS) -> None:
    file = _packaged_weights()
    assert len(file) == len(model.state_dict()) == 20
    torch.testing.assert_close(model.stage_weights[2].weight, file["lin2.model.1.weight"], rtol=0, atol=0)
    torch.testing.assert_close(model.trunk.conv5.bias, file["net.slice5.13.bias"], rtol=0, atol=0)
    torch.testing.assert_close(model.input_scale, file["scaling_layer.scale"], rtol=0, atol=0)


def test_st_lpips_loading_is_strict(tmp_path: Path) -> None:
    extra = _packaged_weights() | {"net.slice6.0.weight": torch.zeros(1)}
    torch.save(extra, tmp_path / "extra.pth")
    with pytest.raises(RuntimeError, match="Unexpected key"):
        STLPIPS(tmp_path / "extra.pth")
    short = _packaged_weights()
    del short["lin4.model.1.weight"]
    torch.save(short, tmp_path / "short.pth")
    with pytest.raises(RuntimeError, match="Missing key"):
        STLPIPS(tmp_path / "short.pth")


def test_st_lpips_missing_weights_raise_one_line_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ParamispError, match="pip install stlpips-pytorch") as missing_file:
        STLPIPS(tmp_path / "absent.pth")

    def no_package(name: str):
        raise ModuleNotFoundError(name)

    monkeypatch.setattr(shift_tolerant_lpips.importlib.resources, "files", no_package)
    with pytest.raises(ParamispError, match="pip install stlpips-pytorch") as missing_package:
        STLPIPS()
    for error in (missing_file, missing_package):
        assert "\n" not in str(error.value) and "ST-LPIPS" in str(error.value)


# ---------------------------------------------------------------- optional standard LPIPS


def test_lpips_refuses_cleanly_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lpips_optional, "_package_dir", lambda name: None)
    reason = lpips_unavailable_reason()
    assert reason is not None and "lpips" in reason and "\n" not in reason
    x = torch.rand(1, 3, 32, 32)
    for call in (load_lpips, lambda: standard_lpips(x, x)):
        with pytest.raises(ParamispError, match="lpips package"):
            call()


def test_lpips_unavailable_in_this_environment() -> None:
    if importlib.util.find_spec("lpips") is not None:
        pytest.skip("the lpips package is installed here")
    assert lpips_unavailable_reason() == "LPIPS needs the lpips package and torchvision (pip install 'paramisp[lpips]')"
    x = torch.rand(1, 3, 32, 32)
    with pytest.raises(ParamispError, match="lpips package"):
        standard_lpips(x, x)


def test_lpips_refuses_without_backbone_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Simulate lpips and torchvision installed, with lpips' own linear weights but no cached AlexNet.
    fake_lpips = tmp_path / "lpips"
    (fake_lpips / "weights" / "v0.1").mkdir(parents=True)
    (fake_lpips / "weights" / "v0.1" / "alex.pth").touch()
    monkeypatch.setattr(lpips_optional, "_package_dir", lambda name: fake_lpips if name == "lpips" else tmp_path)
    monkeypatch.setattr(lpips_optional.torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    reason = lpips_unavailable_reason()
    assert reason is not None and "AlexNet" in reason and "never downloaded" in reason
    with pytest.raises(ParamispError, match="AlexNet"):
        load_lpips()  # refuses before importing lpips, which would otherwise fetch the backbone
    checkpoint = tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth"
    checkpoint.parent.mkdir(parents=True)
    checkpoint.touch()
    assert lpips_unavailable_reason() is None

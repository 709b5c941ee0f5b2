"""Full-reference fidelity metrics (PSNR, SSIM) and the five-crop evaluation protocol of the ParamISP paper.

Every benchmark of the suite scores a prediction with :func:`paper_protocol_scores` and averages images with
:func:`mean_protocol_scores`; :func:`psnr` and :func:`ssim` are the plain batched metrics behind it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import kornia.metrics
import torch

from core_isp.metrics._check import check_pair
from core_isp.tensor_checks import check_shape

# Gaussian window of sigma 1.5 (kornia's fixed sigma), cut at 3.5 sigma like scikit-image and torchmetrics.
SSIM_WINDOW = 11


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of each image of a batch, over all its channels and pixels.

    Args:
        pred: ``(B, C, H, W)``.
        target: ``(B, C, H, W)``.
        data_range: peak value, 1.0 for images in [0, 1].

    Returns:
        ``(B,)``; ``inf`` where an image equals its target.
    """
    check_pair(pred, target, "B,C,H,W")
    mse = (pred - target).square().flatten(1).mean(1)
    return 10.0 * torch.log10(data_range**2 / mse)


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float | None = 1.0) -> torch.Tensor:
    """Mean structural similarity of each image of a batch (Gaussian window 11, sigma 1.5, K1=0.01, K2=0.03).

    Only window positions entirely inside the image are averaged, which makes this equal to torchmetrics' SSIM
    and to scikit-image's ``structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False)``; channels are averaged with equal weight.

    Args:
        pred: ``(B, C, H, W)`` with ``H, W >= 11``.
        target: ``(B, C, H, W)``.
        data_range: value range L of the constants ``(K L)^2``. ``None`` infers it from the whole batch as
            ``max(pred.max() - pred.min(), target.max() - target.min())``, as torchmetrics does when given no
            range (the ParamISP reference code relied on that).

    Returns:
        ``(B,)``.
    """
    check_pair(pred, target, "B,C,H,W", min_side=SSIM_WINDOW)
    if data_range is None:
        data_range = float(torch.maximum(pred.amax() - pred.amin(), target.amax() - target.amin()))
    # eps=0: kornia's default denominator epsilon biases flat dark regions away from the reference numbers.
    ssim_map = kornia.metrics.ssim(pred, target, SSIM_WINDOW, max_val=data_range, eps=0.0, padding="valid")
    return ssim_map.flatten(1).mean(1)


@dataclass(frozen=True)
class ProtocolScores:
    """Scores of the paper protocol: PSNR in dB and SSIM, for one image or averaged over images."""

    psnr_db: float
    ssim: float

    def __str__(self) -> str:
        return f"PSNR {self.psnr_db:.2f} dB, SSIM {self.ssim:.4f}"


def _even_origin(origin: int, crop: int, size: int) -> int:
    # Round up to even like the reference data loader, or down when rounding up would leave the image.
    up = origin + origin % 2
    return up if up + crop <= size else origin - origin % 2


def five_crop_origins(height: int, width: int, crop_h: int, crop_w: int) -> list[tuple[int, int]]:
    """Top-left ``(row, col)`` of the centre, top-left, top-right, bottom-left and bottom-right crops.

    Every origin is even so that a Bayer mosaic keeps its CFA phase in all five crops.
    """
    if not (0 < crop_h <= height and 0 < crop_w <= width):
        raise ValueError(f"crop {crop_h}x{crop_w} does not fit an image of {height}x{width}")
    bottom, right = height - crop_h, width - crop_w
    origins = [(bottom // 2, right // 2), (0, 0), (0, right), (bottom, 0), (bottom, right)]
    return [(_even_origin(r, crop_h, height), _even_origin(c, crop_w, width)) for r, c in origins]


def five_crops(image: torch.Tensor, crop_size: int) -> torch.Tensor:
    """Stack the five protocol crops of one image.

    Args:
        image: ``(1, C, H, W)``.
        crop_size: side of the square crops, reduced to ``H`` or ``W`` where the image is smaller.

    Returns:
        ``(5, C, min(crop_size, H), min(crop_size, W))`` in :func:`five_crop_origins` order.
    """
    check_shape(image, "1,C,H,W", "image")
    height, width = image.shape[-2:]
    crop_h, crop_w = min(crop_size, height), min(crop_size, width)
    origins = five_crop_origins(height, width, crop_h, crop_w)
    return torch.cat([image[..., r : r + crop_h, c : c + crop_w] for r, c in origins])


@torch.no_grad()
def paper_protocol_scores(
    pred: torch.Tensor,
    target: torch.Tensor,
    crop_size: int = 1024,
    border: int = 2,
    ssim_data_range: float | None = 1.0,
) -> ProtocolScores:
    """Score one image with the ParamISP paper protocol.

    The prediction is clipped to [0, 1]; both images are cut into the five crops of :func:`five_crops`, each
    loses ``border`` pixels on every side; PSNR comes from one MSE over all five crops together and SSIM is
    the mean of the crops' SSIM.

    Args:
        pred: ``(1, 3, H, W)`` sRGB for the forward ISP, or ``(1, 1, H, W)`` Bayer mosaic for the inverse ISP,
            in [0, 1].
        target: same shape as ``pred``.
        crop_size: side of the square crops before the border is removed.
        border: pixels dropped on each side of each crop.
        ssim_data_range: see :func:`ssim`; ``None`` reproduces the reference code's inferred range.

    Returns:
        The image's :class:`ProtocolScores`.
    """
    check_pair(pred, target, "1,C,H,W")
    if pred.shape[1] not in (1, 3):
        raise ValueError(f"pred must be sRGB (1, 3, H, W) or a mosaic (1, 1, H, W), got {tuple(pred.shape)}")
    crops_pred = five_crops(pred.clamp(0.0, 1.0), crop_size)
    crops_target = five_crops(target, crop_size)
    inner = (..., slice(border, crops_pred.shape[-2] - border), slice(border, crops_pred.shape[-1] - border))
    crops_pred, crops_target = crops_pred[inner], crops_target[inner]
    # Folding the crops into the channel axis of a single image gives one MSE over all of them.
    joint_psnr = psnr(crops_pred.flatten(0, 1)[None], crops_target.flatten(0, 1)[None])
    mean_ssim = ssim(crops_pred, crops_target, data_range=ssim_data_range).mean()
    return ProtocolScores(psnr_db=joint_psnr.item(), ssim=mean_ssim.item())


def mean_protocol_scores(scores: Iterable[ProtocolScores]) -> ProtocolScores:
    """Average per-image :class:`ProtocolScores` over a test set (each image weighs the same)."""
    scores = list(scores)
    if not scores:
        raise ValueError("no scores to average")
    return ProtocolScores(
        psnr_db=sum(s.psnr_db for s in scores) / len(scores),
        ssim=sum(s.ssim for s in scores) / len(scores),
    )

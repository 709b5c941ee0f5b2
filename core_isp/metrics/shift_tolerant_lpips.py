"""ST-LPIPS, the shift-tolerant AlexNet variant of LPIPS (Ghildyal & Liu, ECCV 2022), with published weights.

The weights come from the ``stlpips-pytorch`` package, whose data file we read; its Python modules need
torchvision, so the network is defined here. Scores are labelled "ST-LPIPS": they are not comparable with
standard LPIPS.

Architecture: AlexNet whose stride-4 first convolution runs at stride 1, and every subsampling step is an
anti-aliasing blur (reflect-padded 3x3 binomial, stride 2), taken after the first convolution and after each
stride-1 max-pool. Features of five ReLU stages are unit-normalised over channels, their squared differences
are weighted by learned 1x1 convolutions, averaged over space and summed over stages.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from core_isp.errors import ParamispError
from core_isp.metrics._check import check_pair

LABEL = "ST-LPIPS"
_PACKAGE = "stlpips_pytorch"
_WEIGHTS = "weights/vST0.0/alex_shift_tolerant.pth"
_INSTALL = "pip install stlpips-pytorch==0.0.2"
_STAGE_CHANNELS = (64, 192, 384, 256, 256)
# Smaller inputs leave the last blur's input too small for its 2-pixel reflect padding.
MIN_SIDE = 21
# Weight-file key prefixes -> this module's names; strict loading then checks the tensors one to one.
_KEY_PREFIXES = {
    "scaling_layer.": "input_",
    "net.slice1.0.": "trunk.conv1.",
    "net.slice1.1.": "trunk.blur1.",
    "net.slice2.4.": "trunk.blur2.",
    "net.slice2.5.": "trunk.conv2.",
    "net.slice3.8.": "trunk.blur3.",
    "net.slice3.9.": "trunk.conv3.",
    "net.slice4.11.": "trunk.conv4.",
    "net.slice5.13.": "trunk.conv5.",
    **{f"lin{k}.model.1.": f"stage_weights.{k}." for k in range(len(_STAGE_CHANNELS))},
}


class _BlurSubsample(nn.Module):
    """Stride-2 depthwise 3x3 binomial blur over a 2-pixel reflect padding, ``(B, C, H, W)`` -> half size."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        taps = torch.tensor([1.0, 2.0, 1.0])
        self.register_buffer("filt", (torch.outer(taps, taps) / 16.0).expand(channels, 1, 3, 3).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(F.pad(x, (2, 2, 2, 2), mode="reflect"), self.filt, stride=2, groups=x.shape[1])


class _ShiftTolerantAlexNet(nn.Module):
    """Feature trunk: ``(B, 3, H, W)`` -> the five ReLU stage outputs, coarsest last."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, kernel_size=11, padding=2)
        self.blur1 = _BlurSubsample(64)
        self.blur2 = _BlurSubsample(64)
        self.conv2 = nn.Conv2d(64, 192, kernel_size=5, padding=2)
        self.blur3 = _BlurSubsample(192)
        self.conv3 = nn.Conv2d(192, 384, kernel_size=3, padding=1)
        self.conv4 = nn.Conv2d(384, 256, kernel_size=3, padding=1)
        self.conv5 = nn.Conv2d(256, 256, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f1 = F.relu(self.blur1(self.conv1(x)))
        f2 = F.relu(self.conv2(self.blur2(F.max_pool2d(f1, kernel_size=3, stride=1))))
        f3 = F.relu(self.conv3(self.blur3(F.max_pool2d(f2, kernel_size=3, stride=1))))
        f4 = F.relu(self.conv4(f3))
        f5 = F.relu(self.conv5(f4))
        return [f1, f2, f3, f4, f5]


def _unit_channels(features: torch.Tensor) -> torch.Tensor:
    # The epsilon sits outside the square root, as in the trained metric.
    return features / (features.square().sum(dim=1, keepdim=True).sqrt() + 1e-10)


def _read_weights(weights: str | os.PathLike[str] | None) -> dict[str, torch.Tensor]:
    source: Traversable | Path
    if weights is not None:
        source = Path(weights)
    else:
        try:
            source = importlib.resources.files(_PACKAGE) / _WEIGHTS
        except ModuleNotFoundError:
            raise ParamispError(f"{LABEL} needs the weights shipped by stlpips-pytorch: {_INSTALL}") from None
    if not source.is_file():
        raise ParamispError(f"{LABEL} weight file {source} is missing ({_INSTALL} provides it)")
    with source.open("rb") as f:
        state = torch.load(f, map_location="cpu", weights_only=True)
    renamed = {}
    for key, tensor in state.items():
        prefix = next((p for p in _KEY_PREFIXES if key.startswith(p)), None)
        # An unknown key is kept as is so that strict loading rejects the file.
        renamed[key if prefix is None else _KEY_PREFIXES[prefix] + key.removeprefix(prefix)] = tensor
    return renamed


class STLPIPS(nn.Module):
    """ST-LPIPS distance with the published shift-tolerant AlexNet weights, frozen and in eval mode.

    Gradients flow to the inputs, so it can serve as a loss. Inputs are cast to the dtype of the weights.

    Args:
        weights: a copy of ``alex_shift_tolerant.pth``; by default the file shipped by stlpips-pytorch.

    Raises:
        ParamispError: the package or the weight file is missing.
    """

    label: ClassVar[str] = LABEL

    def __init__(self, weights: str | os.PathLike[str] | None = None) -> None:
        super().__init__()
        # Per-channel standardisation of the [-1, 1] input (values from the weight file).
        self.register_buffer("input_shift", torch.zeros(1, 3, 1, 1))
        self.register_buffer("input_scale", torch.ones(1, 3, 1, 1))
        self.trunk = _ShiftTolerantAlexNet()
        self.stage_weights = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in _STAGE_CHANNELS)
        self.load_state_dict(_read_weights(weights), strict=True)
        self.requires_grad_(False)
        self.eval()

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Distance per image: ``(B, 3, H, W)`` sRGB in [0, 1] twice -> ``(B,)``, 0 for identical images."""
        check_pair(pred, target, "B,3,H,W", min_side=MIN_SIDE)
        batch = pred.shape[0]
        # One trunk pass over both images; the network was trained on [-1, 1] inputs.
        x = torch.cat([pred, target]).to(self.input_shift.dtype) * 2.0 - 1.0
        stages = self.trunk((x - self.input_shift) / self.input_scale)
        distance = x.new_zeros(batch)
        for features, stage_weight in zip(stages, self.stage_weights, strict=True):
            unit = _unit_channels(features)
            distance = distance + stage_weight((unit[:batch] - unit[batch:]).square()).mean(dim=(1, 2, 3))
        return distance


@functools.cache
def _shared_model(device: torch.device) -> STLPIPS:
    return STLPIPS().to(device)


def st_lpips(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """ST-LPIPS distance per image (lower is more similar), with one shared model per device.

    Args:
        pred: ``(B, 3, H, W)`` sRGB in [0, 1], ``H, W >= 21``.
        target: ``(B, 3, H, W)`` sRGB in [0, 1].

    Returns:
        ``(B,)``.
    """
    return _shared_model(pred.device)(pred, target)

"""Standard LPIPS (AlexNet, v0.1), only where the ``lpips`` package and its weights are already installed.

LPIPS needs torchvision's ImageNet AlexNet, which torchvision downloads on first use; this module never lets
it: it checks the files first and refuses with a one-line reason, so a random or half-loaded backbone can
never produce a score. Scores are labelled "LPIPS" and are not comparable with ST-LPIPS.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import torch
from torch import nn

from core_isp.errors import ParamispError
from core_isp.metrics._check import check_pair

LABEL = "LPIPS"
# torchvision's file name for AlexNet_Weights.IMAGENET1K_V1, as cached by torch.hub.
_ALEXNET_CHECKPOINT = "alexnet-owt-7be5be79.pth"
_LINEAR_WEIGHTS = Path("weights", "v0.1", "alex.pth")


def _package_dir(name: str) -> Path | None:
    # find_spec locates a package without importing it (importing lpips would import torchvision).
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def lpips_unavailable_reason() -> str | None:
    """Why standard LPIPS cannot run here, in one line, or ``None`` when it can (nothing is downloaded)."""
    lpips_dir = _package_dir("lpips")
    if lpips_dir is None:
        return f"{LABEL} needs the lpips package and torchvision (pip install 'paramisp[lpips]')"
    if _package_dir("torchvision") is None:
        return f"{LABEL} needs torchvision, which the lpips package imports"
    if not (lpips_dir / _LINEAR_WEIGHTS).is_file():
        return f"{LABEL} linear-layer weights {lpips_dir / _LINEAR_WEIGHTS} are missing; reinstall lpips"
    checkpoint = Path(torch.hub.get_dir()) / "checkpoints" / _ALEXNET_CHECKPOINT
    if not checkpoint.is_file():
        return f"{LABEL} needs torchvision's AlexNet weights at {checkpoint} (they are never downloaded here)"
    return None


def load_lpips() -> nn.Module:
    """The frozen ``lpips.LPIPS(net="alex", version="0.1")`` model in eval mode.

    Raises:
        ParamispError: :func:`lpips_unavailable_reason` gave a reason.
    """
    reason = lpips_unavailable_reason()
    if reason is not None:
        raise ParamispError(reason)
    import lpips  # only importable where the checks above passed

    model = lpips.LPIPS(net="alex", version="0.1", verbose=False)
    return model.requires_grad_(False).eval()


@functools.cache
def _shared_model(device: torch.device) -> nn.Module:
    return load_lpips().to(device)


def standard_lpips(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Standard LPIPS distance per image, with one shared model per device.

    Args:
        pred: ``(B, 3, H, W)`` sRGB in [0, 1].
        target: ``(B, 3, H, W)`` sRGB in [0, 1].

    Returns:
        ``(B,)``.

    Raises:
        ParamispError: LPIPS is unavailable here (see :func:`lpips_unavailable_reason`).
    """
    check_pair(pred, target, "B,3,H,W")
    return _shared_model(pred.device)(pred, target, normalize=True).flatten()

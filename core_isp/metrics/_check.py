"""Argument check shared by the metrics: a prediction and its reference of one shape contract."""

from __future__ import annotations

import torch

from core_isp.tensor_checks import check_shape


def check_pair(pred: torch.Tensor, target: torch.Tensor, contract: str, min_side: int = 1) -> None:
    """Raise ``ValueError`` unless both match ``contract``, have the same shape and ``H, W >= min_side``."""
    check_shape(pred, contract, "pred")
    check_shape(target, contract, "target")
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if min(pred.shape[-2:]) < min_side:
        raise ValueError(f"images need at least {min_side} pixels a side, got {tuple(pred.shape[-2:])}")

"""A brightness oracle for baselines: the prediction rescaled by the one global gain that best fits the target.

A fixed pipeline that gets the exposure wrong loses most of its PSNR to brightness alone; scoring it after the
best global gain (an oracle: the gain is fitted to the very target it is scored against) shows what remains of
the gap once brightness is taken out.
"""

from __future__ import annotations

import torch


def brightness_matched(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``pred`` times the global gain that best fits ``target`` (least squares over every pixel and channel of the
    tensor, so pass one image at a time for a per-image gain), clipped to [0, 1].

    Args:
        pred: a prediction in [0, 1], any shape.
        target: the image it is scored against, same shape.

    Returns:
        ``(pred * gain).clamp(0, 1)`` with ``gain = <pred, target> / <pred, pred>``; an all-zero ``pred`` stays
        zero (the denominator is floored so a black image does not divide by zero).
    """
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    gain = (pred * target).sum() / pred.square().sum().clamp(min=1e-12)
    return (pred * gain).clamp(0.0, 1.0)

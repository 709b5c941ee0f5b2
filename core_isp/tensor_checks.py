"""One shape-contract helper used by every tensor function in the suite."""

from __future__ import annotations

import torch


def check_shape(x: torch.Tensor, contract: str, name: str = "input") -> None:
    """Raise ``ValueError`` unless ``x`` matches a contract such as ``"B,3,H,W"`` or ``"B,1,H,W"``.

    Letters stand for free sizes, digits for exact sizes and ``*`` for any number of leading dims.
    """
    dims = [d.strip() for d in contract.split(",")]
    leading_any = dims[0] == "*"
    fixed = dims[1:] if leading_any else dims
    ok = x.dim() >= len(fixed) if leading_any else x.dim() == len(fixed)
    if ok:
        for want, got in zip(fixed, x.shape[x.dim() - len(fixed) :], strict=True):
            if want.isdigit() and int(want) != got:
                ok = False
                break
    if not ok:
        raise ValueError(f"{name} must have shape ({contract}), got {tuple(x.shape)}")

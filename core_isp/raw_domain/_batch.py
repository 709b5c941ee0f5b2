"""Checks and conversions shared by the RAW-domain ops: a mosaic batch, its metadata, per-sample values."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from core_isp.errors import BadInputError
from core_isp.metadata import CameraMetadata
from core_isp.tensor_checks import check_shape

#: A value given once for the whole batch, once per sample, or as a ``()`` / ``(B,)`` tensor.
PerSample = float | Sequence[float] | torch.Tensor


def check_batch(
    x: torch.Tensor, meta: Sequence[CameraMetadata], name: str = "raw", contract: str = "B,1,H,W"
) -> list[CameraMetadata]:
    """Check ``x`` matches ``contract`` (batch first) with one metadata per sample; return the metadata as a list."""
    check_shape(x, contract, name)
    metas = list(meta)
    if len(metas) != x.shape[0]:
        raise BadInputError(f"{name} has {x.shape[0]} samples but {len(metas)} metadata were given")
    return metas


def cfa_patterns(meta: Sequence[CameraMetadata]) -> list[str]:
    """Each sample's CFA pattern; a sample without one (a rendered image) is refused."""
    patterns = [m.cfa_pattern for m in meta]
    if None in patterns:
        raise BadInputError(f"sample {patterns.index(None)} has no CFA pattern: not a RAW mosaic")
    return patterns  # type: ignore[return-value]


def per_sample(value: PerSample, batch: int, dtype: torch.dtype, device: torch.device | str, name: str) -> torch.Tensor:
    """``value`` as a ``(B,)`` tensor (a tensor keeps its autograd graph)."""
    if isinstance(value, torch.Tensor):
        t = value.to(device, dtype)
    elif isinstance(value, Sequence):
        t = torch.tensor([float(v) for v in value], dtype=dtype, device=device)
    else:
        t = torch.tensor(float(value), dtype=dtype, device=device)
    if t.dim() == 0:
        return t.expand(batch)
    check_shape(t, str(batch), name)
    return t

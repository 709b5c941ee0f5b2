"""Bayer colour-filter-array (CFA) conventions.

A CFA is named by the colours of its 2x2 cell read row-major from the top-left pixel of the mosaic it
describes: ``"RGGB"`` means R at (0, 0), G at (0, 1), G at (1, 0), B at (1, 1). Colour indices are
R = 0, G = 1, B = 2. In tensors a batch of patterns is a ``(B, 2, 2)`` long tensor of colour indices,
so every sample of a batch may have its own pattern.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from core_isp.errors import BadInputError

BAYER_PATTERNS: tuple[str, ...] = ("RGGB", "BGGR", "GRBG", "GBRG")
_COLOUR_INDEX = {"R": 0, "G": 1, "B": 2}
_COLOUR_LETTER = "RGB"


def validate_cfa(pattern: str) -> str:
    """Return ``pattern`` upper-cased, or raise :class:`BadInputError` if it is not a Bayer pattern."""
    p = pattern.upper()
    if p not in BAYER_PATTERNS:
        raise BadInputError(f"unsupported CFA pattern {pattern!r}: only Bayer {', '.join(BAYER_PATTERNS)}")
    return p


def cfa_to_indices(pattern: str) -> torch.Tensor:
    """``"RGGB"`` -> ``tensor([[0, 1], [1, 2]])`` (shape ``(2, 2)``, dtype long)."""
    p = validate_cfa(pattern)
    return torch.tensor([[_COLOUR_INDEX[p[0]], _COLOUR_INDEX[p[1]]], [_COLOUR_INDEX[p[2]], _COLOUR_INDEX[p[3]]]])


def indices_to_cfa(indices: torch.Tensor | np.ndarray | Sequence[Sequence[int]]) -> str:
    """Inverse of :func:`cfa_to_indices` for one ``(2, 2)`` cell."""
    a = np.asarray(indices.tolist() if isinstance(indices, torch.Tensor) else indices).reshape(-1)
    if a.size != 4 or not set(a.tolist()) <= {0, 1, 2}:
        raise BadInputError(f"not a 2x2 Bayer cell of colour indices: {a.tolist()}")
    return validate_cfa("".join(_COLOUR_LETTER[int(i)] for i in a))


def cfa_batch(patterns: Sequence[str], device: torch.device | str | None = None) -> torch.Tensor:
    """A list of pattern names -> ``(B, 2, 2)`` long tensor."""
    return torch.stack([cfa_to_indices(p) for p in patterns]).to(device)


def cfa_from_rawpy(raw_pattern: np.ndarray, color_desc: bytes | str) -> str:
    """Name the Bayer pattern LibRaw reports.

    ``raw_pattern`` indexes ``color_desc`` (usually ``b"RGBG"``), so index 3 is the second green,
    not blue. Anything that is not a 2x2 R/G/B cell with two greens (X-Trans 6x6, CMYG, Foveon)
    raises :class:`BadInputError`.
    """
    desc = color_desc.decode() if isinstance(color_desc, bytes) else color_desc
    pat = np.asarray(raw_pattern)
    if pat.shape != (2, 2):
        raise BadInputError(
            f"non-Bayer sensor: CFA repeat {pat.shape[0]}x{pat.shape[1]}"
            + (" (X-Trans)" if pat.shape == (6, 6) else "")
        )
    letters = "".join(desc[int(i)] for i in pat.reshape(-1))
    if sorted(letters) != ["B", "G", "G", "R"]:
        raise BadInputError(f"non-Bayer CFA colours {letters!r} (only R, G, G, B cells are supported)")
    return letters


def shift_cfa(pattern: str, dy: int, dx: int) -> str:
    """Pattern of the crop whose top-left pixel is at ``(dy, dx)`` in a mosaic with ``pattern``."""
    p = validate_cfa(pattern)
    cell = [[p[0], p[1]], [p[2], p[3]]]
    return "".join(cell[(dy + i) % 2][(dx + j) % 2] for i in range(2) for j in range(2))


def phase_offset(pattern: str, target: str = "RGGB") -> tuple[int, int]:
    """Smallest ``(dy, dx)`` in {0, 1}^2 such that a crop starting there has pattern ``target``."""
    for dy in (0, 1):
        for dx in (0, 1):
            if shift_cfa(pattern, dy, dx) == validate_cfa(target):
                return dy, dx
    raise AssertionError("unreachable: every Bayer pattern is a phase of every other")


def colour_index_map(cfa: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Colour index of every mosaic site: ``(B, 2, 2)`` -> ``(B, 1, H, W)`` long."""
    reps = ((height + 1) // 2, (width + 1) // 2)
    return cfa.repeat(1, *reps)[:, None, :height, :width]


def colour_masks(cfa: torch.Tensor, height: int, width: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """One-hot site masks: ``(B, 2, 2)`` -> ``(B, 3, H, W)``; channel c is 1 where the filter is colour c."""
    idx = colour_index_map(cfa, height, width)
    return (idx == torch.arange(3, device=cfa.device).view(1, 3, 1, 1)).to(dtype)

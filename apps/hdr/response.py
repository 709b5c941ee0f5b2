"""A correction of the inverse ISP's response, shared by the frames of a bracket and fitted from their agreement.

A learned inverse can misjudge a camera's tone curve (for settings it saw rarely: highlight-tone priority lifts a
JPEG by a stop) by an amount that depends mostly on the photo's code value and little on the frame's exposure. A
bracket shows the same scene at several exposures, so at a site two frames of neighbouring exposures both trust,
their corrected levels must agree:

    c(s_a) - c(s_b) = log2 y_a - log2 y_b

with ``y`` the levels at the reference exposure, ``s`` the site's code value in each photo and ``c`` the correction in
stops. Per colour, ``c`` is piecewise linear over :attr:`ResponseSettings.bins` knots on the code range; a random
sample of such sites per pair of neighbouring frames (weighted by their errors in stops) and a penalty on the second
differences of ``c`` give it by least squares: Debevec and Malik's response recovery, as a residual on the inverse
ISP's own response. Each colour's constant is set so the correction averages 0 over the reference frame's sites,
which keeps the reference's colour and absolute scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from core_isp.tensor_checks import check_shape

#: Code values (of 1) a site must lie between in both frames of a pair to take part: 0 and 255 say only a bound.
_USABLE_CODES = (1.5 / 255.0, 253.5 / 255.0)


@dataclass(frozen=True)
class ResponseSettings:
    """How the correction is fitted (module notes)."""

    #: Knots of the piecewise-linear correction per colour, evenly spaced over the code range [0, 1].
    bins: int = 16
    #: Sites sampled per pair of neighbouring frames.
    samples_per_pair: int = 20000
    #: Weight of the second-difference penalty against the weighted mean squared disagreement (stops^2).
    smoothness: float = 10.0
    #: Pull of every knot towards 0 (no correction), for knots no site reaches.
    ridge: float = 1e-3
    seed: int = 0


@dataclass(frozen=True)
class ResponseCorrection:
    """Per colour (R, G, B) the correction in stops at each knot, and the sites it was fitted on."""

    knots: tuple[float, ...]
    stops: tuple[tuple[float, ...], ...]
    sites: int

    def at(self, codes: torch.Tensor, colours: torch.Tensor) -> torch.Tensor:
        """The correction (stops) ``(B, 1, H, W)`` at each site's code value and colour index (both that shape)."""
        check_shape(codes, "B,1,H,W", "codes")
        flat = codes.detach().cpu().double().numpy().ravel()
        colour = colours.detach().cpu().numpy().ravel()
        out = np.zeros_like(flat)
        for c, stops in enumerate(self.stops):
            mine = colour == c
            out[mine] = np.interp(flat[mine], self.knots, stops)
        return torch.from_numpy(out.reshape(codes.shape)).to(codes.device, codes.dtype)


def _hats(codes: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Piecewise-linear basis: for each code the lower knot index and the weight of the upper one."""
    position = np.clip(codes, 0.0, 1.0) * (bins - 1)
    lower = np.minimum(np.floor(position).astype(int), bins - 2)
    return lower, position - lower


def fit_response(
    levels: Sequence[torch.Tensor],
    stops_errors: Sequence[torch.Tensor],
    trusts: Sequence[torch.Tensor],
    codes: Sequence[torch.Tensor],
    colours: torch.Tensor,
    reference: int,
    settings: ResponseSettings,
) -> ResponseCorrection | None:
    """The correction (module notes) from frames given in order of exposure, each ``(1, 1, H, W)``: levels at the
    reference exposure, their errors in stops, trust and code values; ``colours`` the sites' colour indices and
    ``reference`` the reference frame's position in that order. None when no pair shares enough sites.
    """
    bins = settings.bins
    rng = np.random.default_rng(settings.seed)
    colour_of = colours.cpu().numpy().ravel()
    rows, targets, weights = [], [], []
    for a, b in zip(range(len(levels) - 1), range(1, len(levels)), strict=True):
        shared = (trusts[a] >= 1) & (trusts[b] >= 1) & (levels[a] > 0) & (levels[b] > 0)
        for s in (codes[a], codes[b]):
            shared &= (s > _USABLE_CODES[0]) & (s < _USABLE_CODES[1])
        index = torch.nonzero(shared.ravel()).ravel().cpu().numpy()
        if index.size > settings.samples_per_pair:
            index = rng.choice(index, settings.samples_per_pair, replace=False)
        if index.size == 0:
            continue
        row = np.zeros((index.size, 3 * bins))
        for sign, frame in ((1.0, a), (-1.0, b)):
            lower, upper = _hats(codes[frame].ravel()[index].double().cpu().numpy(), bins)
            column = colour_of[index] * bins + lower
            np.add.at(row, (np.arange(index.size), column), sign * (1.0 - upper))
            np.add.at(row, (np.arange(index.size), column + 1), sign * upper)
        rows.append(row)
        y = [torch.log2(levels[f].ravel()[index].double()).cpu().numpy() for f in (a, b)]
        targets.append(y[0] - y[1])
        error = [stops_errors[f].ravel()[index].double().cpu().numpy() for f in (a, b)]
        weights.append(1.0 / np.sqrt(error[0] ** 2 + error[1] ** 2 + 1e-6))
    if not rows or sum(len(t) for t in targets) < 10 * bins:
        return None
    w = np.concatenate(weights)
    w = w / math.sqrt(float(np.sum(w**2)))  # the data term is a weighted mean of squared disagreements
    system = [np.concatenate(rows) * w[:, None]]
    rhs = [np.concatenate(targets) * w]
    second = np.zeros((bins - 2, bins))
    for k in range(bins - 2):
        second[k, k : k + 3] = (1.0, -2.0, 1.0)
    anchor_lower, anchor_upper = _hats(codes[reference].double().cpu().numpy().ravel(), bins)
    for c in range(3):
        block = np.zeros((bins - 2, 3 * bins))
        block[:, c * bins : (c + 1) * bins] = math.sqrt(settings.smoothness) * second
        system.append(block)
        rhs.append(np.zeros(bins - 2))
        # The reference frame's mean correction in this colour is 0 (a stiff row).
        mine = colour_of == c
        anchor = np.bincount(anchor_lower[mine], 1.0 - anchor_upper[mine], minlength=bins)
        anchor += np.bincount(anchor_lower[mine] + 1, anchor_upper[mine], minlength=bins)[:bins]
        row = np.zeros((1, 3 * bins))
        row[0, c * bins : (c + 1) * bins] = 100.0 * anchor / max(float(anchor.sum()), 1.0)
        system.append(row)
        rhs.append(np.zeros(1))
    system.append(math.sqrt(settings.ridge) * np.eye(3 * bins))
    rhs.append(np.zeros(3 * bins))
    solution = np.linalg.lstsq(np.concatenate(system), np.concatenate(rhs), rcond=None)[0]
    knots = tuple(float(v) for v in np.linspace(0.0, 1.0, bins))
    stops = tuple(tuple(float(v) for v in solution[c * bins : (c + 1) * bins]) for c in range(3))
    return ResponseCorrection(knots, stops, int(sum(len(t) for t in targets)))

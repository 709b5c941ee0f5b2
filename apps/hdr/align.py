"""Global translation between hand-held bracket frames: phase correlation on the green planes, in RAW.

Two frames of a bracket differ in exposure, so they are compared on a common footing: both brought to the
reference's exposure, limited to the range of levels both recorded (below the shorter-clipping frame's clip level,
above a floor 10 stops under it) and taken in log2, where an exposure error is an offset that the correlation
ignores. The peak of the normalised cross-power spectrum gives the shift to the nearest pixel of the green plane;
a few Gauss-Newton steps on the same log images (Lucas-Kanade for a translation) refine it to a fraction of a pixel.
The moving frame is then resampled plane by plane (:func:`core_isp.raw_domain.warp_planes`), so every site keeps
its colour.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from core_isp.metadata import CameraMetadata
from core_isp.raw_domain import pack_bayer, warp_planes
from core_isp.tensor_checks import check_shape

#: Stops below the common clip level that still take part in the correlation.
_RANGE_STOPS = 10.0


def _green(raw: torch.Tensor, meta: Sequence[CameraMetadata]) -> torch.Tensor:
    """Mean of the two green planes of a mosaic ``(1, 1, H, W)``: ``(H/2, W/2)`` float64."""
    planes = pack_bayer(raw, meta).double()
    return 0.5 * (planes[0, 1] + planes[0, 2])


def _shifted(image: torch.Tensor, dx: float, dy: float) -> tuple[torch.Tensor, torch.Tensor]:
    """``image`` ``(h, w)`` moved by ``(dx, dy)`` (bilinear; the value at ``p`` is the input's at ``p - d``) and a bool
    mask of where that stays inside the input."""
    height, width = image.shape
    ys = torch.arange(height, dtype=image.dtype) - dy
    xs = torch.arange(width, dtype=image.dtype) - dx
    grid = torch.stack(torch.meshgrid(2 * xs / (width - 1) - 1, 2 * ys / (height - 1) - 1, indexing="xy"), dim=-1)
    moved = F.grid_sample(image[None, None], grid[None], mode="bilinear", align_corners=True)[0, 0]
    inside = (xs >= 0) & (xs <= width - 1)
    return moved, (ys >= 0)[:, None] & (ys <= height - 1)[:, None] & inside[None, :]


def _refine(reference: torch.Tensor, moving: torch.Tensor, dx: float, dy: float, steps: int = 8) -> tuple[float, float]:
    """Gauss-Newton steps from ``(dx, dy)`` on ``reference(p) = moving(p - d)`` (images ``(h, w)``)."""
    grad_y, grad_x = torch.gradient(reference)
    for _ in range(steps):
        moved, inside = _shifted(moving, dx, dy)
        residual = (reference - moved)[inside]
        jx, jy = grad_x[inside], grad_y[inside]
        normal = torch.tensor([[(jx * jx).sum(), (jx * jy).sum()], [(jx * jy).sum(), (jy * jy).sum()]])
        if float(torch.linalg.det(normal)) <= 1e-12:
            break
        # reference - moving(p - d - e) ~ residual - grad . e = 0 at the optimum; moving a step on is -e.
        step = torch.linalg.solve(normal, torch.stack([(jx * residual).sum(), (jy * residual).sum()]))
        dx, dy = dx - float(step[0]), dy - float(step[1])
        if float(step.abs().max()) < 1e-3:
            break
    return dx, dy


def estimate_shift(
    reference: torch.Tensor, moving: torch.Tensor, meta: Sequence[CameraMetadata], clip_level: float
) -> tuple[float, float]:
    """Shift ``(dx, dy)`` in mosaic pixels that carries ``moving`` onto ``reference``, both ``(1, 1, H, W)`` at one
    exposure; ``clip_level`` is the lower of the two frames' clip levels at that exposure."""
    check_shape(reference, "1,1,H,W", "reference")
    check_shape(moving, "1,1,H,W", "moving")
    low = clip_level * 2.0**-_RANGE_STOPS
    a, b = (torch.log2(_green(x, meta).clamp(low, clip_level)) for x in (reference, moving))
    height, width = a.shape
    window = torch.outer(torch.hann_window(height, dtype=a.dtype), torch.hann_window(width, dtype=a.dtype))
    spectrum = torch.fft.rfft2((a - a.mean()) * window) * torch.fft.rfft2((b - b.mean()) * window).conj()
    surface = torch.fft.irfft2(spectrum / spectrum.abs().clamp(min=1e-12), s=(height, width))
    py, px = divmod(int(torch.argmax(surface)), width)
    # The correlation is circular: a peak past the middle is a negative shift.
    dy = (py + height // 2) % height - height // 2
    dx = (px + width // 2) % width - width // 2
    fine_x, fine_y = _refine(a, b, float(dx), float(dy))
    if abs(fine_x - dx) > 1.0 or abs(fine_y - dy) > 1.0:  # the refinement wandered off: keep the whole pixel
        fine_x, fine_y = float(dx), float(dy)
    return 2.0 * fine_x, 2.0 * fine_y  # plane pixels are two mosaic pixels


def translate(
    raw: torch.Tensor, meta: Sequence[CameraMetadata], dx: float, dy: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mosaics ``(B, 1, H, W)`` moved by ``(dx, dy)`` mosaic pixels, and a bool ``(B, 1, H, W)`` mask of the sites
    that had data (False where the move brought in the border)."""
    affine = torch.tensor([[1.0, 0.0, dx], [0.0, 1.0, dy]], dtype=raw.dtype).expand(raw.shape[0], 2, 3)
    moved, _ = warp_planes(raw, meta, affine)
    covered, _ = warp_planes(torch.ones_like(raw), meta, affine)
    return moved, covered > 0.999

"""Frame interpolation in RAW for motion too fast for the frame rate.

Averaging frames that moved several pixels apart gives ghosts (separate copies), not a smooth streak. Between two
frames whose motion exceeds ``max_step_px``, intermediate frames are made from dense optical flow (scikit-image's
iterative Lucas-Kanade on the mosaics' green planes, square-rooted to even out the light levels): the frame at a
fraction ``s`` of the way is ``(1 - s) I0(x - s F) + s I1(x + (1 - s) F)``, warping both neighbours along the flow
``F`` from ``I0`` to ``I1`` and blending them. The warps run on the packed colour planes, so the CFA phase is kept.
Occlusions are blended, not reasoned about: at a moving object's edge the in-between frames are a cross-fade.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from skimage.registration import optical_flow_ilk

from core_isp.metadata import CameraMetadata
from core_isp.raw_domain import pack_bayer, unpack_bayer

#: Most intermediate frames inserted between two frames.
MAX_INSERTED = 15


def green_plane_flow(raw0: torch.Tensor, raw1: torch.Tensor, meta: Sequence[CameraMetadata]) -> torch.Tensor:
    """Flow ``(2, H/2, W/2)`` as (dy, dx) in colour-plane pixels with ``I0(x) ~ I1(x + F(x))``, from mosaics
    ``(1, 1, H, W)``."""
    planes = [pack_bayer(r.double(), meta)[0] for r in (raw0, raw1)]
    green = [np.sqrt(p[1:3].mean(0).clamp(min=0).numpy()) for p in planes]
    flow = optical_flow_ilk(green[0], green[1], radius=7, num_warp=10)
    return torch.from_numpy(flow)


def _warp(planes: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample planes ``(1, 4, h, w)`` at ``x + flow(x)`` (flow ``(2, h, w)`` as dy, dx), edges replicated."""
    _, _, h, w = planes.shape
    ys, xs = torch.meshgrid(torch.arange(h, dtype=flow.dtype), torch.arange(w, dtype=flow.dtype), indexing="ij")
    grid = torch.stack([(xs + flow[1]) / max(w - 1, 1) * 2 - 1, (ys + flow[0]) / max(h - 1, 1) * 2 - 1], dim=-1)
    return torch.nn.functional.grid_sample(planes, grid[None].to(planes.dtype), mode="bilinear",
                                           padding_mode="border", align_corners=True)  # fmt: skip


def steps_needed(flow: torch.Tensor, max_step_px: float) -> int:
    """Intermediate frames needed so that no step moves more than ``max_step_px`` mosaic pixels (95th percentile of
    the flow's length, so a few wild vectors do not decide)."""
    reach = float(torch.quantile(flow.norm(dim=0).flatten(), 0.95)) * 2.0  # plane pixels -> mosaic pixels
    return min(MAX_INSERTED, max(0, math.ceil(reach / max_step_px) - 1))


def interpolate_frames(
    frames: torch.Tensor, meta: Sequence[CameraMetadata], max_step_px: float
) -> tuple[torch.Tensor, int]:
    """Frames ``(T, 1, H, W)`` -> ``(T + (T - 1) k, 1, H, W)``: ``k`` intermediates in every gap, ``k`` set by the
    largest motion between neighbours, so the frames stay evenly spaced in time. Returns the frames and ``k``."""
    flows = [green_plane_flow(frames[i : i + 1], frames[i + 1 : i + 2], [meta[i]]) for i in range(frames.shape[0] - 1)]
    count = max((steps_needed(f, max_step_px) for f in flows), default=0)
    if count == 0:
        return frames, 0
    out = [frames[0:1]]
    for i, flow in enumerate(flows):
        pa, pb = pack_bayer(frames[i : i + 1], [meta[i]]), pack_bayer(frames[i + 1 : i + 2], [meta[i + 1]])
        for k in range(1, count + 1):
            s = k / (count + 1)
            mid = (1 - s) * _warp(pa, -s * flow) + s * _warp(pb, (1 - s) * flow)
            out.append(unpack_bayer(mid, [meta[i]]))
        out.append(frames[i + 1 : i + 2])
    return torch.cat(out), count

"""Camera and scene motion on a Bayer mosaic, keeping its CFA phase: warps, blur, frame averaging.

Warping or blurring a mosaic as one image would mix colours. Here the mosaic is packed into its four
colour planes (:func:`core_isp.raw_domain.pack_bayer`), each plane is warped or filtered on its own,
and the planes are unpacked, so every output site still holds its own colour. Coordinates are
kornia's: x to the right, y down, pixel centres at integers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import kornia
import torch

from core_isp.errors import BadInputError
from core_isp.metadata import CameraMetadata
from core_isp.raw_domain._batch import check_batch
from core_isp.raw_domain.bayer import pack_bayer, plane_sites, unpack_bayer
from core_isp.tensor_checks import check_shape

#: Relative tolerance on the exposure times of frames that :func:`average_frames` may average.
EXPOSURE_MATCH_RTOL = 1e-6


def _plane_matrices(affine_full_px: torch.Tensor, meta: Sequence[CameraMetadata]) -> torch.Tensor:
    """Full-resolution affines ``(B, 2, 3)`` -> the same motion on each colour plane's grid ``(B, 4, 2, 3)``.

    Plane pixel ``p`` of a plane at cell site ``(dy, dx)`` is mosaic pixel ``S p`` with
    ``S = [[2, 0, dx], [0, 2, dy], [0, 0, 1]]``, so the plane sees ``S^-1 M S``: the half-resolution
    scale and the plane's own offset, which differs between planes and CFA phases.
    """
    batch = affine_full_px.shape[0]
    sites = plane_sites(meta, affine_full_px.device).to(affine_full_px.dtype)  # (B, 4, 2) as (dy, dx)
    to_full = torch.zeros(batch, 4, 3, 3, dtype=affine_full_px.dtype, device=affine_full_px.device)
    to_full[..., 0, 0] = 2.0
    to_full[..., 1, 1] = 2.0
    to_full[..., 0, 2] = sites[..., 1]
    to_full[..., 1, 2] = sites[..., 0]
    to_full[..., 2, 2] = 1.0
    to_plane = torch.linalg.inv(to_full)
    full = kornia.geometry.conversions.convert_affinematrix_to_homography(affine_full_px)[:, None]
    return (to_plane @ full @ to_full)[..., :2, :]


def warp_planes(
    raw: torch.Tensor,
    meta: Sequence[CameraMetadata],
    affine_full_px: torch.Tensor,
    mode: str = "bilinear",
    padding_mode: str = "zeros",
) -> tuple[torch.Tensor, list[CameraMetadata]]:
    """Warp each sample's mosaic ``(B, 1, H, W)`` by an affine ``(B, 2, 3)``, plane by plane; H, W even.

    ``affine_full_px`` maps a source position to its destination in full-resolution mosaic pixels, as
    :func:`kornia.geometry.transform.warp_affine` does (so ``[[1, 0, 2], [0, 1, 0]]`` moves the
    image 2 pixels right). ``mode`` and ``padding_mode`` are passed to kornia; the interpolation
    runs between same-colour samples, 2 pixels apart, so a motion by an even number of pixels moves
    samples exactly and others interpolate. Differentiable with respect to ``raw`` and the affine.
    The metadata is unchanged.
    """
    meta = check_batch(raw, meta)
    check_shape(affine_full_px, f"{raw.shape[0]},2,3", "affine_full_px")
    planes = pack_bayer(raw, meta)
    batch, _, height, width = planes.shape
    plane_affines = _plane_matrices(affine_full_px.to(raw.dtype), meta).reshape(batch * 4, 2, 3)
    warped = kornia.geometry.transform.warp_affine(
        planes.reshape(batch * 4, 1, height, width),
        plane_affines,
        (height, width),
        mode=mode,
        padding_mode=padding_mode,
        align_corners=True,
    )
    return unpack_bayer(warped.reshape(batch, 4, height, width), meta), meta


def blur_planes(
    raw: torch.Tensor,
    meta: Sequence[CameraMetadata],
    kernels_plane_px: torch.Tensor,
    border_type: str = "reflect",
) -> tuple[torch.Tensor, list[CameraMetadata]]:
    """Convolve each colour plane of each mosaic ``(B, 1, H, W)`` with its sample's kernel ``(B, kh, kw)``.

    Kernels are in *plane* pixels (one step = 2 mosaic pixels), with odd sizes so their centre is a
    sample: a same-colour neighbour is the nearest any filter can reach without mixing colours. A
    full-resolution kernel (e.g. a motion-blur path) must be resampled to half resolution first.
    True convolution (the kernel is flipped), so a kernel whose mass lies right of its centre
    smears light to the right. Weights are used as given: normalise them to sum 1 to keep the
    level. ``border_type`` is kornia's padding (``"reflect"``, ``"replicate"``, ``"circular"``,
    ``"constant"``). Differentiable with respect to ``raw`` and the kernels. The metadata is unchanged.
    """
    meta = check_batch(raw, meta)
    check_shape(kernels_plane_px, f"{raw.shape[0]},kh,kw", "kernels_plane_px")
    if kernels_plane_px.shape[-2] % 2 == 0 or kernels_plane_px.shape[-1] % 2 == 0:
        raise ValueError(f"blur kernels need odd sizes (a centre sample), got {tuple(kernels_plane_px.shape[-2:])}")
    planes = pack_bayer(raw, meta)
    blurred = kornia.filters.filter2d(planes, kernels_plane_px.to(raw.dtype), border_type=border_type, behaviour="conv")
    return unpack_bayer(blurred, meta), meta


def _same_layout(a: CameraMetadata, b: CameraMetadata) -> bool:
    return (a.cfa_pattern, a.black_level_per_site, a.white_level, a.saturation_level) == (
        b.cfa_pattern,
        b.black_level_per_site,
        b.white_level,
        b.saturation_level,
    )


def _same_exposure(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=EXPOSURE_MATCH_RTOL, abs_tol=0.0)


def average_frames(
    frames: torch.Tensor, metas: Sequence[Sequence[CameraMetadata]]
) -> tuple[torch.Tensor, list[CameraMetadata]]:
    """Mean mosaic ``(B, 1, H, W)`` of ``T`` frames ``(B, T, 1, H, W)``, e.g. a long exposure from a burst.

    ``metas[b][t]`` describes frame ``t`` of sample ``b``. The frames of a sample must share their
    CFA pattern and levels (black, white, saturation), and their exposure times must agree within
    :data:`EXPOSURE_MATCH_RTOL` (or all be unknown): the mean keeps the level of frames already
    brought to one exposure (:func:`~core_isp.raw_domain.scale_exposure`), so its exposure time is
    theirs, not their sum. Each sample gets its first frame's metadata; only its noise changes (the
    variance falls by ``T``), which no metadata field records. Differentiable with respect to ``frames``.
    """
    check_shape(frames, "B,T,1,H,W", "frames")
    batch, count = frames.shape[:2]
    if len(metas) != batch or any(len(m) != count for m in metas):
        raise BadInputError(f"frames are {batch} samples of {count}; the metadata must be {batch} lists of {count}")
    for b, frame_metas in enumerate(metas):
        first = frame_metas[0]
        for t, m in enumerate(frame_metas):
            if not _same_layout(first, m):
                raise BadInputError(f"sample {b}: frame {t} has another CFA pattern or other levels than frame 0")
            if not _same_exposure(first.exposure_time_s, m.exposure_time_s):
                raise BadInputError(
                    f"sample {b}: frame {t} is exposed {m.exposure_time_s} s, frame 0 {first.exposure_time_s} s; "
                    "bring them to one exposure first (scale_exposure)"
                )
    return frames.mean(dim=1), [m[0] for m in metas]

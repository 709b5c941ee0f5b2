"""The chain every app runs: photo -> inverse ISP -> an operation in RAW -> forward ISP.

``run_chain`` keeps the metadata of each step with its pixels (:class:`~core_isp.image.CameraImage`): the RAW
the inverse produced, the RAW the operation produced (its exposure, ISO or geometry may have changed, and the
forward ISP renders with *those* parameters), and the final render. Any ISP meeting :class:`~core_isp.isp.ISP`
can stand at either end, so a benchmark compares methods by swapping them (learned, canonical, UPI-style, or a
learned inverse of one camera with the forward of another).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from core_isp.errors import BadInputError
from core_isp.image import CameraImage
from core_isp.isp import ISP, InferenceOptions
from core_isp.metadata import CameraMetadata

#: A RAW-domain operation: ``(raw (B, 1, H, W), metadata) -> (raw, metadata)`` (see :mod:`core_isp.raw_domain`).
RawOp = Callable[[torch.Tensor, Sequence[CameraMetadata]], tuple[torch.Tensor, Sequence[CameraMetadata]]]


def identity_op(raw: torch.Tensor, meta: Sequence[CameraMetadata]) -> tuple[torch.Tensor, list[CameraMetadata]]:
    """The operation that changes nothing (the chain is then a round trip)."""
    return raw, list(meta)


@dataclass(frozen=True)
class ChainResult:
    """Every intermediate of one run of the chain."""

    raw_in: CameraImage
    raw_out: CameraImage
    rendered: CameraImage


def to_raw(
    photo: CameraImage, isp: ISP, raw_meta: Sequence[CameraMetadata], options: InferenceOptions | None = None
) -> CameraImage:
    """sRGB photo -> the RAW described by ``raw_meta`` (one record per image, e.g. :meth:`Camera.raw_metadata`)."""
    if photo.space != "srgb":
        raise BadInputError(f"the inverse ISP takes an sRGB photo, got {photo.space}")
    return CameraImage(isp.inverse(photo.pixels, list(raw_meta), options), tuple(raw_meta), "raw")


def to_srgb(raw: CameraImage, isp: ISP, options: InferenceOptions | None = None) -> CameraImage:
    """RAW -> sRGB with the RAW's own metadata (which stays with the render)."""
    if raw.space != "raw":
        raise BadInputError(f"the forward ISP takes a RAW mosaic, got {raw.space}")
    return CameraImage(isp.forward(raw.pixels, list(raw.metadata), options), raw.metadata, "srgb")


def apply_op(raw: CameraImage, op: RawOp) -> CameraImage:
    """Run a RAW-domain operation on a carrier."""
    pixels, meta = op(raw.pixels, list(raw.metadata))
    return CameraImage(pixels, tuple(meta), "raw")


def run_chain(
    photo: CameraImage,
    inverse: ISP,
    raw_meta: Sequence[CameraMetadata],
    forward: ISP,
    op: RawOp = identity_op,
    options: InferenceOptions | None = None,
) -> ChainResult:
    """photo -> ``inverse`` -> ``op`` -> ``forward``, each step with its metadata."""
    raw_in = to_raw(photo, inverse, raw_meta, options)
    raw_out = apply_op(raw_in, op)
    return ChainResult(raw_in, raw_out, to_srgb(raw_out, forward, options))

"""EXIF orientation (codes 1..8) applied to image tensors ``(*, H, W)``.

The code says how the stored (sensor-orientation) pixels must be transformed to display upright:
1 identity, 2 mirror left-right, 3 rotate 180, 4 mirror top-bottom, 5 transpose,
6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise.
"""

from __future__ import annotations

import torch

from core_isp.errors import BadInputError


def _check(orientation: int) -> int:
    o = int(orientation)
    if not 1 <= o <= 8:
        raise BadInputError(f"EXIF orientation must be 1..8, got {orientation}")
    return o


def to_display(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """Sensor orientation -> upright: ``(*, H, W)`` -> ``(*, H, W)`` or ``(*, W, H)``."""
    o = _check(orientation)
    if o == 1:
        return image
    if image.dtype == torch.uint16:  # torch has no uint16 flips; they only move samples, so int16's serve
        return to_display(image.view(torch.int16), o).view(torch.uint16)
    if o == 2:
        return image.flip(-1)
    if o == 3:
        return image.flip(-1).flip(-2)
    if o == 4:
        return image.flip(-2)
    if o == 5:
        return image.transpose(-1, -2)
    if o == 6:
        return torch.rot90(image, k=-1, dims=(-2, -1))
    if o == 7:
        return image.transpose(-1, -2).flip(-1).flip(-2)
    return torch.rot90(image, k=1, dims=(-2, -1))


def to_sensor(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """Upright -> sensor orientation (the inverse of :func:`to_display`)."""
    inverse = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 8, 7: 7, 8: 6}
    return to_display(image, inverse[_check(orientation)])


def libraw_flip_to_orientation(flip: int) -> int:
    """LibRaw's ``sizes.flip`` (0..7; 1, 2, 4, 7 are the mirrored ones) -> EXIF orientation code."""
    return {0: 1, 1: 2, 2: 4, 3: 3, 4: 5, 5: 8, 6: 6, 7: 7}.get(int(flip), 1)

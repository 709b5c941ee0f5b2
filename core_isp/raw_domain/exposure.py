"""Exposure changes in the RAW domain: a linear sensor's signal is proportional to exposure time."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from core_isp.metadata import CameraMetadata
from core_isp.raw_domain._batch import PerSample, check_batch, per_sample


def scale_exposure(
    raw: torch.Tensor, meta: Sequence[CameraMetadata], ev: PerSample
) -> tuple[torch.Tensor, list[CameraMetadata]]:
    """Multiply each sample ``(B, 1, H, W)`` by ``2 ** ev`` and its ``exposure_time_s`` likewise.

    ``ev`` is one value or one per sample (a tensor may require grad). Nothing is clipped, so values
    may exceed the clip level (see :func:`core_isp.raw_domain.clip_to_white`) and +e then -e EV is the
    identity. An unknown exposure time stays unknown; its ``exposure_time_source`` is kept, as the
    value is still the recorded one, rescaled.
    """
    meta = check_batch(raw, meta)
    gain = torch.exp2(per_sample(ev, raw.shape[0], raw.dtype, raw.device, "ev"))
    gains = gain.detach().cpu().tolist()
    out_meta = [
        m if m.exposure_time_s is None else m.replace(exposure_time_s=m.exposure_time_s * g)
        for m, g in zip(meta, gains, strict=True)
    ]
    return raw * gain.view(-1, 1, 1, 1), out_meta

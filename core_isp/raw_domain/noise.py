"""Sensor noise in the RAW domain, after a camera's :class:`~core_isp.cameras.noise.NoiseModel`.

Heteroscedastic Gaussian: at a normalised level x the variance is ``read(iso) + shot(iso) * max(x, 0)``.
``iso`` is the analogue ISO the sensor runs at; it can differ from the recorded EXIF ISO (highlight
tone priority records a higher one), which is why it is an argument and not read from the metadata.
The simulator draws its shots' noise with the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F

from core_isp.metadata import CameraMetadata
from core_isp.raw_domain._batch import PerSample, check_batch, per_sample
from core_isp.raw_domain.bayer import pack_bayer

if TYPE_CHECKING:  # only annotated: core_isp.io needs this package, and the cameras package may need core_isp.io
    from core_isp.cameras.noise import NoiseModel


def noise_std(
    raw: torch.Tensor, meta: Sequence[CameraMetadata], noise_model: NoiseModel, iso: PerSample
) -> torch.Tensor:
    """Noise standard deviation ``(B, 1, H, W)`` at each clean normalised value ``(B, 1, H, W)``, in ``raw``'s dtype.

    ``iso`` is one analogue ISO or one per sample. Square it for the per-pixel variance that
    inverse-variance weighting (e.g. an HDR merge) needs.
    """
    meta = check_batch(raw, meta)
    isos = per_sample(iso, raw.shape[0], torch.float64, raw.device, "iso").tolist()
    std = torch.stack([noise_model.std(x, s) for x, s in zip(raw, isos, strict=True)])
    return std.to(raw.dtype)


def add_sensor_noise(
    raw: torch.Tensor,
    meta: Sequence[CameraMetadata],
    noise_model: NoiseModel,
    iso: PerSample,
    generator: torch.Generator,
) -> tuple[torch.Tensor, list[CameraMetadata]]:
    """One noisy realisation ``(B, 1, H, W)`` of a clean normalised mosaic ``(B, 1, H, W)``, in ``raw``'s dtype.

    The noise is drawn in float64 from ``generator`` (on ``raw``'s device), so a seed gives the same
    bits every time; it is added, not clipped. Each sample's metadata gets ``iso`` (one value or one
    per sample) as its ISO, from source ``"user"``. Differentiable with respect to ``raw`` (the noise
    is a reparameterised draw).
    """
    meta = check_batch(raw, meta)
    isos = per_sample(iso, raw.shape[0], torch.float64, raw.device, "iso").tolist()
    # Float64 throughout, as the model computes: the simulator's shots keep their bits for a seed.
    std = noise_std(raw.double(), meta, noise_model, isos)
    noise = torch.randn(raw.shape, generator=generator, dtype=torch.float64, device=raw.device)
    out_meta = [m.replace(iso=s, iso_source="user") for m, s in zip(meta, isos, strict=True)]
    return (raw.double() + std * noise).to(raw.dtype), out_meta


#: A high-pass that cancels planes, ramps and (largely) edges, so what it passes is noise (Immerkaer 1996); the sum
#: of its squared taps is 36, so white noise of std s comes out with std 6 s.
_NOISE_PROBE = torch.tensor([[1.0, -2.0, 1.0], [-2.0, 4.0, -2.0], [1.0, -2.0, 1.0]])
_NOISE_PROBE_GAIN = 6.0
#: Sites this close to clipping (normalised) say nothing about noise.
_NEAR_WHITE = 0.95


def estimate_noise_fraction(
    raw: torch.Tensor, meta: Sequence[CameraMetadata], noise_model: NoiseModel, iso: PerSample
) -> torch.Tensor:
    """How much noise mosaics ``(B, 1, H, W)`` already carry, as a fraction of the model's std at ``iso``: ``(B,)``.

    Each colour plane is high-passed with a probe that cancels smooth signal; the output at a site is divided by
    what the model's noise at the site's (local mean) level would give, and the robust spread (1.4826 x median
    absolute value) of those ratios is the fraction: ~1 for a mosaic carrying the model's noise, ~0 for a clean
    one (texture at the finest scale passes the probe too, so "clean" reads a little above 0). Noise correlated
    over several pixels (as after a JPEG's noise reduction) is seen only in part.
    """
    meta = check_batch(raw, meta)
    planes = pack_bayer(raw.double(), meta)
    batch, _, height, width = planes.shape
    flat = planes.reshape(batch * 4, 1, height, width)
    probe = _NOISE_PROBE.to(flat)[None, None]
    response = F.conv2d(flat, probe).reshape(batch, 4, height - 2, width - 2)
    level = F.avg_pool2d(flat, 3, stride=1).reshape(batch, 4, height - 2, width - 2)
    isos = per_sample(iso, batch, torch.float64, raw.device, "iso").tolist()
    fractions = []
    for b in range(batch):
        std = noise_model.std(level[b].clamp(min=0.0), isos[b]) * _NOISE_PROBE_GAIN
        ratio = (response[b] / std).abs()
        usable = (level[b] < _NEAR_WHITE) & torch.isfinite(ratio)
        fractions.append(1.4826 * ratio[usable].median() if bool(usable.any()) else ratio.new_tensor(0.0))
    return torch.stack(fractions).to(raw.dtype)

"""GlobalNet: per-image colour and tone operators predicted from pooled features.

The pooled vector g is the network's only global quantity; given g (from this image or from a context
pass, DECIDE(12)) the operators act on each pixel independently.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from core_isp.models.config import ParamISPConfig
from core_isp.models.layers import linear, xavier_init
from core_isp.tensor_checks import check_shape

#: Coefficients per stage: a 10 x 3 quadratic colour matrix and (a, b, c) of an extended gamma per channel.
STAGE_COEFFICIENTS = 30 + 9
#: Added to magnitudes before raising them to a power, so the power's gradient stays finite at 0.
POWER_EPS = 1e-12
#: Smallest side GlobalNet's encoder accepts (three unpadded stride-2 3x3 convs, each followed by a 2x2
#: max-pool, need 85 pixels), rounded up to a multiple of 4.
MIN_INPUT_SIDE = 88


def colour_monomials(x: torch.Tensor) -> torch.Tensor:
    """The 10 monomials of (r, g, b, 1) up to degree 2: ``(B, 3, H, W)`` -> ``(B, 10, H, W)``.

    Order: r^2, rg, rb, r, g^2, gb, g, b^2, b, 1.
    """
    r, g, b = x.unbind(dim=1)
    return torch.stack([r * r, r * g, r * b, r, g * g, g * b, g, b * b, b, torch.ones_like(r)], dim=1)


def quadratic_colour_transform(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``x + monomials(x) @ Q`` per pixel: ``(B, 3, H, W)``, ``(B, 10, 3)`` -> ``(B, 3, H, W)``."""
    check_shape(q, "B,10,3", "q")
    return x + torch.einsum("bkc,bkhw->bchw", q, colour_monomials(x))


def _signed_power(v: torch.Tensor, exponent: torch.Tensor) -> torch.Tensor:
    return torch.sign(v) * (v.abs() + POWER_EPS).pow(exponent)


def extended_gamma(x: torch.Tensor, abc: torch.Tensor) -> torch.Tensor:
    """``((t1 x + t0)^g - t0^g) / ((t1 + t0)^g - t0^g)`` per channel, with g = exp(a), t0 = |b|, t1 = exp(c).

    ``(B, 3, H, W)``, ``(B, 3, 3)`` (channel, (a, b, c)) -> ``(B, 3, H, W)``. Monotone on [0, 1] with 0 -> 0 and
    1 -> 1; a = b = c = 0 is the identity.
    """
    check_shape(abc, "B,3,3", "abc")
    gamma, t0, t1 = (v[:, :, None, None] for v in (abc[..., 0].exp(), abc[..., 1].abs(), abc[..., 2].exp()))
    base = _signed_power(t0, gamma)
    return (_signed_power(t1 * x + t0, gamma) - base) / (_signed_power(t1 + t0, gamma) - base)


def apply_stage(x: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """One stage: quadratic colour transform, then extended gamma: ``(B, 3, H, W)``, ``(B, 39)``."""
    check_shape(coefficients, "B,39", "coefficients")
    q = coefficients[:, :30].reshape(-1, 10, 3)
    abc = coefficients[:, 30:].reshape(-1, 3, 3)
    return extended_gamma(quadratic_colour_transform(x, q), abc)


def _strided(in_channels: int, out_channels: int) -> nn.Conv2d:
    layer = nn.Conv2d(in_channels, out_channels, 3, stride=2)
    xavier_init(layer)
    return layer


class GlobalNet(nn.Module):
    """Pooled features + embedding -> ``global_stages`` colour/tone stages applied to the image."""

    def __init__(self, config: ParamISPConfig) -> None:
        super().__init__()
        c, s = config.global_channels, config.global_stages
        layers: list[nn.Module] = []
        for in_channels in (config.feature_channels, c, c):
            layers += [_strided(in_channels, c), nn.ELU(), nn.MaxPool2d(2)]
        self.encoder = nn.Sequential(*layers)
        self.modulation = linear(config.embed_dim, c, gain=0.1)
        self.stage_embedding = linear(s, c)
        self.mlp = nn.Sequential(linear(c, c), nn.ELU(), linear(c, c), nn.ELU())
        # Gain 0.01: coefficients start near zero, where every stage is the identity.
        self.heads = nn.ModuleList(linear(c, STAGE_COEFFICIENTS, gain=0.01) for _ in range(s))

    def pool(self, features: torch.Tensor) -> torch.Tensor:
        """The pooled vector g: ``(B, F, H, W)`` -> ``(B, global_channels)``; H, W >= :data:`MIN_INPUT_SIDE`."""
        return self.encoder(features).mean(dim=(2, 3))

    def coefficients(self, pooled: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``(B, C)``, ``(B, E)`` -> ``(B, stages, 39)``; every coefficient >= -1 (ELU)."""
        g = pooled + F.elu(self.modulation(h))
        stages = torch.eye(len(self.heads), device=g.device, dtype=g.dtype)
        w = self.mlp(g[:, None, :] + F.elu(self.stage_embedding(stages)))
        return torch.stack([F.elu(head(w[:, i])) for i, head in enumerate(self.heads)], dim=1)

    def forward(self, x: torch.Tensor, pooled: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """Apply the stages to ``x`` ``(B, 3, H, W)``; computed in fp32 (DECIDE(14): powers of near-zero bases)."""
        with torch.autocast(x.device.type, enabled=False):
            coefficients = self.coefficients(pooled.float(), h.float())
            y = x.float()
            for i in range(coefficients.shape[1]):
                y = apply_stage(y, coefficients[:, i])
            return y

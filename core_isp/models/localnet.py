"""LocalNet: a residual U-Net (3 scales) of CBAM-style blocks, shifted by the parameter embedding.

Every global pooling inside it (the channel attention of each block) can be replaced by vectors recorded
in a context pass (DECIDE(12), see :mod:`core_isp.models.context`): with them the network is purely local,
with the finite reach :func:`localnet_reach`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from core_isp.models.config import ParamISPConfig
from core_isp.models.layers import conv, linear, xavier_init

#: A block's channel-attention statistics: global average and global max of its features, ``(B, C)`` each.
Pooled = tuple[torch.Tensor, torch.Tensor]

SPATIAL_ATTENTION_KERNEL = 7


def pool_channels(x: torch.Tensor) -> Pooled:
    """Global average and max per channel: ``(B, C, H, W)`` -> ``((B, C), (B, C))``."""
    # A sum and a division rather than mean(): on the CPU, mean() of bf16 is 7x slower than the sum it divides.
    return x.sum(dim=(2, 3)) / (x.shape[-2] * x.shape[-1]), x.amax(dim=(2, 3))


class ChannelAttention(nn.Module):
    """Per-channel gate from pooled statistics through a shared two-layer MLP."""

    def __init__(self, channels: int, hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(linear(channels, hidden), nn.ELU(), linear(hidden, channels))

    def forward(self, pooled: Pooled) -> torch.Tensor:
        """``((B, C), (B, C))`` -> gate ``(B, C, 1, 1)`` in (0, 1)."""
        avg, peak = pooled
        return torch.sigmoid(self.mlp(avg) + self.mlp(peak))[:, :, None, None]


class SpatialAttention(nn.Module):
    """Per-pixel gate from the channel mean and max through a 7x7 convolution."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = conv(2, 1, SPATIAL_ATTENTION_KERNEL)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> gate ``(B, 1, H, W)`` in (0, 1)."""
        mean = x.sum(dim=1, keepdim=True) / x.shape[1]  # not mean(): see pool_channels
        return torch.sigmoid(self.conv(torch.cat([mean, x.amax(dim=1, keepdim=True)], 1)))


class ResidualBlock(nn.Module):
    """conv-ELU-conv, channel attention, spatial attention, plus the input; no normalisation."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        hidden = channels // 2
        self.conv1 = conv(channels, hidden, 3)
        self.conv2 = conv(hidden, channels, 3)
        self.channel_attention = ChannelAttention(channels, hidden)
        self.spatial_attention = SpatialAttention()

    def forward(self, x: torch.Tensor, pooled: Pooled | None = None) -> tuple[torch.Tensor, Pooled]:
        """``(B, C, H, W)`` -> same, plus the pooled statistics used (computed here when ``pooled`` is None)."""
        hidden = F.elu(self.conv1(x))
        if pooled is not None and x.shape[0] == 1:
            # Recorded statistics give the channel gate before conv2 runs: folded into its weights, the gate costs
            # no pass over the features (one image at a time, as full-resolution inference runs).
            y = self.conv2(hidden, out_scale=self.channel_attention(pooled).flatten())
        else:
            y = self.conv2(hidden)
            pooled = pool_channels(y) if pooled is None else pooled
            y = y * self.channel_attention(pooled)
        return torch.addcmul(x, y, self.spatial_attention(y)), pooled


class Stage(nn.Module):
    """A run of residual blocks at one scale."""

    def __init__(self, channels: int, blocks: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(ResidualBlock(channels) for _ in range(blocks))

    def forward(self, x: torch.Tensor, pooled: Sequence[Pooled] | None) -> tuple[torch.Tensor, list[Pooled]]:
        """Run the blocks, each with its recorded statistics if given; return the statistics used."""
        used = []
        for i, block in enumerate(self.blocks):
            x, p = block(x, None if pooled is None else pooled[i])
            used.append(p)
        return x, used


def _down(channels: int) -> nn.Conv2d:
    layer = nn.Conv2d(channels, channels, 2, stride=2)
    xavier_init(layer)
    return layer


def _up(channels: int) -> nn.ConvTranspose2d:
    layer = nn.ConvTranspose2d(channels, channels, 2, stride=2)
    xavier_init(layer)
    return layer


class LocalNet(nn.Module):
    """Features ``(B, F, H, W)`` and image ``(B, 3, H, W)`` -> image + learned residual; H, W multiples of 4."""

    #: Order of the stages, which is also the order of the blocks' statistics in a context.
    STAGES = ("enc_full", "enc_half", "bottleneck", "dec_half", "dec_full")

    def __init__(self, config: ParamISPConfig) -> None:
        super().__init__()
        c, n = config.channels, config.blocks_per_stage
        self.head = conv(config.feature_channels, c, 3)
        self.modulation = linear(config.embed_dim, c)
        self.enc_full = Stage(c, n)
        self.down_full = _down(c)
        self.enc_half = Stage(c, n)
        self.down_half = _down(c)
        self.bottleneck = Stage(c, n)
        self.up_half = _up(c)
        self.dec_half = Stage(c, n)
        self.up_full = _up(c)
        self.dec_full = Stage(c, n)
        # Gain 0.01: the residual starts near zero, so LocalNet starts near the identity.
        self.tail = conv(c, 3, 3, gain=0.01)
        self.blocks_per_stage = n

    @property
    def dtype(self) -> torch.dtype:
        """The weights' dtype, which the features, embedding and statistics are cast to."""
        return self.head.weight.dtype

    @property
    def num_blocks(self) -> int:
        """Residual blocks in all, i.e. channel-attention statistics in a context."""
        return len(self.STAGES) * self.blocks_per_stage

    def forward(
        self, features: torch.Tensor, x: torch.Tensor, h: torch.Tensor, pooled: Sequence[Pooled] | None = None
    ) -> tuple[torch.Tensor, list[Pooled]]:
        """Residual-corrected image and the blocks' statistics (recorded ones if ``pooled`` is given). The network
        runs in its weights' :attr:`dtype`; the residual is added to ``x`` in ``x``'s dtype."""
        n, dtype = self.blocks_per_stage, self.dtype

        def stats(stage: int) -> Sequence[Pooled] | None:
            return None if pooled is None else pooled[stage * n : (stage + 1) * n]

        # The parameter embedding enters as a spatially constant shift of the head's features.
        features = features.to(dtype)
        f = self.head(features) + self.modulation(h.to(dtype)).to(features.dtype)[:, :, None, None]
        skip_full, p0 = self.enc_full(f, stats(0))
        skip_half, p1 = self.enc_half(self.down_full(skip_full), stats(1))
        f, p2 = self.bottleneck(self.down_half(skip_half), stats(2))
        f, p3 = self.dec_half(self.up_half(f) + skip_half, stats(3))
        f, p4 = self.dec_full(self.up_full(f) + skip_full, stats(4))
        return x + self.tail(f).to(x.dtype), p0 + p1 + p2 + p3 + p4


def localnet_reach(config: ParamISPConfig) -> int:
    """How far (full-resolution pixels) an output pixel of LocalNet sees into its input features, with the
    channel attention fed recorded statistics.

    Traced backwards from the 3x3 tail: each block reaches 1 + 1 + 3 pixels at its scale (two 3x3 convs and
    the 7x7 spatial attention); a 2x2 transposed conv maps a fine pixel to one coarse pixel (at most half
    the reach + 1 coarse pixel); a 2x2 stride-2 conv makes a coarse reach r cover 2r + 1 fine pixels. The
    skip paths reach less than the path through the bottleneck, so it alone sets the result.
    """
    block = 1 + 1 + SPATIAL_ATTENTION_KERNEL // 2
    stage = block * config.blocks_per_stage
    r = 1 + stage  # tail, decoder at full resolution
    r = r // 2 + 1 + stage  # up to half resolution, decoder there
    r = r // 2 + 1 + stage  # up to quarter resolution, bottleneck
    r = 2 * r + 1 + stage  # down from half resolution, encoder there
    r = 2 * r + 1 + stage  # down from full resolution, encoder there
    return r + 1  # head

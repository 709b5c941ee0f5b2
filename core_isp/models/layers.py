"""Layer builders and initialisation shared by the networks."""

from __future__ import annotations

from torch import nn


def xavier_init(module: nn.Conv2d | nn.ConvTranspose2d | nn.Linear, gain: float = 1.0) -> None:
    """Xavier-normal weights with ``gain``, zero bias: the paper's initialisation for every learned layer."""
    nn.init.xavier_normal_(module.weight, gain=gain)
    if module.bias is not None:
        nn.init.zeros_(module.bias)


def conv(in_channels: int, out_channels: int, kernel_size: int, gain: float = 1.0) -> nn.Conv2d:
    """Stride-1 'same' convolution with replicate padding (the paper pads every spatial conv this way)."""
    layer = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, padding_mode="replicate")
    xavier_init(layer, gain)
    return layer


def linear(in_features: int, out_features: int, gain: float = 1.0) -> nn.Linear:
    """Fully connected layer with Xavier-normal init."""
    layer = nn.Linear(in_features, out_features)
    xavier_init(layer, gain)
    return layer

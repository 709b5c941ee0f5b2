"""A compact deblurring network for packed Bayer planes or sRGB, conditioned on the shot's noise level, and its
weight files.

The network is a small U-Net of gated blocks after NAFNet (Chen et al., "Simple Baselines for Image Restoration",
ECCV 2022): layer norm, a 1x1 expansion, a 3x3 depthwise convolution, a SimpleGate (one half of the channels times
the other) and a 1x1 projection, then the same gated feed-forward. NAFNet's simplified channel attention pools over
the whole image; it is left out so every output pixel depends only on a bounded neighbourhood (:attr:`DeblurNet.reach`)
and a tiled pass equals one pass over the image. The noise level enters every block as a FiLM scale and shift of its
normalised features, from ``log2(ISO / 100)`` (sensor noise variance grows in proportion to the analogue gain, so a
stop of ISO is a fixed step in log noise). The output is the input plus a predicted residual.

One architecture serves both domains, so the sRGB baselines differ from the RAW network only in what they are fed:
RAW is the mosaic packed into its four colour planes at half resolution (:func:`core_isp.raw_domain.pack_bayer`);
sRGB is pixel-unshuffled by 2 into 12 channels at the same half resolution. Both bodies then see the same number of
positions per image and cost the same.

Weights: one ``.safetensors`` file whose metadata holds what the network is (``kind``, ``format_version``,
``config``) and how it was made (``training``: budget, data and its hash; ``code_version``), as the ISP
checkpoints of :mod:`core_isp.checkpoint` record theirs.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from core_isp.checkpoint import WEIGHT_DTYPES, code_version, read_weights_metadata, write_weights
from core_isp.errors import BadInputError, DamagedWeightsError
from core_isp.tensor_checks import check_shape

Domain = Literal["raw", "srgb"]
DOMAINS: tuple[Domain, ...] = ("raw", "srgb")
#: ``kind`` in a deblurring weight file's metadata (an ISP checkpoint has a ``direction`` instead).
WEIGHTS_KIND = "paramisp-deblur"
FORMAT_VERSION = "1"
#: ISO the noise condition is relative to: ``log2(ISO / REFERENCE_ISO)`` is 0 there.
REFERENCE_ISO = 100.0


@dataclass(frozen=True)
class DeblurConfig:
    """Hyper-parameters of a :class:`DeblurNet`; :meth:`for_domain` gives the shipped shape for either domain."""

    #: What the network takes: ``raw`` (packed Bayer planes) or ``srgb``.
    domain: Domain = "raw"
    #: Image channels in and out: 4 packed Bayer planes (R, Gr, Gb, B) or 3 sRGB channels.
    channels: int = 4
    #: Pixel-unshuffle factor before the body (2 puts sRGB at the packed planes' resolution).
    unshuffle: int = 1
    #: Feature channels at full body resolution; doubled at each level down.
    width: int = 16
    #: Gated blocks per encoder level (the decoder mirrors it); its length is the number of levels down.
    encoder_blocks: tuple[int, ...] = (1, 1, 1)
    middle_blocks: int = 1
    #: Width of the noise-level embedding every block's FiLM reads.
    condition_width: int = 16

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise BadInputError(f"deblur domain must be one of {', '.join(DOMAINS)}, got {self.domain!r}")
        if self.domain == "raw" and (self.channels, self.unshuffle) != (4, 1):
            raise BadInputError("a RAW deblurring network takes the 4 packed Bayer planes without unshuffling")
        if self.channels < 1 or self.unshuffle < 1 or self.width < 1 or not self.encoder_blocks:
            raise BadInputError(f"invalid deblurring config {self}")
        object.__setattr__(self, "encoder_blocks", tuple(int(n) for n in self.encoder_blocks))

    @classmethod
    def for_domain(cls, domain: Domain, **changes: object) -> DeblurConfig:
        """The default shape for ``domain``: the same body, fed packed planes or unshuffled sRGB."""
        base = {"raw": {"channels": 4, "unshuffle": 1}, "srgb": {"channels": 3, "unshuffle": 2}}
        if domain not in base:
            raise BadInputError(f"deblur domain must be one of {', '.join(DOMAINS)}, got {domain!r}")
        return cls(domain=domain, **{**base[domain], **changes})  # type: ignore[arg-type]

    @property
    def size_multiple(self) -> int:
        """Input height and width must be multiples of this (the unshuffle and every level's stride 2)."""
        return self.unshuffle * 2 ** len(self.encoder_blocks)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DeblurConfig:
        try:
            values = json.loads(text)
            return cls(**values)
        except (TypeError, ValueError) as e:
            raise BadInputError(f"unreadable deblurring config ({e})") from None


def iso_condition(iso: torch.Tensor) -> torch.Tensor:
    """ISO ``(B,)`` -> the network's noise condition ``(B, 1)``: ``log2(ISO / 100)``."""
    check_shape(iso, "B", "iso")
    return torch.log2(iso.float().clamp(min=1.0) / REFERENCE_ISO)[:, None]


def simple_gate(x: torch.Tensor) -> torch.Tensor:
    """NAFNet's SimpleGate: ``(B, 2C, H, W)`` -> ``(B, C, H, W)``, one half of the channels times the other."""
    a, b = x.chunk(2, dim=1)
    return a * b


class LayerNorm2d(nn.Module):
    """Layer norm over the channels of each pixel ``(B, C, H, W)`` (local: no statistics across pixels)."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).square().mean(dim=1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class GatedBlock(nn.Module):
    """NAFNet's block without its global channel attention, with FiLM by the noise embedding; reach 1 pixel."""

    def __init__(self, channels: int, condition_width: int) -> None:
        super().__init__()
        c = channels
        self.norm1 = LayerNorm2d(c)
        self.film = nn.Linear(condition_width, 2 * c)
        self.expand = nn.Conv2d(c, 2 * c, 1)
        self.depthwise = nn.Conv2d(2 * c, 2 * c, 3, padding=1, groups=2 * c)
        self.project = nn.Conv2d(c, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.ffn_in = nn.Conv2d(c, 2 * c, 1)
        self.ffn_out = nn.Conv2d(c, c, 1)
        # Zero residual scales (NAFNet's init): every block starts as the identity, which keeps a deep stack stable.
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(condition)[..., None, None].chunk(2, dim=1)
        y = self.norm1(x) * (1.0 + scale) + shift
        x = x + self.beta * self.project(simple_gate(self.depthwise(self.expand(y))))
        return x + self.gamma * self.ffn_out(simple_gate(self.ffn_in(self.norm2(x))))


class GatedStage(nn.Module):
    """Several :class:`GatedBlock` at one resolution, all reading the same condition."""

    def __init__(self, channels: int, count: int, condition_width: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(GatedBlock(channels, condition_width) for _ in range(count))

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x, condition)
        return x


class DeblurNet(nn.Module):
    """The deblurring U-Net: image ``(B, channels, H, W)`` and ISO ``(B,)`` -> deblurred ``(B, channels, H, W)``."""

    def __init__(self, config: DeblurConfig) -> None:
        super().__init__()
        self.config = config
        c, k = config.width, config.unshuffle
        self.embed = nn.Sequential(nn.Linear(1, config.condition_width), nn.GELU(),
                                   nn.Linear(config.condition_width, config.condition_width))  # fmt: skip
        self.intro = nn.Conv2d(config.channels * k * k, c, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        for n in config.encoder_blocks:
            self.encoders.append(GatedStage(c, n, config.condition_width))
            self.downs.append(nn.Conv2d(c, 2 * c, 2, stride=2))
            c *= 2
        self.middle = GatedStage(c, config.middle_blocks, config.condition_width)
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for n in reversed(config.encoder_blocks):
            self.ups.append(nn.Sequential(nn.Conv2d(c, 2 * c, 1, bias=False), nn.PixelShuffle(2)))
            c //= 2
            self.decoders.append(GatedStage(c, n, config.condition_width))
        self.ending = nn.Conv2d(c, config.channels * k * k, 3, padding=1)

    @property
    def reach(self) -> int:
        """Input pixels on each side an output pixel can depend on (an upper bound): the tiling halo needs this.

        Body pixels: the intro and ending 3x3 convolutions 1 each; at level ``l`` (stride ``2^l``) each block's
        depthwise 3x3 reaches ``2^l``, and the 2x2 stride-2 down-convolution and the grid of the 2x up-shuffle
        together ``2^(l+1)``; times the unshuffle factor.
        """
        cfg = self.config
        levels = len(cfg.encoder_blocks)
        body = 2 + sum((2 * n + 2) * 2**level for level, n in enumerate(cfg.encoder_blocks))
        return (body + cfg.middle_blocks * 2**levels) * cfg.unshuffle

    def forward(self, x: torch.Tensor, iso: torch.Tensor) -> torch.Tensor:
        check_shape(x, f"B,{self.config.channels},H,W", "image")
        multiple = self.config.size_multiple
        if x.shape[-2] % multiple or x.shape[-1] % multiple:
            raise ValueError(f"image height and width must be multiples of {multiple}, got {tuple(x.shape[-2:])}")
        condition = self.embed(iso_condition(iso.to(x.device)).to(x.dtype))
        k = self.config.unshuffle
        y = self.intro(F.pixel_unshuffle(x, k) if k > 1 else x)
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            y = encoder(y, condition)
            skips.append(y)
            y = down(y)
        y = self.middle(y, condition)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips), strict=True):
            y = decoder(up(y) + skip, condition)
        residual = self.ending(y)
        return x + (F.pixel_shuffle(residual, k) if k > 1 else residual)


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class DeblurWeightsInfo:
    """What a deblurring weight file says about itself."""

    config: DeblurConfig
    code_version: str
    #: JSON: how the weights were trained (budget, steps, data folders and their hash, losses); "{}" untrained.
    training: str = "{}"
    weights_dtype: str = "float32"

    def to_metadata(self) -> dict[str, str]:
        return {"kind": WEIGHTS_KIND, "format_version": FORMAT_VERSION, "config": self.config.to_json(),
                "code_version": self.code_version, "training": self.training,
                "weights_dtype": self.weights_dtype}  # fmt: skip

    def describe(self) -> str:
        """One phrase for records and logs, e.g. ``raw deblurring net (0.31 M parameters, 20 min budget)``."""
        training = json.loads(self.training)
        budget = training.get("budget_min")
        return f"{self.config.domain} deblurring net" + (f", {budget:g} min training budget" if budget else "")


def save_weights(
    model: DeblurNet,
    path: str | Path,
    training: dict[str, object] | None = None,
    weights_dtype: str = "float32",
    overwrite: bool = True,
) -> DeblurWeightsInfo:
    """Write ``model``'s weights and identity to ``path`` (``.safetensors``), atomically (temp name, then rename)."""
    if weights_dtype not in WEIGHT_DTYPES:
        raise BadInputError(f"weights_dtype must be one of {tuple(WEIGHT_DTYPES)}, got {weights_dtype!r}")
    info = DeblurWeightsInfo(model.config, code_version(), json.dumps(training or {}, sort_keys=True), weights_dtype)
    write_weights(path, model, info.to_metadata(), weights_dtype, overwrite)
    return info


def read_weights_info(path: str | Path) -> DeblurWeightsInfo:
    """A weight file's identity without its tensors; anything but deblurring weights is a one-line refusal."""
    meta = read_weights_metadata(path)
    if meta.get("kind") != WEIGHTS_KIND:
        what = f"a {meta['direction']} ISP checkpoint" if "direction" in meta else "not a paramisp weight file"
        raise BadInputError(f"{path}: {what}, not deblurring weights")
    if meta.get("format_version") != FORMAT_VERSION:
        raise BadInputError(f"{path}: deblurring weights of format {meta.get('format_version')!r}, "
                            f"this code reads {FORMAT_VERSION!r}")  # fmt: skip
    config = DeblurConfig.from_json(meta.get("config", "{}"))
    return DeblurWeightsInfo(config, meta.get("code_version", "unknown"), meta.get("training", "{}"),
                             meta.get("weights_dtype", "float32"))  # fmt: skip


def load_weights(
    path: str | Path, domain: Domain | None = None, device: torch.device | str = "cpu"
) -> tuple[DeblurNet, DeblurWeightsInfo]:
    """The network a weight file describes, in eval mode (fp16 files upcast to fp32).

    Refuses, in one line: ISP checkpoints and other files, weights of another ``domain`` when one is asked for,
    tensors that do not fit the recorded config, and non-finite (damaged) weights.
    """
    info = read_weights_info(path)
    if domain is not None and info.config.domain != domain:
        raise BadInputError(f"{path}: {info.config.domain} deblurring weights, expected {domain}")
    model = DeblurNet(info.config)
    tensors = load_file(str(path))
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if found != expected:
        wrong = sorted(set(found) ^ set(expected)) or sorted(k for k in found if found[k] != expected[k])
        raise BadInputError(f"{path}: weights do not fit their recorded config (first mismatch: {wrong[0]})")
    if not all(bool(torch.isfinite(v).all()) for v in tensors.values() if v.is_floating_point()):
        raise DamagedWeightsError(f"{path}: deblurring weights hold NaN or Inf: damaged file")
    model.load_state_dict({k: v.float() for k, v in tensors.items()})
    return model.to(device).eval(), info

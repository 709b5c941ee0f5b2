"""Hyper-parameters of one ParamISP direction as a dataclass, with the two named configurations.

``base`` has the paper's sizes; ``small`` is a CPU-sized variant of the same structure (half the widths, one
block per stage). Parameters per direction, and multiply-adds per pixel counted by
``torch.utils.flop_counter`` (FLOPs / 2) for one pass on a 128 x 128 input (which is its own context):

======  ========  =========  ========  ==============  =======  =========  ====================
config  LocalNet  GlobalNet  ParamNet  2 modulations   total    MAC/pixel  tiled pass MAC/pixel
======  ========  =========  ========  ==============  =======  =========  ====================
base    535,393   147,996    18,176    2 x 4,160       709,885  2.71e5     2.57e5 x overlap
small   97,234    53,596     6,016     2 x 1,056       158,958  6.21e4     5.51e4 x overlap
======  ========  =========  ========  ==============  =======  =========  ====================

``base``: LocalNet 2.567e5 MAC/pixel (the 96->64 head 55.3k, the four full-resolution blocks 147.8k, the rest
at half and quarter resolution), GlobalNet's strided convolutions 1.4e4, its colour transforms and the
forward direction's demosaic a few hundred. ``small``: LocalNet 5.5e4 (head 27.6k), GlobalNet 6.9e3. The
tiled full-resolution pass skips GlobalNet's convolutions (its pooled vector comes from the context pass)
but recomputes each window's overlap, a factor ``(tile + 2 halo)^2 / tile^2``; the context pass adds a fixed
cost of at most ``context_size^2`` pixels.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

from core_isp.errors import BadInputError

#: The figures stated in the table above (single pass at 128 x 128), checked by the tests to 5 %.
STATED_MACS_PER_PIXEL: dict[str, float] = {"base": 2.71e5, "small": 6.21e4}


EMBEDDINGS = ("full", "colour", "none")


@dataclass(frozen=True)
class ParamISPConfig:
    """Sizes of one direction's networks; the same config serves the forward and the inverse ISP."""

    name: str
    #: LocalNet width; each residual block narrows to half of it, as does its channel-attention MLP.
    channels: int = 64
    #: Residual blocks per U-Net stage (5 stages: 2 encoder, bottleneck, 2 decoder).
    blocks_per_stage: int = 2
    #: GlobalNet convolution width, and the width of its pooled vector and stage MLP.
    global_channels: int = 64
    #: Width of ParamNet's fused embedding h and of its hidden layers.
    embed_dim: int = 64
    #: Soft-histogram bin counts of the input features (3 channels each).
    hist_bins: tuple[int, ...] = (4, 8, 16)
    #: Sequential colour/tone stages GlobalNet predicts.
    global_stages: int = 4
    #: What ParamNet embeds: ``"full"`` (colour and optical parameters, the paper), ``"colour"`` (WB and CCM
    #: only: the optical terms are always masked) or ``"none"`` (no embedding, h = 0). The last two are the
    #: ablations that measure what the EXIF optical parameters add.
    embedding: str = "full"
    #: Longer side, in pixels, of the image the context pass pools over (see ``core_isp.models.context``).
    context_size: int = 512

    def __post_init__(self) -> None:
        if self.channels % 2 or self.channels < 2:
            raise BadInputError(f"channels must be a positive even number, got {self.channels}")
        if self.embedding not in EMBEDDINGS:
            raise BadInputError(f"embedding must be one of {EMBEDDINGS}, got {self.embedding!r}")
        if self.context_size % 4:
            raise BadInputError(f"context_size must be a multiple of 4, got {self.context_size}")

    @property
    def feature_channels(self) -> int:
        """Channels of the input features: image, 2 gradients, histograms and over-exposure mask, 3 each."""
        return 3 * (1 + 2 + sum(self.hist_bins) + 1)

    def replace(self, **changes: object) -> ParamISPConfig:
        """Copy with fields changed (validated again)."""
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    def to_json(self) -> str:
        """Compact JSON; :meth:`from_json` restores an equal config."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> ParamISPConfig:
        """Parse :meth:`to_json` output; unknown keys are an error."""
        d = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(d, dict) or set(d) - names:
            raise BadInputError(f"not a ParamISP config: unknown fields {sorted(set(d) - names)}")
        if "hist_bins" in d:
            d["hist_bins"] = tuple(d["hist_bins"])
        return cls(**d)


CONFIGS: dict[str, ParamISPConfig] = {
    "base": ParamISPConfig(name="base"),
    # Half the width and one block per stage: about a quarter of base's cost, for CPU tests and benchmarks.
    "small": ParamISPConfig(name="small", channels=32, blocks_per_stage=1, global_channels=32, embed_dim=32),
}


def get_config(name: str) -> ParamISPConfig:
    """A named config (``"base"`` or ``"small"``)."""
    if name not in CONFIGS:
        raise BadInputError(f"unknown ParamISP config {name!r}; choose from {', '.join(CONFIGS)}")
    return CONFIGS[name]

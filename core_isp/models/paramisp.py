"""``ParamISP``: one direction of the learned ISP, composed from CanoNet and the three networks.

forward (RAW -> sRGB):  demosaic -> WB -> clip [0, 1] -> CCM -> mask -> LocalNet -> GlobalNet
inverse (sRGB -> RAW):  mask -> GlobalNet -> LocalNet -> CCM^-1 -> / WB -> mosaic

The over-exposure mask is computed once from the image entering the learned part and reused by the second
network; the other feature channels are recomputed from each network's own input. The model draws no random
numbers: the paper's training-time dequantisation noise (:mod:`core_isp.models.quantisation`) and optics
dropout (unknown optical values) are applied to its inputs by the training data, per sample from the sample's
own generator, so that every process sees the same noise and the joint stage can reuse it.
"""

from __future__ import annotations

import copy
from typing import Literal

import torch
from torch import nn

from core_isp.canonical import apply_ccm, apply_wb, demosaic, invert_ccm, invert_wb
from core_isp.canonical import mosaic as sample_cfa
from core_isp.errors import BadInputError
from core_isp.models.config import ParamISPConfig
from core_isp.models.context import GlobalContext, context_shape, resize_for_context
from core_isp.models.features import isp_features, overexposure_mask
from core_isp.models.globalnet import GlobalNet
from core_isp.models.localnet import LocalNet, localnet_reach
from core_isp.models.paramnet import ParamNet
from core_isp.models.shot import ShotParams
from core_isp.tensor_checks import check_shape

Direction = Literal["forward", "inverse"]
DIRECTIONS: tuple[Direction, ...] = ("forward", "inverse")
#: Height and width of the learned part's input must be multiples of this (two stride-2 levels).
SIZE_MULTIPLE = 4
#: Reach of the forward direction's canonical part (the 5x5 demosaic), rounded up to a multiple of 4.
CANONICAL_HALO = 4
#: Reach of the normalised Sobel gradients in the features.
_GRADIENT_REACH = 1
#: The modules through which the shot's parameters act on the networks: ParamNet and the two modulation Linears.
#: Their parameters are a network's *conditioning*, what a fine-tune of how it reads EXIF changes
#: (``TrainSettings.trainable="paramnet"``) and what a conditioning file holds (:mod:`core_isp.checkpoint`).
CONDITIONING_PREFIXES = ("paramnet.", "localnet.modulation.", "globalnet.modulation.")


def is_conditioning(name: str) -> bool:
    """Whether the parameter (or state entry) ``name`` of a :class:`ParamISP` belongs to its conditioning."""
    return name.startswith(CONDITIONING_PREFIXES)


class ParamISP(nn.Module):
    """One direction of ParamISP. ``forward(x, shots)`` maps ``(B, 1, H, W)`` RAW -> ``(B, 3, H, W)`` sRGB, or
    ``(B, 3, H, W)`` sRGB -> ``(B, 1, H, W)`` RAW; H, W multiples of 4 (full images: see
    :mod:`core_isp.inference`)."""

    def __init__(self, config: ParamISPConfig, direction: Direction) -> None:
        super().__init__()
        if direction not in DIRECTIONS:
            raise BadInputError(f"direction must be 'forward' or 'inverse', got {direction!r}")
        self.config = config
        self.direction: Direction = direction
        self.paramnet = ParamNet(config)
        self.localnet = LocalNet(config)
        self.globalnet = GlobalNet(config)

    @property
    def reach(self) -> int:
        """How far (pixels) an output pixel of :meth:`learned` sees into its input, given a context."""
        return localnet_reach(self.config) + _GRADIENT_REACH

    def with_localnet_dtype(self, dtype: torch.dtype) -> ParamISP:
        """This model with a copy of LocalNet in ``dtype`` (ParamNet and GlobalNet shared; ``self`` if LocalNet is
        in ``dtype`` already), for inference.

        LocalNet holds nearly all of the arithmetic. With ``torch.bfloat16`` weights and activations it runs 1.6-1.7x
        faster than fp32 on a CPU with AVX512-BF16, where autocast gains 1.3x (it recasts around every layer and
        keeps the blocks' residual stream in fp32); the canonical steps, the features and GlobalNet stay fp32.
        """
        if self.localnet.dtype == dtype:
            return self
        # A shallow copy with its own table of submodules: building a ParamISP to replace its parts cost 1.5 s on the
        # first call of a process (and 40 ms after), the copy of LocalNet 10 ms.
        twin = copy.copy(self)
        twin._modules = {**self._modules, "localnet": copy.deepcopy(self.localnet).to(dtype)}
        return twin

    def embed(self, shots: ShotParams) -> torch.Tensor:
        """The parameter embedding h ``(B, embed_dim)`` (per the config's ``embedding`` ablation)."""
        if self.config.embedding == "none":
            return torch.zeros(shots.batch_size, self.config.embed_dim, device=shots.wb_gains.device)
        known = shots.optics_known if self.config.embedding == "full" else torch.zeros_like(shots.optics_known)
        return self.paramnet(shots.wb_gains, shots.ccm, shots.optics, known, shots.gain_held)

    def to_network(self, x: torch.Tensor, shots: ShotParams) -> torch.Tensor:
        """The canonical steps before the learned part -> ``(B, 3, H, W)`` fp32."""
        # DECIDE(14): the canonical steps stay fp32 under autocast; a 14-bit RAW does not fit bf16's 8-bit mantissa.
        with torch.autocast(x.device.type, enabled=False):
            x = x.float()
            if self.direction == "inverse":
                check_shape(x, "B,3,H,W", "srgb")
                return x
            check_shape(x, "B,1,H,W", "raw")
            rgb = apply_wb(demosaic(x, shots.cfa, "malvar"), shots.wb_gains)
            # The paper clips to [0, 1] here, before the CCM, and nowhere after it.
            return apply_ccm(rgb.clamp(0.0, 1.0), shots.ccm)

    def from_network(self, y: torch.Tensor, shots: ShotParams, mosaic: bool = True) -> torch.Tensor:
        """The canonical steps after the learned part: identity forward; inverse, CCM^-1 and / WB to camera RGB,
        then the CFA sampling -> ``(B, 1, H, W)`` mosaic, or without ``mosaic`` the camera RGB ``(B, 3, H, W)``
        it would sample (every colour at every pixel, normalised alike)."""
        if self.direction == "forward":
            return y
        with torch.autocast(y.device.type, enabled=False):
            rgb = invert_wb(invert_ccm(y.float(), shots.ccm), shots.wb_gains)
            return sample_cfa(rgb, shots.cfa) if mosaic else rgb

    def learned(
        self, x: torch.Tensor, h: torch.Tensor, context: GlobalContext | None = None
    ) -> tuple[torch.Tensor, GlobalContext]:
        """LocalNet and GlobalNet in this direction's order: ``(B, 3, H, W)`` -> ``(B, 3, H, W)``, and the context
        used. Without ``context`` every global pooling is over ``x`` itself (a context pass); with it the
        computation is local, reaching :attr:`reach` pixels."""
        check_shape(x, "B,3,H,W", "x")
        if x.shape[-2] % SIZE_MULTIPLE or x.shape[-1] % SIZE_MULTIPLE:
            raise BadInputError(f"network input H, W must be multiples of {SIZE_MULTIPLE}, got {tuple(x.shape[-2:])}")
        bins = self.config.hist_bins
        mask = overexposure_mask(x)
        blocks = None if context is None else context.blocks
        if self.direction == "forward":
            y, used = self.localnet(isp_features(x, mask, bins, self.localnet.dtype), x, h, blocks)
            pooled = self.globalnet.pool(isp_features(y, mask, bins)) if context is None else context.pooled
            out = self.globalnet(y, pooled, h)
        else:
            pooled = self.globalnet.pool(isp_features(x, mask, bins)) if context is None else context.pooled
            y = self.globalnet(x, pooled, h).to(x.dtype)
            out, used = self.localnet(isp_features(y, mask, bins, self.localnet.dtype), y, h, blocks)
        return out, GlobalContext(pooled, tuple(used))

    def context(self, x: torch.Tensor, h: torch.Tensor) -> GlobalContext:
        """The context pass (DECIDE(12)) over the whole network input ``(B, 3, H, W)``, on ``h``'s device."""
        small = resize_for_context(x, self.config.context_size).to(h.device)
        return self.learned(small, h)[1]

    def fits_context(self, height: int, width: int) -> bool:
        """True when an input of this size is its own context, so one pass computes everything."""
        return context_shape(height, width, self.config.context_size) == (height, width)

    def forward(self, x: torch.Tensor, shots: ShotParams, context: GlobalContext | None = None) -> torch.Tensor:
        """The whole direction on one tensor (a training crop, a test crop, a tile with its context)."""
        h = self.embed(shots)
        x3 = self.to_network(x, shots)
        if context is None and not self.fits_context(*x3.shape[-2:]):
            context = self.context(x3, h)
        return self.from_network(self.learned(x3, h, context)[0], shots)


def parameter_counts(model: ParamISP) -> dict[str, int]:
    """Parameters per component, the modulation Linears counted apart from their networks."""

    def count(module: nn.Module, skip: str | None = None) -> int:
        return sum(p.numel() for n, p in module.named_parameters() if skip is None or not n.startswith(skip))

    counts = {
        "localnet": count(model.localnet, "modulation."),
        "globalnet": count(model.globalnet, "modulation."),
        "localnet.modulation": count(model.localnet.modulation),
        "globalnet.modulation": count(model.globalnet.modulation),
        "paramnet": count(model.paramnet),
    }
    counts["total"] = count(model)
    return counts

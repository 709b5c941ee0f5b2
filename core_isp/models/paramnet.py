"""ParamNet: camera parameters -> the 64-d embedding h that shifts LocalNet's and GlobalNet's features.

Each optical value goes through a fixed non-linear equalisation (15 numbers spanning linear, root,
reciprocal, log and periodic responses over the parameter's working range) and its own Linear; the colour
parameters (WB, CCM and their inverses) through one Linear; the terms are summed and fused by an MLP.

One input is this suite's, not the paper's: whether the body held its sensor's gain a stop below the recorded ISO
(highlight-tone priority, Active D-Lighting; ``docs/decisions.md`` 26). The recorded ISO alone cannot say it (one body
holds from ISO 400, another from 800, most never), yet it sets the RAW level behind a JPEG. It enters as one more
term of the sum, a bias-free Linear on a 0/1 flag that starts at zero: a shot without the flag, and every checkpoint
trained before it existed, gives exactly the embedding it gave before.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from core_isp.models.config import ParamISPConfig
from core_isp.models.layers import linear
from core_isp.models.shot import OPTICAL_PARAMETERS
from core_isp.tensor_checks import check_shape

#: Smallest value the equalisation takes, so the reciprocal and log terms stay finite.
MIN_OPTICAL_VALUE = 1e-12
#: Numbers per equalised value.
EQUALISED_FEATURES = 15
#: Length of the colour vector: wb, 1/wb, CCM and CCM^-1 (row-major).
COLOUR_FEATURES = 3 + 3 + 9 + 9


@dataclass(frozen=True)
class Equalisation:
    """Constants of one parameter's equalisation: ``v / scale``, ``reciprocal_scale / v``,
    ``(log2 v - log2_offset) / log2_range``, and sines/cosines of ``v / period``.

    ``reciprocal_scale`` and ``scale`` are the ends of the parameter's working range, so the linear and
    reciprocal terms are at most 1 there and the log term spans about [0, 1].
    """

    scale: float
    reciprocal_scale: float
    log2_offset: float
    log2_range: float
    periods: tuple[float, float, float]


#: The paper's constants (A, B, C, D, P, Q, R), keyed like :data:`OPTICAL_PARAMETERS`.
EQUALISATION: dict[str, Equalisation] = {
    "focal_length_mm": Equalisation(200.0, 4.2, 1.9, 5.8, (50.0, 30.0, 20.0)),
    "f_number": Equalisation(32.0, 1.7, 0.7, 4.3, (11.0, 5.0, 2.0)),
    "exposure_time_s": Equalisation(30.0, 1.0 / 28800.0, -15.0, 20.0, (11.0, 5.0, 2.0)),
    "iso": Equalisation(8000.0, 64.0, 6.0, 7.0, (3100.0, 1300.0, 500.0)),
}


def equalise(value: torch.Tensor, eq: Equalisation) -> torch.Tensor:
    """The 15-number equalisation of one optical parameter: ``(B,)`` -> ``(B, 15)``."""
    check_shape(value, "B", "value")
    v = value.clamp(min=MIN_OPTICAL_VALUE)
    linear_part = v / eq.scale
    reciprocal = eq.reciprocal_scale / v
    log2 = torch.log2(v)
    periodic = [f(v / p) for p in eq.periods for f in (torch.sin, torch.cos)]
    return torch.stack(
        [
            linear_part,
            linear_part.sqrt(),
            linear_part.pow(0.25),
            reciprocal,
            reciprocal.sqrt(),
            reciprocal.pow(0.25),
            (log2 - eq.log2_offset) / eq.log2_range,
            torch.sin(log2),
            torch.cos(log2),
            *periodic,
        ],
        dim=-1,
    )


def colour_vector(wb_gains: torch.Tensor, ccm: torch.Tensor) -> torch.Tensor:
    """``[wb, 1/wb, CCM, CCM^-1]``: ``(B, 3)``, ``(B, 3, 3)`` -> ``(B, 24)``."""
    check_shape(wb_gains, "B,3", "wb_gains")
    check_shape(ccm, "B,3,3", "ccm")
    ccm_inv = torch.linalg.inv(ccm.double()).to(ccm.dtype)
    return torch.cat([wb_gains, 1.0 / wb_gains, ccm.flatten(1), ccm_inv.flatten(1)], dim=1)


class ParamNet(nn.Module):
    """Colour and optical parameters -> embedding h ``(B, embed_dim)``.

    DECIDE(13): the released model's one-hot camera-id Linear(16 -> 64) is multiplied by zero, so it is left
    out: 18,176 parameters for ``base`` instead of the notes' 19,264 (= 18,176 + 1,088 dead).
    """

    def __init__(self, config: ParamISPConfig) -> None:
        super().__init__()
        e = config.embed_dim
        self.colour = linear(COLOUR_FEATURES, e)
        self.optics = nn.ModuleDict({name: linear(EQUALISED_FEATURES, e) for name in OPTICAL_PARAMETERS})
        self.fuse = nn.ModuleList([linear(e, e), linear(e, e), linear(e, e, gain=0.1)])
        self.gain_rule = nn.Linear(1, e, bias=False)
        nn.init.zeros_(self.gain_rule.weight)

    def forward(
        self,
        wb_gains: torch.Tensor,
        ccm: torch.Tensor,
        optics: torch.Tensor,
        optics_known: torch.Tensor,
        gain_held: torch.Tensor,
    ) -> torch.Tensor:
        """``(B, 3)``, ``(B, 3, 3)``, ``(B, 4)``, ``(B, 4)`` bool, ``(B,)`` 0/1 -> ``(B, embed_dim)``; always fp32."""
        check_shape(optics, "B,4", "optics")
        # DECIDE(14): fp32 under autocast; the raw values span decades (1/28800 s to ISO 8000) and the net is tiny.
        with torch.autocast(wb_gains.device.type, enabled=False):
            # DECIDE(4, 11): an unknown value is masked out of the sum, never encoded nor replaced by a default. It
            # becomes 1 before equalising only so that no NaN or inf exists anywhere (NaN * 0 is still NaN).
            # DECIDE(1): optics dropout is this same masking; the training data marks each known value unknown
            # with p = 0.2 per sample, so a dropped term and a missing EXIF tag are one input to the fusion MLP.
            values = torch.where(optics_known, optics.float(), torch.ones_like(optics, dtype=torch.float32))
            mask = optics_known.float()
            s = self.colour(colour_vector(wb_gains.float(), ccm.float()))
            for i, (name, layer) in enumerate(self.optics.items()):
                s = s + layer(equalise(values[:, i], EQUALISATION[name])) * mask[:, i : i + 1]
            # The flag qualifies the ISO: masked with it (a missing tag, optics dropout, the colour-only ablation).
            iso = OPTICAL_PARAMETERS.index("iso")
            s = s + self.gain_rule(gain_held.float()[:, None]) * mask[:, iso : iso + 1]
            for layer in self.fuse:
                s = layer(F.elu(s))
            return s

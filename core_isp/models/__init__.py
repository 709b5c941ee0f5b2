"""The learned ParamISP networks: config, features, ParamNet, LocalNet, GlobalNet and their composition."""

from core_isp.models.config import CONFIGS, STATED_MACS_PER_PIXEL, ParamISPConfig, get_config
from core_isp.models.context import GlobalContext, context_shape
from core_isp.models.paramisp import DIRECTIONS, Direction, ParamISP, parameter_counts
from core_isp.models.quantisation import add_raw_dequantisation_noise, add_srgb_dequantisation_noise, quantise_raw
from core_isp.models.shot import OPTICAL_PARAMETERS, ShotParams

__all__ = [
    "CONFIGS",
    "DIRECTIONS",
    "OPTICAL_PARAMETERS",
    "STATED_MACS_PER_PIXEL",
    "Direction",
    "GlobalContext",
    "ParamISP",
    "ParamISPConfig",
    "ShotParams",
    "add_raw_dequantisation_noise",
    "add_srgb_dequantisation_noise",
    "context_shape",
    "get_config",
    "parameter_counts",
    "quantise_raw",
]

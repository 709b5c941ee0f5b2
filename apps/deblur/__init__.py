"""RAW-domain deblurring of ordinary photos: a photo goes to its camera's RAW through the inverse ISP, is deblurred
there, and comes back through the forward ISP at its own parameters.

``Deblurrer.load(weights).deblur(image)`` (:mod:`apps.deblur.deblur`); the network and its weight files
(:mod:`apps.deblur.model`); training pairs (:mod:`apps.deblur.data`) and training (:mod:`apps.deblur.train`); the
commands ``paramisp deblur`` and ``paramisp deblur-train`` (:mod:`apps.deblur.cli`); how and how well:
``docs/deblur.md``.
"""

from apps.deblur.data import (
    PairSet,
    random_crops,
    read_pair_folder,
    read_pairs,
    srgb_average,
    srgb_shaken_average,
    write_pair,
)
from apps.deblur.deblur import Deblurrer, DeblurResult, deblur_mosaic, deblur_tensor
from apps.deblur.model import DeblurConfig, DeblurNet, load_weights, read_weights_info, save_weights
from apps.deblur.train import TrainReport, TrainSettings, train

__all__ = [
    "DeblurConfig",
    "DeblurNet",
    "DeblurResult",
    "Deblurrer",
    "PairSet",
    "TrainReport",
    "TrainSettings",
    "deblur_mosaic",
    "deblur_tensor",
    "load_weights",
    "random_crops",
    "read_pair_folder",
    "read_pairs",
    "read_weights_info",
    "save_weights",
    "srgb_average",
    "srgb_shaken_average",
    "train",
    "write_pair",
]

"""RAW-domain operations: what apps do to a normalised Bayer mosaic between an inverse and a forward ISP.

Each op takes ``(raw, meta, ...)`` and returns ``(raw, meta)``: ``raw`` a normalised mosaic
``(B, 1, H, W)`` (0 = black, 1 = white level, like the pixels :func:`core_isp.io.read_raw` returns; values
above 1 are allowed until :func:`clip_to_white`) and ``meta`` a list of :class:`~core_isp.metadata.CameraMetadata`,
one per sample, describing the result. Per-sample parameters may be one value, a sequence of B
values or a ``(B,)`` tensor.
"""

from core_isp.raw_domain.bayer import PLANE_NAMES, pack_bayer, plane_sites, unpack_bayer
from core_isp.raw_domain.clipping import clip_to_white, saturation_mask
from core_isp.raw_domain.exposure import scale_exposure
from core_isp.raw_domain.levels import dn_to_normalised, normalised_to_dn, site_levels_dn
from core_isp.raw_domain.motion import EXPOSURE_MATCH_RTOL, average_frames, blur_planes, warp_planes
from core_isp.raw_domain.noise import add_sensor_noise, estimate_noise_fraction, noise_std

__all__ = [
    "EXPOSURE_MATCH_RTOL",
    "PLANE_NAMES",
    "add_sensor_noise",
    "average_frames",
    "blur_planes",
    "clip_to_white",
    "dn_to_normalised",
    "estimate_noise_fraction",
    "noise_std",
    "normalised_to_dn",
    "pack_bayer",
    "plane_sites",
    "saturation_mask",
    "scale_exposure",
    "site_levels_dn",
    "unpack_bayer",
    "warp_planes",
]

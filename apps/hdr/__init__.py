"""HDR images made in RAW through a camera's inverse ISP: exposure brackets merged (weighted by each frame's noise
and distance from clipping, through the inverse conditioned for bracket frames, optionally aligned and de-ghosted)
and single photos expanded (clipped highlights extended). See :mod:`apps.hdr.merge` for the steps and
``docs/hdr.md`` for use."""

from apps.hdr.bracket import parse_exposures, read_exposure_list, with_exposures
from apps.hdr.highlights import HighlightSettings
from apps.hdr.merge import DEFAULT_PAIR, HdrMaker, HdrResult, MergeSettings
from apps.hdr.output import reinhard_preview, write_hdr
from apps.hdr.raw_merge import ErrorModel
from apps.hdr.response import ResponseSettings

__all__ = [
    "DEFAULT_PAIR",
    "ErrorModel",
    "HdrMaker",
    "HdrResult",
    "HighlightSettings",
    "MergeSettings",
    "ResponseSettings",
    "parse_exposures",
    "read_exposure_list",
    "reinhard_preview",
    "with_exposures",
    "write_hdr",
]

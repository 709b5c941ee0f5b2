"""Option declarations shared by subcommands, so each flag has one spelling and one help text everywhere.

Use them as parameter annotations, with the default on the parameter::

    def my_command(out: OutOption, overwrite: OverwriteOption = False, json_out: JsonOption = False) -> None: ...
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

OutOption = Annotated[Path, typer.Option("--out", "-o", help="output folder (or file, for one input)")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="replace existing outputs")]
JsonOption = Annotated[bool, typer.Option("--json", help="machine-readable output on stdout")]
VerboseOption = Annotated[bool, typer.Option("--verbose", "-v")]

# Where and how to run a network.
DeviceOption = Annotated[str, typer.Option("--device", help="cpu, cuda, cuda:1 ...")]
ThreadsOption = Annotated[int | None, typer.Option("--threads", help="CPU threads")]
TileOption = Annotated[int, typer.Option("--tile", help="tile size (pixels, multiple of 4): bounds memory")]
PrecisionOption = Annotated[
    str, typer.Option("--precision", help="fp32, or bf16: LocalNet in bfloat16, faster on CPUs with AVX512-BF16")
]
PairOption = Annotated[
    str, typer.Option("--pair", help="separate; joint: the camera's inverse and forward fine-tuned together for the "
                                     "round trip; brackets: its inverse conditioned for bracket frames (where it "
                                     "ships one)")
]

# EXIF overrides ("as if shot at ISO 1600").
IsoOption = Annotated[float | None, typer.Option("--iso", help="override the EXIF ISO")]
ExposureOption = Annotated[float | None, typer.Option("--exposure-time", help="override the EXIF exposure time (s)")]
FNumberOption = Annotated[float | None, typer.Option("--f-number", help="override the EXIF f-number")]
FocalOption = Annotated[float | None, typer.Option("--focal-length", help="override the EXIF focal length (mm)")]

# Which camera, and what light.
CameraOption = Annotated[
    str | None, typer.Option("--camera", help="a shipped or stored camera (default: by each file's make/model)")
]
WbOption = Annotated[
    str | None, typer.Option("--wb", help="the light: estimate (default), daylight, a temperature (3200K) or R,G,B")
]

# Writing sRGB renders.
#: ``--format`` -> file suffix, for commands that write sRGB images.
SRGB_FORMATS = {"png": ".png", "jpg": ".jpg", "tif": ".tif"}
SrgbFormatOption = Annotated[str, typer.Option("--format", "-f", help="png, jpg or tif")]
QualityOption = Annotated[int, typer.Option("--quality", help="JPEG quality")]

"""What every subcommand shares: logging, warnings, JSON output, one-line errors and exit codes.

Conventions: outputs are never overwritten without ``--overwrite``; ``--json`` prints machine-readable
results on stdout; logs go to stderr; exit status 0 = ok, 1 = runtime error, 2 = bad input, always with a
one-line message and no traceback. Commands that run on files get the rest from :mod:`paramisp.cli.batch`.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from core_isp.errors import BadInputError, ParamispError

if TYPE_CHECKING:
    from core_isp.image import CameraImage
    from core_isp.isp import InferenceOptions

log = logging.getLogger("paramisp")

EXIT_OK, EXIT_RUNTIME, EXIT_BAD_INPUT = 0, 1, 2


def setup_logging(verbose: bool) -> None:
    """Log to stderr; show library warnings (e.g. metadata fallbacks) as one-line log records."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)

    def show(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        log.warning("warning: %s", message)

    warnings.showwarning = show  # type: ignore[assignment]
    warnings.simplefilter("always")


def check_choice(flag: str, value: str, choices: Iterable[str]) -> str:
    """``value`` if it is one of ``choices``, else bad input naming the flag and what it accepts."""
    allowed = tuple(choices)
    if value not in allowed:
        raise BadInputError(f"{flag} must be one of {', '.join(allowed)}, got {value!r}")
    return value


#: ``--precision`` choices: the dtype LocalNet runs in (:attr:`core_isp.isp.InferenceOptions.localnet_dtype`).
PRECISIONS = ("fp32", "bf16")


def inference_options(tile: int, device: str, precision: str = "fp32", **options: Any) -> InferenceOptions:
    """The ISPs' :class:`~core_isp.isp.InferenceOptions` from the shared flags ``--tile``, ``--device`` and
    ``--precision`` (and any other field)."""
    import torch

    from core_isp.isp import InferenceOptions

    dtype = torch.bfloat16 if check_choice("--precision", precision, PRECISIONS) == "bf16" else torch.float32
    return InferenceOptions(tile=tile, device=device, localnet_dtype=dtype, **options)


def set_threads(threads: int | None) -> None:
    """Apply ``--threads`` (torch's CPU threads); None keeps torch's default."""
    if threads is None:
        return
    if threads < 1:
        raise BadInputError("--threads must be at least 1")
    import torch  # only the commands that compute need torch

    torch.set_num_threads(threads)


def one_line(error: BaseException) -> str:
    """An error's message on one line (what the user sees, and what ``--json`` records)."""
    return " ".join(str(error).split()) or type(error).__name__


def emit_json(payload: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def command_context(verbose: bool) -> Iterator[None]:
    """The body of every subcommand: logging set up; any escaping exception becomes a one-line message and
    the documented exit status."""
    setup_logging(verbose)
    try:
        yield
    except typer.Exit:  # a command's own, deliberate exit status
        raise
    except BadInputError as e:
        log.error("paramisp: error: %s", one_line(e))
        raise SystemExit(EXIT_BAD_INPUT) from None
    except ParamispError as e:
        log.error("paramisp: error: %s", one_line(e))
        raise SystemExit(EXIT_RUNTIME) from None
    except KeyboardInterrupt:
        log.error("paramisp: interrupted")
        raise SystemExit(130) from None
    except Exception as e:  # the contract is: never a traceback
        if os.environ.get("PARAMISP_DEBUG"):
            raise
        log.error(
            "paramisp: internal error: %s: %s (set PARAMISP_DEBUG=1 for a traceback)",
            type(e).__name__,
            one_line(e),
        )
        raise SystemExit(EXIT_RUNTIME) from None


def write_render(path: Path, srgb: CameraImage, quality: int = 95, overwrite: bool = False) -> None:
    """One sRGB render ``(1, 3, H, W)`` in sensor orientation, written upright as photos are viewed; a JPEG
    carries the shot's EXIF (orientation 1, since the pixels are upright)."""
    from core_isp.io.dng import exif_from_metadata
    from core_isp.io.writers import write_image
    from core_isp.orientation import to_display

    meta = srgb.meta
    upright = to_display(srgb.pixels[0], meta.orientation)
    extra: dict[str, Any] = {}
    if path.suffix.lower() in (".jpg", ".jpeg"):
        size_hw = (int(upright.shape[-2]), int(upright.shape[-1]))
        extra = {"quality": quality, "exif": exif_from_metadata(meta.replace(orientation=1), size_hw)}
    write_image(path, upright, overwrite=overwrite, **extra)

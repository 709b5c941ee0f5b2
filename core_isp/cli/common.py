"""What every subcommand shares: input expansion, output naming, logging, warnings and exit codes.

Conventions: inputs may be files, folders or globs; outputs are never overwritten without
``--overwrite``; ``--json`` prints machine-readable results on stdout; logs go to stderr; exit
status 0 = ok, 1 = runtime error, 2 = bad input, always with a one-line message and no traceback.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import typer

from core_isp.errors import BadInputError, ParamispError

log = logging.getLogger("paramisp")

EXIT_OK, EXIT_RUNTIME, EXIT_BAD_INPUT = 0, 1, 2


def setup_logging(verbose: bool) -> None:
    """Log to stderr; show library warnings (e.g. metadata fallbacks) as one-line log records."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(message)s", stream=sys.stderr)

    def show(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
        log.warning("warning: %s", message)

    warnings.showwarning = show  # type: ignore[assignment]
    warnings.simplefilter("always")


def expand_inputs(specs: Iterable[str], suffixes: frozenset[str] | None = None) -> list[Path]:
    """Files, folders (their files with a matching suffix, sorted) and globs -> list of files.

    A spec that matches nothing is bad input.
    """
    out: list[Path] = []
    for spec in specs:
        p = Path(spec)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and (suffixes is None or f.suffix.lower() in suffixes))
            if not found:
                raise BadInputError(f"{spec}: folder holds no usable files")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        elif any(ch in spec for ch in "*?["):
            matches = sorted(Path(m) for m in glob.glob(spec, recursive=True) if Path(m).is_file())
            if not matches:
                raise BadInputError(f"{spec}: pattern matches no files")
            out.extend(matches)
        else:
            raise BadInputError(f"{spec}: no such file or folder")
    return list(dict.fromkeys(out))


def output_path(out: Path, source: Path, suffix: str, n_inputs: int) -> Path:
    """Where the result for ``source`` goes: ``out`` itself when it names a file for a single input,
    else ``out/<source stem><suffix>``."""
    if n_inputs == 1 and out.suffix and not out.is_dir():
        return out
    return out / f"{source.stem}{suffix}"


def check_writable(target: Path, overwrite: bool) -> None:
    """Refuse to replace an existing output unless asked to."""
    if target.exists() and not overwrite:
        raise BadInputError(f"{target}: exists (use --overwrite to replace it)")


@dataclass
class BatchOutcome:
    """Per-file results and the exit status they imply."""

    results: list[dict[str, Any]] = field(default_factory=list)
    status: int = EXIT_OK

    def fail(self, path: Path, error: Exception, status: int) -> None:
        message = _one_line(error)
        # Readers already name the file in their messages; do not say it twice.
        log.error("paramisp: error: %s", message if path.name in message else f"{path}: {message}")
        self.results.append({"file": str(path), "ok": False, "error": _one_line(error)})
        self.status = max(self.status, status)


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def run_batch(paths: list[Path], job: Callable[[Path], dict[str, Any]], progress: bool = True) -> BatchOutcome:
    """Run ``job`` on every file, collecting failures instead of stopping at the first."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    outcome = BatchOutcome()
    bar = tqdm(paths, unit="file", disable=not progress or len(paths) < 2, file=sys.stderr, leave=False)
    with logging_redirect_tqdm():
        for path in bar:
            _run_one(path, job, outcome)
    return outcome


def _run_one(path: Path, job: Callable[[Path], dict[str, Any]], outcome: BatchOutcome) -> None:
    try:
        result = job(path)
    except BadInputError as e:
        outcome.fail(path, e, EXIT_BAD_INPUT)
    except (ParamispError, OSError, RuntimeError, ValueError) as e:
        outcome.fail(path, e, EXIT_RUNTIME)
    else:
        outcome.results.append({"file": str(path), "ok": True, **result})


def emit_json(payload: Any) -> None:
    """Machine-readable output on stdout."""
    sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    sys.stdout.flush()


@contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn any escaping exception into a one-line message and the documented exit status."""
    try:
        yield
    except typer.Exit:  # a command's own, deliberate exit status
        raise
    except BadInputError as e:
        log.error("paramisp: error: %s", _one_line(e))
        raise SystemExit(EXIT_BAD_INPUT) from None
    except ParamispError as e:
        log.error("paramisp: error: %s", _one_line(e))
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
            _one_line(e),
        )
        raise SystemExit(EXIT_RUNTIME) from None

"""The skeleton of every command that runs on files: the command supplies what happens to one file, this does
the rest (input expansion, output naming, refusing to overwrite, progress, per-file errors, ``--json``, exit).

A new command (here an app's, in ``apps/<app>/cli.py``) is its options plus one call::

    with command_context(verbose):
        job = partial(deblur_file, overwrite=overwrite)  # (path, target) -> JSON-able dict
        run_file_command(raws, out, job, suffixes=RAW_SUFFIXES, output_suffix=".dng", overwrite=overwrite,
                         json_out=json_out)
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import typer

from core_isp.errors import BadInputError, ParamispError
from paramisp.cli.common import EXIT_BAD_INPUT, EXIT_OK, EXIT_RUNTIME, emit_json, log, one_line

#: What a command does to one file: ``job(path, target) -> its JSON record``; ``target`` is the output path (None
#: for commands without outputs), so a command's job may annotate it as either.
FileJob = Callable[[Path, Any], dict[str, Any]]


def run_file_command(
    inputs: Iterable[str],
    out: Path | None,
    job: FileJob,
    *,
    suffixes: frozenset[str] | None = None,
    output_suffix: str | None = None,
    overwrite: bool = False,
    json_out: bool = False,
    progress: bool = True,
) -> NoReturn:
    """Run ``job`` on every input file and exit with the batch's status.

    Args:
        inputs: files, folders (their files whose suffix is in ``suffixes``) and globs.
        out: None for commands that write nothing; else a file for a single input when it has a suffix and is
            not a folder, otherwise a folder (created) receiving ``<input stem><output_suffix>`` per input.
        job: called as ``job(path, target)``; raises :class:`BadInputError` for bad input (exit 2) or another
            library, OS or value error (exit 1); the other files still run.
        overwrite: without it an existing target is refused (exit 2) before ``job`` runs; a target that an
            earlier input of this batch wrote is refused even with it.
        json_out: print the per-file records (``file``, ``ok``, ``error`` or the job's fields) on stdout.
        progress: a progress bar on stderr for two files or more.

    Raises:
        typer.Exit: always, with 0 (all ok), 2 (some bad input) or 1 (some runtime error, and none bad).
    """
    paths = expand_inputs(inputs, suffixes)
    targets = output_targets(paths, out, output_suffix)
    outcome = run_batch(paths, targets, job, overwrite=overwrite, progress=progress)
    if json_out:
        emit_json(outcome.results)
    raise typer.Exit(outcome.status)


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


def output_targets(paths: Sequence[Path], out: Path | None, suffix: str | None) -> list[Path | None]:
    """Each input's output path: ``out`` itself when it names a file for a single input, else
    ``out/<stem><suffix>`` with ``out`` created."""
    if out is None:
        return [None] * len(paths)
    if suffix is None:
        raise ValueError("a command with an output folder needs an output suffix")
    if len(paths) == 1 and out.suffix and not out.is_dir():
        prepare_output_folder(out.parent)
        return [out]
    prepare_output_folder(out)
    return [out / f"{path.stem}{suffix}" for path in paths]


def prepare_output_folder(folder: Path) -> None:
    """Create ``folder`` (with its parents) before any work, or say in one line why outputs cannot go there."""
    for level in (folder, *folder.parents):
        if level.exists() and not level.is_dir():
            where = "" if level == folder else f" ({level.name} is a file, not a folder)"
            raise BadInputError(f"{folder}: cannot hold outputs{where or ': it is a file, not a folder'}")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise BadInputError(f"{folder}: cannot create the output folder ({e.strerror or e})") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise BadInputError(f"{folder}: output folder is not writable")


def _check_target(target: Path, overwrite: bool, written: Mapping[Path, Path]) -> None:
    """Refuse to replace an existing output unless asked to, and never one this batch wrote: two inputs with
    the same stem (``a/x.nef``, ``b/x.nef``) must not silently leave only the second one's result."""
    if target in written:
        raise BadInputError(f"{target}: already written from {written[target]} (inputs with the same name)")
    if target.exists() and not overwrite:
        raise BadInputError(f"{target}: exists (use --overwrite to replace it)")


@dataclass
class BatchOutcome:
    """Per-file results and the exit status they imply."""

    results: list[dict[str, Any]] = field(default_factory=list)
    status: int = EXIT_OK

    def fail(self, path: Path, error: Exception, status: int) -> None:
        message = one_line(error)
        # Readers already name the file in their messages; do not say it twice.
        log.error("paramisp: error: %s", message if path.name in message else f"{path}: {message}")
        self.results.append({"file": str(path), "ok": False, "error": message})
        self.status = max(self.status, status)


def run_batch(
    paths: Sequence[Path], targets: Sequence[Path | None], job: FileJob, *, overwrite: bool, progress: bool = True
) -> BatchOutcome:
    """Run ``job`` on every file, collecting failures instead of stopping at the first."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    outcome = BatchOutcome()
    written: dict[Path, Path] = {}  # output -> the input it was made from
    bar = tqdm(zip(paths, targets, strict=True), total=len(paths), unit="file", file=sys.stderr, leave=False,
               disable=not progress or len(paths) < 2)  # fmt: skip
    with logging_redirect_tqdm():
        for path, target in bar:
            _run_one(path, target, job, overwrite, written, outcome)
    return outcome


def _run_one(
    path: Path, target: Path | None, job: FileJob, overwrite: bool, written: dict[Path, Path], outcome: BatchOutcome
) -> None:
    try:
        if target is not None:
            _check_target(target, overwrite, written)
        result = job(path, target)
    except BadInputError as e:
        outcome.fail(path, e, EXIT_BAD_INPUT)
    except OSError as e:
        # e.g. a full disk: name the output, since the input is not at fault
        where = f" writing {target}" if target is not None and e.filename is None else ""
        outcome.fail(path, OSError(f"{one_line(e)}{where}"), EXIT_RUNTIME)
    except (ParamispError, RuntimeError, ValueError) as e:
        outcome.fail(path, e, EXIT_RUNTIME)
    else:
        if target is not None:
            written[target] = path
        outcome.results.append({"file": str(path), "ok": True, **result})

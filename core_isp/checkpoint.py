"""ParamISP checkpoints: one ``.safetensors`` file per direction, its identity in the file's metadata.

The metadata (all strings) holds ``format_version``, ``direction``, ``config`` (JSON), ``camera_profile``,
``training_stage``, ``code_version``, ``data_manifest_hash`` and ``weights_dtype``. Weights may be stored in
fp16 (half the size) and are upcast to fp32 when loaded. Loading refuses, with a one-line reason, a file of
another format version, direction or config.

A *conditioning file* holds only a network's conditioning (ParamNet and the modulation layers,
:data:`~core_isp.models.paramisp.CONDITIONING_PREFIXES`: a few percent of its weights) from a fine-tune that trained
nothing else, with the same metadata plus ``conditioning_base_sha256``, the hash of the checkpoint it was trained
from. ``load_checkpoint(base, conditioning=file)`` loads it over that checkpoint and no other.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from core_isp.errors import BadInputError, DamagedWeightsError
from core_isp.io.checksums import file_sha256
from core_isp.io.writers import atomic_write
from core_isp.models.config import ParamISPConfig, get_config
from core_isp.models.paramisp import DIRECTIONS, Direction, ParamISP, is_conditioning

FORMAT_VERSION = "1"
#: Stages of the recipe a checkpoint can come from; "init" is an untrained network.
# DECIDE(5): fine-tuning (stage 2) starts from the stage-1 checkpoint loaded with ``load_checkpoint`` and the
# same optimiser settings; the file records which stage wrote it, so a loader can tell them apart.
TRAINING_STAGES = ("init", "pretrain", "finetune", "joint")
WEIGHT_DTYPES = {"float32": torch.float32, "float16": torch.float16}
#: Metadata key of a conditioning file (module notes).
CONDITIONING_BASE_KEY = "conditioning_base_sha256"
#: Weights the networks gained after checkpoints were first written, with the value that leaves such a network
#: exactly as those checkpoints were trained: a file without one loads with it (ParamNet's gain-rule term, zero).
LATER_WEIGHTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {"paramnet.gain_rule.weight": torch.zeros_like}


@dataclass(frozen=True)
class CheckpointInfo:
    """What a checkpoint file says about itself."""

    format_version: str
    direction: Direction
    config: ParamISPConfig
    camera_profile: str
    training_stage: str
    code_version: str
    #: Hash of the training data manifest (DECIDE(10): our own splits, identified by this hash).
    data_manifest_hash: str
    weights_dtype: str
    #: How the weights were trained (JSON: stage settings, seeds, step budget; "{}" for untrained ones).
    training: str = "{}"

    def to_metadata(self) -> dict[str, str]:
        """The safetensors metadata (string values)."""
        return {
            "format_version": self.format_version,
            "direction": self.direction,
            "config": self.config.to_json(),
            "camera_profile": self.camera_profile,
            "training_stage": self.training_stage,
            "code_version": self.code_version,
            "data_manifest_hash": self.data_manifest_hash,
            "weights_dtype": self.weights_dtype,
            "training": self.training,
        }


def code_version() -> str:
    """The package version, plus ``+g<commit>`` when the code is a git checkout."""
    try:
        v = version("paramisp")
    except PackageNotFoundError:
        v = "unknown"
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return v
    return f"{v}+g{commit}" if commit else v


def save_checkpoint(
    model: ParamISP,
    path: str | Path,
    *,
    camera_profile: str,
    training_stage: str,
    data_manifest_hash: str = "unknown",
    weights_dtype: str = "float32",
    training: str = "{}",
    overwrite: bool = True,
    trained_by: str | None = None,
    conditioning_of: str | Path | None = None,
) -> CheckpointInfo:
    """Write ``model``'s weights and identity to ``path`` (a ``.safetensors`` file), atomically.

    ``trained_by``: the code version that trained the weights, when it is not this one (a re-saved copy).
    ``conditioning_of``: write a conditioning file over this checkpoint instead (module notes); only ``model``'s
    conditioning is written, so the rest of it must be that checkpoint's.
    """
    if training_stage not in TRAINING_STAGES:
        raise BadInputError(f"training_stage must be one of {TRAINING_STAGES}, got {training_stage!r}")
    if weights_dtype not in WEIGHT_DTYPES:
        raise BadInputError(f"weights_dtype must be one of {tuple(WEIGHT_DTYPES)}, got {weights_dtype!r}")
    info = CheckpointInfo(
        format_version=FORMAT_VERSION,
        direction=model.direction,
        config=model.config,
        camera_profile=camera_profile,
        training_stage=training_stage,
        code_version=trained_by or code_version(),
        data_manifest_hash=data_manifest_hash,
        weights_dtype=weights_dtype,
        training=training,
    )
    metadata = info.to_metadata()
    if conditioning_of is not None:
        metadata[CONDITIONING_BASE_KEY] = file_sha256(conditioning_of)
    keep = is_conditioning if conditioning_of is not None else None
    write_weights(path, model, metadata, weights_dtype, overwrite, keep)
    return info


def write_weights(
    path: str | Path,
    model: torch.nn.Module,
    metadata: dict[str, str],
    weights_dtype: str,
    overwrite: bool,
    keep: Callable[[str], bool] | None = None,
) -> None:
    """A module's state (the entries ``keep`` accepts; all by default) as one ``.safetensors`` file with string
    ``metadata``, atomically (temp name, then rename): the one writer of every weight file paramisp makes (ISPs
    here, apps' networks too)."""
    dtype = WEIGHT_DTYPES[weights_dtype]
    state = model.state_dict().items()
    tensors = {k: v.detach().to("cpu", dtype).contiguous() for k, v in state if keep is None or keep(k)}
    with atomic_write(path, overwrite=overwrite) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def read_weights_metadata(path: str | Path) -> dict[str, str]:
    """A ``.safetensors`` file's metadata without its tensors; an unreadable file is a one-line refusal."""
    try:
        with safe_open(str(path), framework="pt") as f:
            return f.metadata() or {}
    except (OSError, SafetensorError) as e:
        raise BadInputError(f"{path}: not a readable safetensors file ({e})") from None


def read_checkpoint_info(path: str | Path) -> CheckpointInfo:
    """Read and validate a checkpoint's metadata without loading its weights."""
    return _info_of(read_weights_metadata(path), path)


def _info_of(meta: dict[str, str], path: str | Path) -> CheckpointInfo:
    """A checkpoint's info from its metadata (``path`` names it in the one-line refusals)."""
    if meta.get("format_version") != FORMAT_VERSION:
        raise BadInputError(
            f"{path}: checkpoint format version {meta.get('format_version')!r}, this code reads {FORMAT_VERSION!r}"
        )
    missing = [k for k in CheckpointInfo.__dataclass_fields__ if k not in meta]
    if missing:
        raise BadInputError(f"{path}: checkpoint metadata lacks {', '.join(missing)}")
    if meta["direction"] not in DIRECTIONS:
        raise BadInputError(f"{path}: unknown direction {meta['direction']!r}")
    return CheckpointInfo(
        format_version=meta["format_version"],
        direction=meta["direction"],  # type: ignore[arg-type]
        config=ParamISPConfig.from_json(meta["config"]),
        camera_profile=meta["camera_profile"],
        training_stage=meta["training_stage"],
        code_version=meta["code_version"],
        data_manifest_hash=meta["data_manifest_hash"],
        weights_dtype=meta["weights_dtype"],
        training=meta["training"],
    )


def load_checkpoint(
    path: str | Path,
    *,
    direction: Direction,
    config: str | ParamISPConfig | None = None,
    device: torch.device | str = "cpu",
    conditioning: str | Path | None = None,
) -> tuple[ParamISP, CheckpointInfo]:
    """Build the model a checkpoint describes and load its weights (upcast to fp32), in eval mode; with
    ``conditioning``, a conditioning file made over this checkpoint replaces its conditioning (module notes), and
    the info returned is that file's.

    Refuses (:class:`BadInputError`, one line) a checkpoint of another format version or ``direction``, or,
    when ``config`` (a name or a config) is given, of another config; a conditioning file given as a checkpoint,
    or over another checkpoint than the one it was made from.
    """
    info, _ = _checked_info(path, direction, config, conditioning=False)
    model = ParamISP(info.config, info.direction)
    model.load_state_dict(_checked_tensors(path, model, info, lambda name: True))
    if conditioning is not None:
        info, meta = _checked_info(conditioning, direction, info.config, conditioning=True)
        if meta[CONDITIONING_BASE_KEY] != file_sha256(path):
            raise BadInputError(f"{conditioning}: a conditioning file made over another checkpoint than {path}")
        model.load_state_dict(_checked_tensors(conditioning, model, info, is_conditioning), strict=False)
    return model.to(device).eval(), info


def _checked_info(
    path: str | Path, direction: Direction, config: str | ParamISPConfig | None, conditioning: bool
) -> tuple[CheckpointInfo, dict[str, str]]:
    """A weight file's info and metadata, refused (one line) for another direction or config, or for being
    (``conditioning`` False) or not being (True) a conditioning file."""
    meta = read_weights_metadata(path)
    info = _info_of(meta, path)
    if info.direction != direction:
        raise BadInputError(f"{path}: checkpoint is for the {info.direction} ISP, expected {direction}")
    if config is not None:
        expected = get_config(config) if isinstance(config, str) else config
        if info.config != expected:
            raise BadInputError(
                f"{path}: checkpoint config {info.config.name!r} ({info.config.to_json()}) "
                f"differs from the expected {expected.name!r} ({expected.to_json()})"
            )
    if (CONDITIONING_BASE_KEY in meta) != conditioning:
        raise BadInputError(f"{path}: " + ("not a conditioning file" if conditioning else
                                           "a conditioning file: load it with the checkpoint it was made over"))
    return info, meta


def _checked_tensors(
    path: str | Path, model: ParamISP, info: CheckpointInfo, keep: Callable[[str], bool]
) -> dict[str, torch.Tensor]:
    """The file's tensors (fp32), which must be exactly ``model``'s state entries that ``keep`` accepts, in shape
    and finite (a file older than a :data:`LATER_WEIGHTS` entry gets its neutral value); one-line refusals
    otherwise."""
    tensors = load_file(str(path))
    state = model.state_dict()
    tensors |= {k: neutral(state[k]) for k, neutral in LATER_WEIGHTS.items() if k not in tensors and keep(k)}
    expected_shapes = {k: tuple(v.shape) for k, v in state.items() if keep(k)}
    found_shapes = {k: tuple(v.shape) for k, v in tensors.items()}
    if found_shapes != expected_shapes:
        wrong = sorted(set(found_shapes) ^ set(expected_shapes)) or sorted(
            k for k in found_shapes if found_shapes[k] != expected_shapes[k]
        )
        raise BadInputError(f"{path}: weights do not match config {info.config.name!r} (first mismatch: {wrong[0]})")
    broken = sorted(k for k, v in tensors.items() if v.is_floating_point() and not bool(torch.isfinite(v).all()))
    if broken:
        raise DamagedWeightsError(
            f"{path}: weights hold NaN or Inf ({len(broken)} tensors, first {broken[0]}): damaged file"
        )
    return {k: v.float() for k, v in tensors.items()}

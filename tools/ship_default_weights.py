"""Copy the trained default weights into the package as fp16 safetensors and write the registry.

    python tools/ship_default_weights.py [RUN_ROOT]        # after tools/train_default_weights.py
    python tools/ship_default_weights.py --bodies-only     # refresh the cameras' sensor/colour/noise entries
    python tools/ship_default_weights.py --joint [RUN_ROOT] # after tools/train_default_weights.py --recipe joint
    python tools/ship_default_weights.py --brackets [RUN_ROOT] # after tools/train_bracket_inverse.py
    python tools/ship_default_weights.py --gain-rule [RUN_ROOT] # after tools/train_gain_rule.py

Ships the camera-agnostic pre-trained pair ("generic") and the fine-tuned pair of each tuning profile, each
from its best validation checkpoint. A camera's registry entry names its fine-tuned file only where that beats
the pre-trained start on the camera's own validation set (the fine-tune's validation batches); otherwise it
names the generic file, and the registry records both scores. Every file keeps its metadata (config, profile,
stage, training settings and step budget, code version, data-manifest hash); fp16 storage halves the size and
is upcast at load.

``--joint`` adds the stage-3 pairs (each trained from a shipped pair) to the registry, as an entry's ``joint``: the
pair ships where its validation score (mean of the inverse's RAW PSNR and the round trip's sRGB PSNR, the paper's
selection) on its run's validation batches beats the shipped pair it started from; the scores are recorded either
way. Re-shipping the separate pairs drops the joint and bracket ones (they were trained from the old files).

``--brackets`` adds the bracket fine-tunes of the inverses' conditioning (``python -m tools.train_bracket_inverse
--cameras nikon-d7000,sony-a7r3,generic --variants manual+stops``, the ``last`` checkpoints the HDR benchmarks measured)
as an entry's ``brackets``: a conditioning file (``core_isp.checkpoint``) over the shipped inverse it was trained from,
where the run's validation score (half of its shots set by hand) beats that inverse; the scores are recorded either way.
The HDR merge's validation check that made it `hdr`'s default is in ``benchmarks/RESULTS.md``.

``--gain-rule`` ships the fine-tunes of ParamNet's gain-rule term (``python -m tools.train_gain_rule``, the ``last``
checkpoints) in place of the camera-agnostic files they were trained from, where the run's validation score beats
that file: only the term's weights differ (checked), so every shot whose gain was not held renders as before. A
conditioning file made over a replaced file (the camera-agnostic bracket conditioning) is pointed at the new one,
where it loads to the same network as before (checked). The scores are recorded in the registry under the entry's
``gain_rule``, per direction.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from core_isp.checkpoint import (
    CONDITIONING_BASE_KEY,
    CheckpointInfo,
    load_checkpoint,
    read_checkpoint_info,
    read_weights_metadata,
    save_checkpoint,
)
from core_isp.io.checksums import file_sha256
from core_isp.io.writers import atomic_write
from core_isp.models.paramisp import ParamISP, is_conditioning
from core_isp.simulation.profiles import HELD_OUT_PROFILES, TUNING_PROFILES, get_profile
from core_isp.training.trainer import TRAINABLE, TrainSettings, validate, validation_batches

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "core_isp" / "weights"


def ship(source: Path, target: Path, direction: str) -> None:
    model, info = load_checkpoint(source, direction=direction)  # type: ignore[arg-type]
    save_fp16(model, target, info, info.training, info.code_version)


def save_fp16(model: ParamISP, target: Path, identity: CheckpointInfo, training: str, trained_by: str) -> None:
    """``model`` in fp16 at ``target``, with ``identity``'s profile, stage and data hash."""
    save_checkpoint(model, target, camera_profile=identity.camera_profile, training_stage=identity.training_stage,
                    data_manifest_hash=identity.data_manifest_hash, weights_dtype="float16", training=training,
                    trained_by=trained_by)  # fmt: skip


def validation_scores(run: Path, candidates: dict[str, dict[str, Path]]) -> dict[str, dict[str, float]]:
    """Each candidate (label -> weight file per direction) scored on the validation batches of the run in ``run``,
    as its trainer scores them (dB)."""
    settings = TrainSettings(**json.loads((run / "settings.json").read_text()))
    batches = validation_batches(settings)
    scores = {}
    for label, files in candidates.items():
        models = {d: load_checkpoint(f, direction=d)[0] for d, f in files.items()}  # type: ignore[arg-type]
        scores[label] = {k: round(v, 3) for k, v in validate(models, batches, settings.stage).items()}
    return scores


def validation_psnr(run: Path, direction: str, weights: dict[str, Path]) -> dict[str, float]:
    """Each of ``weights`` scored on the validation batches of the fine-tune in ``run`` (dB)."""
    scores = validation_scores(run, {label: {direction: path} for label, path in weights.items()})
    return {label: s["score"] for label, s in scores.items()}


def joint_scores(run: Path) -> dict[str, dict[str, float]]:
    """The joint run's start (the shipped pair) and its best checkpoint, scored on the run's validation batches."""
    settings = json.loads((run / "settings.json").read_text())
    return validation_scores(run, {
        "separate": {d: Path(settings[f"init_{d}"]) for d in ("forward", "inverse")},
        "joint": {d: run / f"{d}.best.safetensors" for d in ("forward", "inverse")},
    })  # fmt: skip


def ship_joint(root: Path) -> None:
    cameras = json.loads((WEIGHTS / "registry.json").read_text())["cameras"]
    for run in sorted(p for p in root.iterdir() if (p / "settings.json").exists()):
        scores = joint_scores(run)
        entry = cameras[run.name]
        entry["joint"] = {"validation": scores}
        if scores["joint"]["score"] > scores["separate"]["score"]:
            for d in ("forward", "inverse"):
                entry["joint"][d] = f"{run.name}.joint.{d}.safetensors"
                ship(run / f"{d}.best.safetensors", WEIGHTS / entry["joint"][d], d)
        print(f"{run.name}: {scores} -> {'shipped' if 'forward' in entry['joint'] else 'not shipped'}", flush=True)
    write_registry(cameras)


def ship_brackets(root: Path) -> None:
    cameras = json.loads((WEIGHTS / "registry.json").read_text())["cameras"]
    for run in sorted(p for p in root.iterdir() if (p / "settings.json").exists()):
        start = ROOT / json.loads((run / "settings.json").read_text())["init_inverse"]
        tuned = run / "inverse.last.safetensors"
        scores = validation_scores(run, {"separate": {"inverse": start}, "brackets": {"inverse": tuned}})
        entry = cameras[run.name]
        entry["brackets"] = {"validation": scores}
        if scores["brackets"]["score"] > scores["separate"]["score"]:
            model, info, _ = trained_only(tuned, start, "inverse", is_conditioning)
            entry["brackets"]["inverse"] = f"{run.name}.brackets.inverse.safetensors"
            save_checkpoint(model, WEIGHTS / entry["brackets"]["inverse"], camera_profile=info.camera_profile,
                            training_stage=info.training_stage, data_manifest_hash=info.data_manifest_hash,
                            training=info.training, trained_by=info.code_version, conditioning_of=start)  # fmt: skip
        print(f"{run.name}: {scores} -> {'shipped' if 'inverse' in entry['brackets'] else 'not shipped'}", flush=True)
    write_registry(cameras)


def trained_only(
    tuned: Path, start: Path, direction: str, group: Callable[[str], bool]
) -> tuple[ParamISP, CheckpointInfo, ParamISP]:
    """The fine-tuned checkpoint and the one it started from, refused unless they differ only in ``group``."""
    model, info = load_checkpoint(tuned, direction=direction)  # type: ignore[arg-type]
    base = load_checkpoint(start, direction=direction)[0]  # type: ignore[arg-type]
    start_state = base.state_dict()
    moved = [k for k, v in model.state_dict().items() if not group(k) and not torch.equal(v, start_state[k])]
    if moved:
        raise SystemExit(f"{tuned}: trained {moved[0]}, outside the group it was meant to train")
    return model, info, base


def replace_keeping_conditioning(start: Path, model: ParamISP, info: CheckpointInfo, direction: str) -> None:
    """Ship ``model`` (``info``: its run) in place of ``start``, the file it was fine-tuned from: the file stays what
    it was (stage, training record, plus the fine-tune's run in that record), and every conditioning file made over
    it is pointed at the new file, after checking that it loads over it to the very network it gave over the old
    one (a conditioning file from before the gain-rule term holds the term at zero, so those networks are
    unchanged)."""
    old_sha = file_sha256(start)
    riders = [f for f in sorted(WEIGHTS.glob("*.safetensors"))
              if read_weights_metadata(f).get(CONDITIONING_BASE_KEY) == old_sha]  # fmt: skip
    before = {f: load_checkpoint(start, direction=direction, conditioning=f)[0].state_dict() for f in riders}  # type: ignore[arg-type]
    base = read_checkpoint_info(start)
    save_fp16(model, start, base, json.dumps({**json.loads(base.training), "gain_rule": json.loads(info.training)}),
              info.code_version)  # fmt: skip
    for rider in riders:
        metadata = {**read_weights_metadata(rider), CONDITIONING_BASE_KEY: file_sha256(start)}
        with atomic_write(rider, overwrite=True) as tmp:
            save_file(load_file(str(rider)), str(tmp), metadata=metadata)
            after = load_checkpoint(start, direction=direction, conditioning=tmp)[0].state_dict()  # type: ignore[arg-type]
            if any(not torch.equal(v, after[k]) for k, v in before[rider].items()):
                raise SystemExit(f"{rider}: over the new {start.name} it would give another network")
        print(f"{rider.name}: now made over the new {start.name} (the same network)", flush=True)


def ship_gain_rule(root: Path) -> None:
    registry = json.loads((WEIGHTS / "registry.json").read_text())["cameras"]
    for start_name, entry in (("separate", registry["generic"]), ("joint", registry["generic"]["joint"])):
        for run in sorted(p.parent for p in (root / start_name).glob("*/settings.json")):
            direction = run.name
            start = ROOT / json.loads((run / "settings.json").read_text())[f"init_{direction}"]
            if start != WEIGHTS / entry[direction]:
                raise SystemExit(f"{run}: trained from {start}, not the shipped {entry[direction]}")
            tuned = run / f"{direction}.last.safetensors"
            model, info, base = trained_only(tuned, start, direction, TRAINABLE["gain_rule"])
            if bool(base.paramnet.gain_rule.weight.any()):
                raise SystemExit(f"{start} already has a trained gain-rule term")
            scores = validation_scores(run, {"before": {direction: start}, "gain_rule": {direction: tuned}})
            shipped = scores["gain_rule"]["score"] > scores["before"]["score"]
            entry.setdefault("gain_rule", {})[direction] = {"validation": scores, "shipped": shipped}
            if shipped:
                replace_keeping_conditioning(start, model, info, direction)
            print(f"generic {start_name} {direction}: {scores} -> {'shipped' if shipped else 'not shipped'}")
    write_registry(registry)


def with_bodies(cameras: dict[str, dict]) -> dict[str, dict]:
    """Registry entries with each simulated body's sensor, colour and noise (``core_isp.cameras.shipped``);
    held-out bodies ship with the camera-agnostic weights, so ``--camera canon-550d`` knows its sensor."""
    out = dict(cameras)
    for name in HELD_OUT_PROFILES:
        out.setdefault(name, {"profile": get_profile(name).profile_id, "forward": cameras["generic"]["forward"],
                              "inverse": cameras["generic"]["inverse"]})  # fmt: skip
    for name, entry in out.items():
        if name != "generic":
            body = get_profile(name).camera().to_dict()
            entry["camera"] = {k: v for k, v in body.items() if k not in ("name", "weights")}
    return out


def write_registry(cameras: dict[str, dict]) -> None:
    with atomic_write(WEIGHTS / "registry.json", overwrite=True) as tmp:
        tmp.write_text(json.dumps({"version": 1, "cameras": with_bodies(cameras)}, indent=1) + "\n")


def main(root: Path) -> None:
    generic = root / "pretrain" / "paramisp"
    cameras: dict[str, dict] = {"generic": {}}
    for direction in ("forward", "inverse"):
        cameras["generic"][direction] = f"generic.{direction}.safetensors"
        ship(generic / direction / f"{direction}.best.safetensors", WEIGHTS / cameras["generic"][direction], direction)
    for name in TUNING_PROFILES:
        profile = get_profile(name)
        entry: dict = dict(profile=profile.profile_id, make=profile.make, model=profile.model, validation_psnr={})
        for direction in ("forward", "inverse"):
            run = root / "finetune" / name / direction
            best = f"{direction}.best.safetensors"
            start, tuned = generic / direction / best, run / best
            scores = validation_psnr(run, direction, {"pretrained": start, "fine_tuned": tuned})
            entry["validation_psnr"][direction] = scores
            file = WEIGHTS / f"{name}.{direction}.safetensors"
            if scores["fine_tuned"] > scores["pretrained"]:
                ship(tuned, file, direction)
                entry[direction] = file.name
            else:
                entry[direction] = cameras["generic"][direction]
            print(f"{name} {direction}: {scores} -> {entry[direction]}", flush=True)
        cameras[name] = entry
    write_registry(cameras)
    named = {entry[d] for entry in cameras.values() for d in ("forward", "inverse")}
    for stale in WEIGHTS.glob("*.safetensors"):  # after the registry, which must never name a missing file
        if stale.name not in named:
            stale.unlink()
    size = sum(f.stat().st_size for f in WEIGHTS.glob("*.safetensors"))
    print(f"shipped {len(cameras)} pairs, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    if sys.argv[1:] == ["--bodies-only"]:  # refresh the camera descriptions without re-shipping weights
        write_registry(json.loads((WEIGHTS / "registry.json").read_text())["cameras"])
    elif sys.argv[1:2] == ["--joint"]:
        ship_joint(Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "runs" / "joint")
    elif sys.argv[1:2] == ["--gain-rule"]:
        ship_gain_rule(Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "runs" / "gain-rule")
    elif sys.argv[1:2] == ["--brackets"]:
        ship_brackets(Path(sys.argv[2]) if len(sys.argv) > 2 else ROOT / "runs" / "bracket-inverse" / "manual+stops")
    else:
        main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "runs" / "defaults")

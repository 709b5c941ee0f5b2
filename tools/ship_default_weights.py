"""Copy the trained default weights into the package as fp16 safetensors and write the registry.

    python tools/ship_default_weights.py [RUN_ROOT]        # after tools/train_default_weights.py

Ships the camera-agnostic pre-trained pair ("generic") and the fine-tuned pair of each tuning profile, each
from its best validation checkpoint. Every file keeps its metadata (config, profile, stage, training settings
and step budget, code version, data-manifest hash); fp16 storage halves the size and is upcast at load.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from core_isp.checkpoint import load_checkpoint, save_checkpoint
from core_isp.simulation.profiles import TUNING_PROFILES, get_profile

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = ROOT / "core_isp" / "weights"


def ship(source: Path, target: Path, direction: str) -> None:
    model, info = load_checkpoint(source, direction=direction)  # type: ignore[arg-type]
    save_checkpoint(
        model,
        target,
        camera_profile=info.camera_profile,
        training_stage=info.training_stage,
        data_manifest_hash=info.data_manifest_hash,
        weights_dtype="float16",
        training=info.training,
    )


def main(root: Path) -> None:
    cameras: dict[str, dict[str, str]] = {}
    pairs = {"generic": root / "pretrain" / "paramisp"} | {p: root / "finetune" / p for p in TUNING_PROFILES}
    for name, folder in pairs.items():
        entry: dict[str, str] = {}
        if name != "generic":
            profile = get_profile(name)
            entry.update(profile=profile.profile_id, make=profile.make, model=profile.model)
        for direction in ("forward", "inverse"):
            file = f"{name}.{direction}.safetensors"
            ship(folder / direction / f"{direction}.best.safetensors", WEIGHTS / file, direction)
            entry[direction] = file
        cameras[name] = entry
    (WEIGHTS / "registry.json").write_text(json.dumps({"version": 1, "cameras": cameras}, indent=1) + "\n")
    size = sum(f.stat().st_size for f in WEIGHTS.glob("*.safetensors"))
    print(f"shipped {len(cameras)} pairs, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "runs" / "defaults")

#!/usr/bin/env bash
# The GPU recipe of tools/train_default_weights.py as one job of at most 8 minutes on a GPU machine: train,
# then pack the best checkpoints, logs and settings into $OUT in chunks under 16 MB.
#
#     OUT=out/ bash tools/train_default_weights_gpu.sh [RUN_ROOT]      # RUN_ROOT: runs/defaults-gpu
#     cat out/runs.tgz.* | tar xzf - -C runs/defaults-gpu             # back on the CPU machine
set -u
out=${OUT:-runs/gpu-out}
root=${1:-runs/defaults-gpu}
mkdir -p "$out" "$root"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/machine.txt"
nproc | tee -a "$out/machine.txt"
timeout 480 python3 tools/train_default_weights.py --recipe gpu "$root" 2>&1 | tee "$out/train.log"
(cd "$root" && find . \( -name '*.best.safetensors' -o -name log.csv -o -name settings.json \) -print |
  tar czf - -T -) | split -b 15M - "$out/runs.tgz."
ls -l "$out"

"""``paramisp prepare FOLDER -o CACHE`` and ``paramisp train``: data preparation and the training stages."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import torch.distributed as dist
import typer

from core_isp.errors import BadInputError
from paramisp.cli.common import command_context, emit_json, log
from paramisp.cli.main import app
from paramisp.cli.options import JsonOption, OverwriteOption, VerboseOption


@app.command("prepare")
def prepare_command(
    folder: Annotated[Path, typer.Argument(help="folder of RAW files, each with its camera JPEG")],
    out: Annotated[Path, typer.Option("--out", "-o", help="cache folder to write")],
    overwrite: OverwriteOption = False,
    json_out: JsonOption = False,
    verbose: VerboseOption = False,
) -> None:
    """Pair each RAW with its camera JPEG (sidecar or embedded), register and cache the pairs."""
    from core_isp.training.prepare import prepare_folder

    with command_context(verbose):
        if not folder.is_dir():
            raise BadInputError(f"{folder}: not a folder")
        report = prepare_folder(folder, out, overwrite=overwrite)
        for p in report.pairs:
            log.info(
                "%-24s %-8s score %.3f  scale %.4f  offset (%.2f, %.2f)  %s%s  -> %s",
                p.name, p.jpeg_source, p.score, p.scale, *p.offset_px,
                f"{p.size_hw[0]}x{p.size_hw[1]}", " downscaled" if p.downscaled else "", p.split,
            )  # fmt: skip
        for r in report.rejected:
            log.info("%-24s rejected: %s", r["file"], r["reason"])
        log.info("%s: %d pairs cached, %d rejected", out, len(report.pairs), len(report.rejected))
        if json_out:
            emit_json({"cache": str(out), "pairs": [vars(p) for p in report.pairs], "rejected": report.rejected})


@app.command("train")
def train_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="run folder (checkpoints, state, log.csv)")],
    stage: Annotated[str, typer.Option("--stage", help="pretrain, finetune or joint")] = "pretrain",
    direction: Annotated[str, typer.Option("--direction", help="forward or inverse (not for joint)")] = "forward",
    data: Annotated[
        str | None,
        typer.Option("--data", help="sim:<profile>[,...] or a prepared cache (pretrain default: the tuning cameras)"),
    ] = None,
    steps: Annotated[int, typer.Option("--steps", help="iteration budget")] = 1000,
    config: Annotated[str, typer.Option("--config", help="small or base")] = "small",
    embedding: Annotated[str, typer.Option("--embedding", help="full, colour (ablation) or none (ablation)")] = "full",
    batch_size: Annotated[int, typer.Option("--batch", help="global batch size")] = 8,
    crop: Annotated[int, typer.Option("--crop", help="training crop (pixels, multiple of 4)")] = 128,
    lr: Annotated[float, typer.Option("--lr")] = 2e-4,
    optics_dropout: Annotated[float, typer.Option("--optics-dropout", help="per-term drop probability")] = 0.2,
    lr_step_every: Annotated[int, typer.Option("--lr-step-every", help="iterations per x0.8 decay")] = 1000,
    val_every: Annotated[int, typer.Option("--val-every")] = 100,
    val_samples: Annotated[int, typer.Option("--val-samples")] = 16,
    seed: Annotated[int, typer.Option("--seed")] = 42,
    init_forward: Annotated[str | None, typer.Option("--init-forward", help="checkpoint to start from")] = None,
    init_inverse: Annotated[str | None, typer.Option("--init-inverse", help="checkpoint to start from")] = None,
    resume: Annotated[bool, typer.Option("--resume", help="continue the run in --out")] = False,
    workers: Annotated[int, typer.Option("--workers", help="processes rendering batches ahead (0: in-line)")] = 0,
    manual_exposures: Annotated[
        float, typer.Option("--manual-exposures", help="share of simulated shots set by hand (ISO apart from light)")
    ] = 0.0,
    stops_loss: Annotated[float, typer.Option("--stops-loss", help="weight of the inverse's loss in stops")] = 0.0,
    bf16: Annotated[bool, typer.Option("--bf16", help="forward passes under bf16 autocast (fp32 weights)")] = False,
    verbose: VerboseOption = False,
) -> None:
    """Train ParamISP (one stage). Multi-GPU / multi-node: launch with ``torchrun ... -m paramisp train``."""
    from core_isp.simulation.profiles import TUNING_PROFILES
    from core_isp.training.trainer import Trainer, TrainSettings

    with command_context(verbose):
        if data is None:
            # Fine-tuning on the simulated cameras by default would quietly train on someone else's camera.
            if stage != "pretrain":
                raise BadInputError(f"--stage {stage} needs --data: your camera's prepared cache (or sim:<profile>)")
            data = "sim:" + ",".join(TUNING_PROFILES)
        settings = TrainSettings(
            stage=stage, direction=direction, data=data, steps=steps, config=config, embedding=embedding,
            batch_size=batch_size,
            crop=crop, lr=lr, optics_dropout_p=optics_dropout, lr_step_every=lr_step_every, val_every=val_every,
            val_samples=val_samples, seed=seed,
            init_forward=init_forward, init_inverse=init_inverse, manual_exposure_p=manual_exposures,
            stops_loss_weight=stops_loss, bf16_autocast=bf16,
        )  # fmt: skip
        distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
        if distributed:
            import torch

            dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
        try:
            scores = Trainer(settings, out, resume=resume, workers=workers).run()
        finally:
            if distributed:
                dist.destroy_process_group()
        log.info("%s: done; last validation %s", out, scores)

"""Training the deblurring network within a wall-clock budget: Adam, a cosine learning rate, an L1 loss.

The cosine runs over the budget's elapsed share (or the step budget's, whichever is further), so a run ends at its
lowest learning rate whatever the machine's speed; with ``max_steps`` and no time budget a run is fully determined
by its seed (initialisation and every crop come from it). The loss is L1 in the domain the network works in, RAW
through a fixed sRGB curve: a linear mosaic's shadows hold small values that the render's tone curve will raise, and
an L1 on linear values would all but ignore them. With ``white_balanced_loss`` each RAW plane is first multiplied by
the pair's white-balance gain (R and B by theirs, green by 1), as the render will before its curve, so an error in a
red or blue plane weighs what it will weigh in the photo.

Recipes: ``cpu`` finishes on 2 cores (small crops and batches); ``gpu`` (``--device cuda``) runs bf16 autocast with
bigger batches and crops. A held-out share of the samples scores the network against its blurry input on fixed
centre crops at every checkpoint; each checkpoint is written atomically (temp name, then rename), so a killed run
leaves the last one whole.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from apps.deblur.data import PairSet, random_crops
from apps.deblur.model import DeblurConfig, DeblurNet, Domain, parameter_count, save_weights
from core_isp.canonical import srgb_encode
from core_isp.errors import BadInputError, ParamispError

RECIPES = ("cpu", "gpu")


@dataclass(frozen=True)
class TrainSettings:
    """How a network is trained; :meth:`recipe` gives the CPU or GPU recipe."""

    domain: Domain = "raw"
    #: Wall-clock budget in minutes (None: only ``max_steps``).
    budget_min: float | None = 10.0
    max_steps: int | None = None
    batch: int = 8
    #: Crop side in image pixels (mosaic or sRGB), even; a RAW crop is half that in packed planes.
    crop_px: int = 128
    lr: float = 1e-3
    min_lr: float = 1e-6
    seed: int = 0
    device: str = "cpu"
    #: bf16 autocast (GPU recipe).
    bf16: bool = False
    #: RAW loss on white-balanced planes (module notes); sRGB pairs have unit gains, so it changes nothing there.
    white_balanced_loss: bool = False
    #: Share of the samples held out to score the network against its input (at least one sample).
    val_share: float = 0.1
    checkpoint_every_s: float = 120.0
    config: DeblurConfig | None = None

    @classmethod
    def recipe(cls, name: str, domain: Domain, **changes: object) -> TrainSettings:
        """``cpu``: batch 8 of 128 px crops, 2 threads' worth; ``gpu``: cuda, bf16, batch 32 of 256 px crops."""
        if name not in RECIPES:
            raise BadInputError(f"recipe must be one of {', '.join(RECIPES)}, got {name!r}")
        base = {"cpu": {}, "gpu": {"device": "cuda", "bf16": True, "batch": 32, "crop_px": 256}}[name]
        return cls(domain=domain, **{**base, **changes})  # type: ignore[arg-type]

    def network_config(self) -> DeblurConfig:
        return self.config or DeblurConfig.for_domain(self.domain)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d["config"] = asdict(self.network_config())
        return d


@dataclass
class TrainReport:
    """What a run did; ``record`` is what the weight file's ``training`` metadata holds."""

    path: Path
    steps: int
    seconds: float
    record: dict[str, object] = field(default_factory=dict)


def deblur_loss(
    pred: torch.Tensor, target: torch.Tensor, domain: Domain, gains: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean L1 ``(B, C, H, W)`` pairs -> ``()``; RAW compared through the sRGB curve, after multiplying each channel by
    ``gains`` ``(B, C)`` where given (module notes)."""
    if gains is not None:
        pred, target = pred * gains[..., None, None], target * gains[..., None, None]
    if domain == "raw":
        pred, target = _tone(pred), _tone(target)
    return (pred - target).abs().mean()


def _tone(planes: torch.Tensor) -> torch.Tensor:
    """The sRGB curve on each of ``(B, C, H, W)``'s values (it is per value; kornia's wants 3 channels)."""
    return srgb_encode(planes.clamp(min=0.0)[:, :, None].expand(-1, -1, 3, -1, -1))[:, :, 0]


def split_pairs(pairs: PairSet, share: float, seed: int) -> tuple[PairSet, PairSet]:
    """Training and held-out pairs, split by sample (a sample's pairs from several blurry folders stay together)."""
    # Pair names are ``folder/blurry-folder/sample``: a sample is its folder and name.
    keys = [f"{n.split('/')[0]}/{n.split('/')[-1]}" for n in pairs.names]
    samples = sorted(set(keys))
    if len(samples) < 2:
        raise BadInputError(f"need two samples or more to hold one out, got {len(samples)}")
    order = torch.randperm(len(samples), generator=torch.Generator().manual_seed(seed)).tolist()
    held = {samples[i] for i in order[: max(1, round(share * len(samples)))]}
    return (pairs.subset([i for i, k in enumerate(keys) if k not in held]),
            pairs.subset([i for i, k in enumerate(keys) if k in held]))  # fmt: skip


def _centre_crops(pairs: PairSet, crop_px: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    c = crop_px // 2 if pairs.domain == "raw" else crop_px
    crops = []
    for image in (*pairs.blurry, *pairs.sharp):
        h, w = image.shape[-2:]
        y, x = (h - c) // 2, (w - c) // 2
        crops.append(image[:, y : y + c, x : x + c])
    n = len(pairs)
    return torch.stack(crops[:n]), torch.stack(crops[n:]), pairs.iso, pairs.gains


@torch.no_grad()
def held_out_loss(
    model: DeblurNet, pairs: PairSet, crop_px: int, device: torch.device, white_balanced: bool = False
) -> tuple[float, float]:
    """``(network, blurry input)`` L1 on the held-out pairs' centre crops (the training loss's weighting)."""
    blurry, sharp, iso, gains = _centre_crops(pairs, crop_px)
    weights = gains if white_balanced else None
    was_training = model.training
    model.eval()
    pred = torch.cat([model(b.to(device), i.to(device)).float().cpu() for b, i in
                      zip(blurry.split(8), iso.split(8), strict=True)])  # fmt: skip
    model.train(was_training)
    domain = pairs.domain
    return float(deblur_loss(pred, sharp, domain, weights)), float(deblur_loss(blurry, sharp, domain, weights))


def train(
    pairs: PairSet,
    out: str | Path,
    settings: TrainSettings,
    data: dict[str, object] | None = None,
    progress: bool = True,
) -> TrainReport:
    """Train a network on ``pairs`` and write it to ``out`` (``.safetensors``), with ``data`` (what the pairs are:
    folders, hash) in its training record."""
    if settings.budget_min is None and settings.max_steps is None:
        raise BadInputError("give a time budget or a step budget (or both)")
    if pairs.domain != settings.domain:
        raise BadInputError(f"{pairs.domain} pairs for a {settings.domain} network")
    out = Path(out)
    device = torch.device(settings.device)
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    train_set, held = split_pairs(pairs, settings.val_share, settings.seed)
    model = DeblurNet(settings.network_config()).to(device).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=settings.lr, betas=(0.9, 0.9))
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if settings.bf16 else nullcontext()
    budget_s = None if settings.budget_min is None else settings.budget_min * 60.0
    record: dict[str, object] = {"settings": settings.to_dict(), "parameters": parameter_count(model),
                                 "data": {**(data or {}), "train_pairs": len(train_set), "held_out_pairs": len(held)},
                                 "budget_min": settings.budget_min}  # fmt: skip
    start = last_save = time.perf_counter()
    step, running = 0, None
    bar = tqdm(total=settings.max_steps, desc=f"deblur-train {settings.domain}", unit="step", disable=not progress,
               dynamic_ncols=True)  # fmt: skip

    def save() -> None:
        net_l1, input_l1 = held_out_loss(model, held, settings.crop_px, device, settings.white_balanced_loss)
        record.update(steps=step, seconds=round(time.perf_counter() - start, 1), train_l1=running,
                      held_out_l1=net_l1, held_out_input_l1=input_l1)  # fmt: skip
        save_weights(model, out, record)

    while True:
        elapsed = time.perf_counter() - start
        done = max(elapsed / budget_s if budget_s else 0.0, step / settings.max_steps if settings.max_steps else 0.0)
        if done >= 1.0:
            break
        lr = settings.min_lr + (settings.lr - settings.min_lr) * 0.5 * (1.0 + math.cos(math.pi * done))
        for group in optimiser.param_groups:
            group["lr"] = lr
        blurry, sharp, iso, gains = random_crops(train_set, settings.batch, settings.crop_px, generator)
        blurry, sharp, iso = blurry.to(device), sharp.to(device), iso.to(device)
        weights = gains.to(device) if settings.white_balanced_loss else None
        with autocast:
            pred = model(blurry, iso)
        loss = deblur_loss(pred.float(), sharp, settings.domain, weights)
        if not torch.isfinite(loss):
            raise ParamispError(f"training diverged at step {step} (loss {float(loss)}): lower --lr")
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        step += 1
        value = float(loss.detach())
        running = value if running is None else 0.98 * running + 0.02 * value
        bar.update(1)
        bar.set_postfix_str(f"L1 {running:.4f} lr {lr:.1e}")
        if time.perf_counter() - last_save > settings.checkpoint_every_s:
            save()
            last_save = time.perf_counter()
    bar.close()
    save()
    return TrainReport(out, step, time.perf_counter() - start, record)

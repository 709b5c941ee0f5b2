"""Figures the benchmarks leave for the docs: labelled contact sheets of images."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont


def contact_sheet(panels: list[tuple[torch.Tensor, str]], columns: int) -> torch.Tensor:
    """Images ``(1, 3, H, W)`` in [0, 1] of one size in a grid, each with its label below: ``(3, H', W')``."""
    h, w = panels[0][0].shape[-2:]
    band = 28
    rows = math.ceil(len(panels) / columns)
    sheet = Image.new("RGB", (columns * w, rows * (h + band)), "white")
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=18)
    for k, (image, label) in enumerate(panels):
        x, y = (k % columns) * w, (k // columns) * (h + band)
        pixels = (image[0].clamp(0, 1) * 255).round().byte().permute(1, 2, 0).cpu().numpy()
        sheet.paste(Image.fromarray(pixels), (x, y))
        draw.text((x + 6, y + h + 4), label, fill="black", font=font)
    return torch.from_numpy(np.asarray(sheet, dtype=np.float32) / 255).permute(2, 0, 1)

"""Whole-image work in bounded memory gives the same numbers and the same files: code values in and out of the
ISPs, the mirror padding inside each window, the context resampled a strip at a time, writers quantising a strip
at a time, and the command line's streamed path against the in-memory one, byte for byte."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from PIL import Image
from test_models import META, make_model, model_input
from typer.testing import CliRunner

import core_isp.inference as inference
import core_isp.io.writers as writers
from conftest import DATA, DC50
from core_isp.canonical import mirror_pad
from core_isp.chain import photo_to_raw, to_srgb
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.image import from_codes, to_codes
from core_isp.inference import forward_isp, inverse_isp, padded_window, tiles
from core_isp.io.dng import write_dng
from core_isp.io.image_reader import read_image
from core_isp.io.raw_reader import read_raw
from core_isp.io.writers import write_png, write_tiff
from core_isp.isp import InferenceOptions, LearnedISP, load_isp
from core_isp.models.context import resize_for_context
from paramisp.cli import convert  # noqa: F401  (registers the commands)
from paramisp.cli.common import write_render
from paramisp.cli.main import app


@pytest.mark.parametrize(("height", "width", "tile"), [(13, 10, 4), (2, 5, 4), (97, 101, 32), (64, 64, None)])
def test_padded_window_is_the_window_of_the_padded_converted_image(height, width, tile):
    x = torch.randint(0, 256, (1, 3, height, width), dtype=torch.uint8)
    padded_h, padded_w = inference.round_up(height), inference.round_up(width)
    reference = from_codes(mirror_pad(x, 0, padded_h - height, 0, padded_w - width))
    for (_, _, wy0, wy1), (_, _, wx0, wx1) in tiles(padded_h, padded_w, tile, 0):
        assert torch.equal(padded_window(x, wy0, wy1, wx0, wx1), reference[..., wy0:wy1, wx0:wx1])


def test_context_input_in_strips_equals_the_whole_image_resampled(monkeypatch):
    x = torch.rand(2, 3, 300, 452)
    monkeypatch.setattr(inference, "CONTEXT_STRIP_PIXELS", 452 * 24)  # strips of 24 rows
    strips = inference.context_input(lambda y0, y1, x0, x1: x[..., y0:y1, x0:x1], 300, 452, 128)
    assert strips.shape == (2, 3, 88, 128)
    assert torch.equal(strips, resize_for_context(x, 128))
    # The separable resampling is area resampling.
    area = torch.nn.functional.interpolate(x, size=(88, 128), mode="area")
    assert (strips - area).abs().max() < 1e-6


@pytest.mark.parametrize("tile", [None, 64])
@pytest.mark.parametrize("codes", [torch.uint8, torch.uint16])
def test_forward_code_values_equal_the_float_output_quantised(tile, codes):
    model = make_model("small", "forward", context_size=64)
    raw = model_input("forward", 1, 150, 122)
    floats = forward_isp(model, raw, [META], tile=tile)
    direct = forward_isp(model, raw, [META], tile=tile, output_dtype=codes)
    assert direct.dtype == codes and torch.equal(direct, to_codes(floats, codes))


@pytest.mark.parametrize("tile", [None, 64])
def test_inverse_takes_code_values_as_the_floats_they_stand_for(tile):
    model = make_model("small", "inverse", context_size=64)
    codes = torch.randint(0, 256, (1, 3, 150, 122), dtype=torch.uint8)
    assert torch.equal(
        inverse_isp(model, codes, [META], tile=tile), inverse_isp(model, from_codes(codes), [META], tile=tile)
    )
    with pytest.raises(BadInputError, match=r"the inverse ISP gives a float32 RAW, not torch\.uint8 code values"):
        LearnedISP("test", None, model).inverse(codes, META, InferenceOptions(output_dtype=torch.uint8))


def test_writers_quantise_in_strips_as_whole_and_take_their_codes(tmp_path, monkeypatch):
    image = torch.rand(1, 3, 37, 29) * 1.2 - 0.1
    whole = {bits: to_codes(image[0], torch.uint8 if bits == 8 else torch.uint16) for bits in (8, 16)}
    monkeypatch.setattr(writers, "STRIP_ROWS", 8)
    write_png(tmp_path / "floats.png", image)
    write_png(tmp_path / "codes.png", whole[8])
    write_tiff(tmp_path / "floats.tif", image)
    write_tiff(tmp_path / "codes.tif", whole[16])
    assert (tmp_path / "floats.png").read_bytes() == (tmp_path / "codes.png").read_bytes()
    assert (tmp_path / "floats.tif").read_bytes() == (tmp_path / "codes.tif").read_bytes()
    assert np.array_equal(np.asarray(Image.open(tmp_path / "floats.png")), whole[8].permute(1, 2, 0).numpy())
    with pytest.raises(BadInputError, match=r"torch\.uint8 code values cannot be written with 16 bits"):
        write_tiff(tmp_path / "bad.tif", whole[8])


def _run_cli(*args: str) -> None:
    result = CliRunner().invoke(app, [*args, "--camera", "nikon-d7000", "--tile", "128"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_to_srgb_streamed_writes_the_file_of_the_in_memory_path(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(writers, "STRIP_ROWS", 64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        raw = read_raw(DC50)
    _run_cli("to-srgb", str(DC50), "-o", str(tmp_path / f"streamed{suffix}"), "--format", suffix[1:])
    isp = load_isp("nikon-d7000", directions=("forward",))
    in_memory = to_srgb(raw, isp, InferenceOptions(tile=128))
    assert in_memory.pixels.dtype == torch.float32
    write_render(tmp_path / f"memory{suffix}", in_memory)
    assert (tmp_path / f"streamed{suffix}").read_bytes() == (tmp_path / f"memory{suffix}").read_bytes()


def test_to_srgb_in_bf16_writes_the_in_memory_bf16_render_close_to_fp32(tmp_path):
    _run_cli("to-srgb", str(DC50), "-o", str(tmp_path / "bf16.png"), "--precision", "bf16")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        raw = read_raw(DC50)
    isp = load_isp("nikon-d7000", directions=("forward",))
    write_render(tmp_path / "memory.png", to_srgb(raw, isp, InferenceOptions(tile=128, localnet_dtype=torch.bfloat16)))
    assert (tmp_path / "bf16.png").read_bytes() == (tmp_path / "memory.png").read_bytes()
    write_render(tmp_path / "fp32.png", to_srgb(raw, isp, InferenceOptions(tile=128)))
    low, high = (np.asarray(Image.open(tmp_path / f"{n}.png"), dtype=np.float64) for n in ("bf16", "fp32"))
    assert 0 < np.abs(low - high).mean() < 1.0  # under one 8-bit code on average


def test_to_raw_streamed_writes_the_dng_of_the_in_memory_path(tmp_path, monkeypatch):
    monkeypatch.setattr(writers, "STRIP_ROWS", 64)
    photo_path = DATA / "exif" / "sony-d700.jpg"
    _run_cli("to-raw", str(photo_path), "-o", str(tmp_path / "streamed.dng"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MetadataWarning)
        photo = read_image(photo_path)
        made = photo_to_raw(photo, "nikon-d7000", options=InferenceOptions(tile=128))
    assert photo.pixels.dtype == torch.float32
    description = f"paramisp to-raw from {photo_path.name}: {made.describe()}"
    write_dng(tmp_path / "memory.dng", made.raw.pixels[0, 0].clone(), made.raw.meta, description=description)
    assert (tmp_path / "streamed.dng").read_bytes() == (tmp_path / "memory.dng").read_bytes()

"""Rendered photos: bit depths, colour modes, orientation and what cannot be read."""

from __future__ import annotations

import numpy as np
import png
import pytest
import tifffile
import torch
from PIL import Image

from conftest import DATA
from core_isp.errors import BadInputError, MetadataWarning
from core_isp.io import read_image
from core_isp.orientation import to_display, to_sensor


def test_16bit_png_is_read_exactly(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.integers(0, 65536, (10, 12, 3), dtype=np.uint16)
    p = tmp_path / "deep.png"
    png.from_array(a.reshape(10, 36), "RGB;16").save(str(p))
    with pytest.warns(MetadataWarning, match="no EXIF"):
        img = read_image(p)
    np.testing.assert_allclose(img.pixels[0].permute(1, 2, 0).numpy(), a / 65535.0, atol=1e-7)
    assert img.meta.image_size_hw == (10, 12)


def test_greyscale_jpeg_becomes_rgb_with_a_warning(tmp_path):
    p = tmp_path / "grey.jpg"
    Image.new("L", (16, 12), 90).save(p)
    with pytest.warns(MetadataWarning, match="greyscale"):
        x = read_image(p).pixels
    assert x.shape == (1, 3, 12, 16)
    torch.testing.assert_close(x[:, 0], x[:, 2])


def test_cmyk_jpeg_is_refused(tmp_path):
    p = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (16, 12)).save(p)
    with pytest.raises(BadInputError, match="CMYK"):
        read_image(p)


def test_non_finite_tiff_is_refused(tmp_path):
    p = tmp_path / "nan.tif"
    a = np.zeros((4, 4, 3), dtype=np.float32)
    a[1, 1, 1] = np.nan
    tifffile.imwrite(p, a)
    with pytest.raises(BadInputError, match="NaN"):
        read_image(p)


def test_garbage_is_refused(tmp_path):
    p = tmp_path / "junk.jpg"
    p.write_bytes(b"not a jpeg")
    with pytest.raises(BadInputError):
        read_image(p)


def test_display_orientation_applies_the_exif_tag():
    sensor = read_image(DATA / "exif" / "Canon_40D.jpg", to="sensor")
    assert sensor.meta.orientation == 1
    display = read_image(DATA / "exif" / "Canon_40D.jpg", to="display").pixels
    torch.testing.assert_close(sensor.pixels, display)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_round_trip(orientation):
    x = torch.arange(2 * 3 * 5, dtype=torch.float32).view(1, 2, 3, 5)
    up = to_display(x, orientation)
    assert up.shape[-2:] == ((5, 3) if orientation >= 5 else (3, 5))
    torch.testing.assert_close(to_sensor(up, orientation), x)


def test_orientation_6_is_a_clockwise_quarter_turn():
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    # The sensor's top-left pixel ends up top-right when the camera was turned clockwise.
    torch.testing.assert_close(to_display(x, 6), torch.tensor([[3.0, 1.0], [4.0, 2.0]]))

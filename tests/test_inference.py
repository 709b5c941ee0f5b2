"""Full-resolution inference: tiled equals untiled, any size, CFA phase, precision and memory format; the
inverse's camera RGB before its mosaic, for every kind of ISP."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_models import META, make_model, model_input

from core_isp.canonical import mosaic, undevelop
from core_isp.cfa import cfa_batch
from core_isp.errors import BadInputError
from core_isp.inference import forward_isp, inverse_isp, round_up, run_tiled, tile_spans
from core_isp.isp import FixedISP, InferenceOptions, LearnedISP, canonical_isp, upi_isp
from core_isp.models import DIRECTIONS, ParamISP, ShotParams, get_config

ISP = {"forward": forward_isp, "inverse": inverse_isp}


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("context_size", [128, 512])
def test_small_config_tiled_equals_untiled(direction, context_size):
    model = make_model("small", direction, context_size=context_size)
    x = model_input(direction, 1, 250, 246)  # padded to 252 x 248: 4 x 4 tiles of 64
    shots = [META.replace(cfa_pattern="GBRG")]
    whole = ISP[direction](model, x, shots, tile=None)
    tiled = ISP[direction](model, x, shots, tile=64)
    assert len(tile_spans(252, 64, round_up(model.reach))) == 4
    assert tiled.shape == whole.shape == (1, 3 if direction == "forward" else 1, 250, 246)
    assert (tiled - whole).abs().max().item() < 1e-4
    # The halo matters: with one much smaller than the reach the same check fails.
    short = ISP[direction](model, x, shots, tile=64, halo=8)
    assert (short - whole).abs().max().item() > 1e-4


@pytest.mark.parametrize(
    ("size", "tile", "halo", "even_tile"),
    [(252, 64, 60, 64), (64, 64, 60, 64), (400, 128, 112, 100), (8, 4, 0, 4), (772, 512, 32, 388),
     (3796, 512, 32, 476)],
)
def test_tile_spans_cover_with_halo_and_one_window_shape(size, tile, halo, even_tile):
    spans = tile_spans(size, tile, halo)
    # As many tiles as `tile` needs, as even as multiples of 4 allow.
    assert [s for s, *_ in spans] == list(range(0, size, even_tile)) and spans[-1][1] == size
    assert len(spans) == -(-size // tile)
    assert len({w1 - w0 for *_, w0, w1 in spans}) == 1
    for start, end, w0, w1 in spans:
        assert w0 >= 0 and w1 <= size and w0 % 4 == 0
        assert start - w0 >= halo or w0 == 0
        assert w1 - end >= halo or w1 == size


def test_tile_spans_stay_on_a_networks_size_grid():
    # 720 rows in tiles of 512 share the size as 2 x 360, off a grid of 16; on the grid the tiles are 368 and 352.
    spans = tile_spans(720, 512, 32, multiple=16)
    assert [(s, e) for s, e, *_ in spans] == [(0, 368), (368, 720)]
    assert all(w0 % 16 == 0 and (w1 - w0) % 16 == 0 for *_, w0, w1 in spans)


def test_run_tiled_reproduces_a_local_filter():
    x = torch.rand(2, 3, 100, 72)

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(F.pad(t, (2, 2, 2, 2), mode="replicate"), 5, stride=1)

    tiled = run_tiled(blur, x, 3, 16, 4, torch.device("cpu"))
    assert torch.allclose(tiled, blur(x), atol=1e-6)


def test_any_size_keeps_shape_and_cfa_phase():
    # At init the learned part is near the identity, so a grey image comes back as grey / WB at each site.
    model = ParamISP(get_config("small"), "inverse").eval()
    meta = META.replace(cfa_pattern="GBRG", ccm_wb_cam_to_srgb=((1.0, 0.0, 0.0), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)))
    raw = inverse_isp(model, torch.full((1, 3, 97, 101), 0.5), [meta], tile=None)
    assert raw.shape == (1, 1, 97, 101)
    expected = 0.5 / torch.tensor([[1.0, META.wb_gains[2]], [META.wb_gains[0], 1.0]])  # G B / R G
    for dy in (0, 1):
        for dx in (0, 1):
            sites = raw[0, 0, dy::2, dx::2]
            assert sites.sub(expected[dy, dx]).abs().max() < 0.02


def test_bf16_autocast_and_channels_last_run_and_agree():
    for direction in DIRECTIONS:
        model = make_model("small", direction)
        x = model_input(direction, 1, 128, 96)
        ref = ISP[direction](model, x, [META], tile=None, channels_last=False)
        cl = ISP[direction](model, x, [META], tile=64, channels_last=True)
        bf16 = ISP[direction](model, x, [META], tile=64, autocast_dtype=torch.bfloat16, channels_last=True)
        assert cl.dtype == bf16.dtype == torch.float32
        assert (cl - ref).abs().max() < 1e-4
        # bf16 moves the output by a few per mille (inverse) to 2 % (forward, whose GlobalNet amplifies).
        assert (bf16 - ref).abs().mean() < 0.05 * ref.abs().mean()


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_bf16_localnet_agrees_tiled_and_untiled_and_leaves_the_model_alone(direction):
    model = make_model("small", direction)
    x = model_input(direction, 1, 128, 96)
    ref = ISP[direction](model, x, [META], tile=None)
    low = {tile: ISP[direction](model, x, [META], tile=tile, localnet_dtype=torch.bfloat16) for tile in (None, 64)}
    for out in low.values():
        assert out.dtype == torch.float32
        # bf16 activations move the output, but by far less than the network changes it (LocalNet's residual).
        assert 0 < (out - ref).abs().mean() < 0.02 * ref.abs().mean()
    # Tiles with the whole reach still equal one window, within bf16's rounding of the same arithmetic.
    assert (low[64] - low[None]).abs().max() < 0.05
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_with_localnet_dtype_shares_all_but_localnet():
    model = make_model("small", "forward")
    assert model.with_localnet_dtype(torch.float32) is model
    twin = model.with_localnet_dtype(torch.bfloat16)
    assert twin.paramnet is model.paramnet and twin.globalnet is model.globalnet
    assert twin.localnet.dtype == torch.bfloat16 and model.localnet.dtype == torch.float32
    assert not twin.training and twin.direction == "forward"
    high_precision = model.localnet.state_dict()
    for name, low in twin.localnet.state_dict().items():
        assert torch.equal(low, high_precision[name].to(torch.bfloat16)), name


def test_refuses_wrong_model_batch_or_tile():
    model = make_model("small", "inverse")
    srgb = torch.rand(1, 3, 96, 96)
    with pytest.raises(BadInputError, match="needs a forward model"):
        forward_isp(model, torch.rand(1, 1, 96, 96), [META])
    with pytest.raises(BadInputError, match="2 shots for a batch of 1"):
        inverse_isp(model, srgb, [META, META])
    with pytest.raises(BadInputError, match="multiples of 4"):
        inverse_isp(model, srgb, [META], tile=50)
    with pytest.raises(BadInputError, match=r"localnet_dtype torch\.int8"):
        inverse_isp(model, srgb, [META], localnet_dtype=torch.int8)


def test_training_mode_is_restored():
    model = make_model("small", "inverse").train()
    srgb = torch.rand(1, 3, 96, 96)
    a = inverse_isp(model, srgb, ShotParams.from_metadata([META]))
    b = inverse_isp(model, srgb, [META])
    assert model.training and torch.equal(a, b)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_image_smaller_than_globalnets_minimum(direction):
    model = make_model("small", direction)
    out = ISP[direction](model, model_input(direction, 2, 30, 22), [META, META.replace(iso=None)])
    assert out.shape == (2, 3 if direction == "forward" else 1, 30, 22) and torch.isfinite(out).all()


# -- camera RGB before the mosaic (InferenceOptions(mosaic=False)) ---------------------------------------------------

#: Two shots of different CFA phase in one batch: the RGB must be sampled per sample's own pattern.
TWO_PHASES = [META.replace(cfa_pattern="GBRG"), META.replace(cfa_pattern="BGGR", wb_gains=(1.7, 1.0, 2.2))]


def _sampled(rgb: torch.Tensor) -> torch.Tensor:
    return mosaic(rgb, cfa_batch([m.cfa_pattern for m in TWO_PHASES]))  # type: ignore[misc]


def _learned() -> LearnedISP:
    return LearnedISP("test", forward_model=None, inverse_model=make_model("small", "inverse"))


@pytest.mark.parametrize("isp", [_learned(), canonical_isp(), upi_isp()], ids=lambda isp: isp.name)
def test_camera_rgb_sampled_through_the_cfa_is_the_mosaic(isp):
    srgb = model_input("inverse", 2, 66, 90)  # padded to 68 x 92 by the learned ISP
    for clip in (True, False):
        rgb = isp.inverse(srgb, TWO_PHASES, InferenceOptions(tile=None, clip=clip, mosaic=False))
        raw = isp.inverse(srgb, TWO_PHASES, InferenceOptions(tile=None, clip=clip))
        assert rgb.shape == (2, 3, 66, 90) and raw.shape == (2, 1, 66, 90)
        assert torch.equal(_sampled(rgb), raw)


def test_learned_camera_rgb_tiled_equals_untiled():
    isp, srgb = _learned(), model_input("inverse", 2, 250, 246)
    whole = isp.inverse(srgb, TWO_PHASES, InferenceOptions(tile=None, mosaic=False))
    tiled = isp.inverse(srgb, TWO_PHASES, InferenceOptions(tile=64, mosaic=False))
    assert tiled.shape == whole.shape == (2, 3, 250, 246)
    assert (tiled - whole).abs().max().item() < 1e-4
    assert torch.equal(_sampled(tiled), isp.inverse(srgb, TWO_PHASES, InferenceOptions(tile=64)))


def test_a_fixed_isp_without_camera_rgb_refuses_to_give_it():
    mosaic_only = FixedISP("mosaic only", canonical_isp().process, undevelop)
    srgb = model_input("inverse", 2, 8, 8)
    assert mosaic_only.inverse(srgb, TWO_PHASES).shape == (2, 1, 8, 8)
    with pytest.raises(BadInputError, match="no camera RGB"):
        mosaic_only.inverse(srgb, TWO_PHASES, InferenceOptions(mosaic=False))


@pytest.fixture(scope="module")
def shipped_on_a_photo():
    """The camera-agnostic pair, a real photo's 192 x 256 crop (3 x 4 tiles of 64) and its metadata."""
    from core_isp.image import CameraImage
    from core_isp.io.image_reader import read_image
    from core_isp.isp import load_isp

    photo: CameraImage = read_image("tests/data/exif/DSCN0010.jpg")
    srgb = photo.pixels[..., 40:232, 80:336]
    meta = [photo.metadata[0].replace(cfa_pattern="RGGB", wb_gains=(2.0, 1.0, 1.6), image_size_hw=(192, 256))]
    return load_isp(), srgb, meta


def test_default_halo_of_the_shipped_weights_matches_the_exact_one(shipped_on_a_photo):
    """The user-level default overlap (32 px, not the network's whole 112-px reach) changes the shipped weights'
    output by well under one 8-bit code, in both directions, on a real photo cut into many tiles."""
    isp, srgb, meta = shipped_on_a_photo
    fast, exact = InferenceOptions(tile=64), InferenceOptions(tile=64, halo=None)
    assert fast.halo is not None and fast.halo < round_up(isp.inverse_model.reach)
    raw = isp.inverse(srgb, meta, exact)
    assert (isp.inverse(srgb, meta, fast) - raw).abs().max() < 1e-3
    assert (isp.forward(raw, meta, fast) - isp.forward(raw, meta, exact)).abs().max() < 1e-3


def test_bf16_localnet_of_the_shipped_weights_stays_within_codes_of_fp32(shipped_on_a_photo):
    """``--precision bf16``: the shipped weights' output moves by a fraction of an 8-bit code on average and a
    couple at most, in both directions, tiled as the command line tiles."""
    isp, srgb, meta = shipped_on_a_photo
    fp32, bf16 = InferenceOptions(tile=64), InferenceOptions(tile=64, localnet_dtype=torch.bfloat16)
    raw = isp.inverse(srgb, meta, fp32)
    for ours, reference in ((isp.inverse(srgb, meta, bf16), raw), (isp.forward(raw, meta, bf16),
                                                                   isp.forward(raw, meta, fp32))):  # fmt: skip
        diff = (ours - reference).abs()
        assert diff.max() < 2 / 255 and 0 < diff.mean() < 0.2 / 255

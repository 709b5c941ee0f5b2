"""ParamISP networks: sizes, cost, ParamNet's inputs, the compositions and the context semantics."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from core_isp.errors import BadInputError
from core_isp.metadata import CameraMetadata
from core_isp.models import (
    CONFIGS,
    DIRECTIONS,
    OPTICAL_PARAMETERS,
    STATED_MACS_PER_PIXEL,
    ParamISP,
    ParamISPConfig,
    ShotParams,
    add_raw_dequantisation_noise,
    add_srgb_dequantisation_noise,
    context_shape,
    get_config,
    parameter_counts,
    quantise_raw,
)
from core_isp.models.context import resize_for_context
from core_isp.models.layers import ReplicateConv2d, xavier_init
from core_isp.models.localnet import ResidualBlock, pool_channels
from core_isp.models.paramnet import EQUALISATION, ParamNet, colour_vector, equalise

CCM = ((1.6, -0.4, -0.2), (-0.3, 1.5, -0.2), (0.1, -0.6, 1.5))
META = CameraMetadata(
    cfa_pattern="RGGB",
    wb_gains=(2.0, 1.0, 1.6),
    ccm_wb_cam_to_srgb=CCM,
    white_level=16383,
    black_level_per_site=(512, 512, 512, 512),
    exposure_time_s=1 / 100,
    iso=400.0,
    f_number=4.0,
    focal_length_mm=35.0,
)


def make_model(name: str, direction: str, seed: int = 0, **changes: object) -> ParamISP:
    """A model whose learned parts are far from the identity (the paper's init starts near it), so a test
    on it can fail."""
    torch.manual_seed(seed)
    config = get_config(name).replace(**changes) if changes else get_config(name)
    model = ParamISP(config, direction).eval()  # type: ignore[arg-type]
    with torch.no_grad():
        xavier_init(model.localnet.tail, 0.3)
        for head in model.globalnet.heads:
            xavier_init(head, 0.1)
        for n, p in model.named_parameters():
            if n.endswith("bias"):
                p.add_(0.05 * torch.randn_like(p))
    return model


def model_input(direction: str, b: int, h: int, w: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1 if direction == "forward" else 3, h, w, generator=g)


# -- sizes and cost -------------------------------------------------------------------------------


def test_base_parameter_counts_match_the_paper():
    counts = parameter_counts(ParamISP(get_config("base"), "forward"))
    assert counts["localnet"] == 535_393
    assert counts["globalnet"] == 147_996
    assert counts["localnet.modulation"] == counts["globalnet.modulation"] == 4_160
    # The notes' 19,264 includes the dead camera-id Linear(16 -> 64) we leave out (DECIDE(13)); the gain-rule term
    # (64, bias-free) is this suite's (docs/decisions.md 26).
    assert counts["paramnet"] == 19_264 - (16 * 64 + 64) + 64
    assert counts["total"] == 535_393 + 147_996 + 2 * 4_160 + 18_176 + 64


def test_small_parameter_counts_as_stated():
    counts = parameter_counts(ParamISP(get_config("small"), "inverse"))
    assert counts == {
        "localnet": 97_234,
        "globalnet": 53_596,
        "localnet.modulation": 1_056,
        "globalnet.modulation": 1_056,
        "paramnet": 6_016 + 32,
        "total": 158_958 + 32,
    }


def test_block_parameter_count():
    block = ParamISP(get_config("base"), "forward").localnet.enc_full.blocks[0]
    assert sum(p.numel() for p in block.parameters()) == 41_251


@pytest.mark.parametrize(("name", "direction"), list(itertools.product(CONFIGS, DIRECTIONS)))
def test_macs_per_pixel_within_5_percent_of_stated(name, direction):
    model = ParamISP(get_config(name), direction).eval()  # type: ignore[arg-type]
    x = model_input(direction, 1, 128, 128)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x, ShotParams.from_metadata([META]))
    macs = counter.get_total_flops() / 2 / (128 * 128)
    assert macs == pytest.approx(STATED_MACS_PER_PIXEL[name], rel=0.05)


def test_config_json_round_trip_and_names():
    for config in CONFIGS.values():
        assert ParamISPConfig.from_json(config.to_json()) == config
        assert config.feature_channels == 96
    with pytest.raises(BadInputError, match="unknown ParamISP config"):
        get_config("huge")
    with pytest.raises(BadInputError, match="unknown fields"):
        ParamISPConfig.from_json('{"name": "x", "widht": 3}')


# -- ParamNet -------------------------------------------------------------------------------------


def test_equalisation_of_known_values():
    v = 50.0  # mm
    log2 = math.log2(v)
    expected = [
        0.25,
        0.5,
        0.25**0.25,
        4.2 / 50,
        math.sqrt(4.2 / 50),
        (4.2 / 50) ** 0.25,
        (log2 - 1.9) / 5.8,
        math.sin(log2),
        math.cos(log2),
        math.sin(1.0),
        math.cos(1.0),
        math.sin(50 / 30),
        math.cos(50 / 30),
        math.sin(2.5),
        math.cos(2.5),
    ]
    got = equalise(torch.tensor([v], dtype=torch.float64), EQUALISATION["focal_length_mm"])[0]
    assert got.tolist() == pytest.approx(expected, abs=1e-12)
    t = equalise(torch.tensor([1 / 28800, 30.0], dtype=torch.float64), EQUALISATION["exposure_time_s"])
    # The working range's ends: reciprocal term 1 at 1/28800 s, linear term 1 at 30 s, log term 0 and ~1.
    assert t[0, 3].item() == pytest.approx(1.0)
    assert t[1, 0].item() == pytest.approx(1.0)
    assert t[0, 6].item() == pytest.approx((math.log2(1 / 28800) + 15) / 20)


def test_missing_value_is_masked_not_encoded():
    torch.manual_seed(0)
    net = ParamNet(get_config("base")).eval()
    shots = ShotParams.from_metadata([META.replace(iso=None)])
    assert shots.optics_known.tolist() == [[True, True, True, False]]
    h = net(shots.wb_gains, shots.ccm, shots.optics, shots.optics_known, shots.gain_held)
    # By hand: colour term + the three known optical terms, then the fusion MLP; no ISO term at all.
    s = net.colour(colour_vector(shots.wb_gains, shots.ccm))
    for i, name in enumerate(("focal_length_mm", "f_number", "exposure_time_s")):
        s = s + net.optics[name](equalise(shots.optics[:, i], EQUALISATION[name]))
    for layer in net.fuse:
        s = layer(torch.nn.functional.elu(s))
    assert torch.allclose(h, s, atol=1e-6)
    # Whatever sits in the unknown slot (0 was the upstream code's "missing") changes nothing.
    for placeholder in (0.0, 1e-12, 1e9):
        optics = shots.optics.clone()
        optics[0, 3] = placeholder
        assert torch.equal(net(shots.wb_gains, shots.ccm, optics, shots.optics_known, shots.gain_held), h)
    # A stripped file (DECIDE(4)): every optical term masked, the embedding stays finite and ordinary.
    bare = ShotParams.from_metadata([META.replace(iso=None, f_number=None, exposure_time_s=None, focal_length_mm=None)])
    h_bare = net(bare.wb_gains, bare.ccm, bare.optics, bare.optics_known, bare.gain_held)
    assert torch.isfinite(h_bare).all() and h_bare.abs().max() < 10 * h.abs().max()


def test_a_dropped_term_is_the_same_input_as_a_missing_tag():
    # Optics dropout (DECIDE(1)) marks a known value unknown in the training data: for every subset of the four
    # terms, the network's output equals the one for a shot whose EXIF lacks the others.
    torch.manual_seed(0)
    net = ParamNet(get_config("small")).train()
    full = ShotParams.from_metadata([META])
    outputs = set()
    for keep in itertools.product([False, True], repeat=4):
        stripped = META.replace(**{name: None for name, k in zip(OPTICAL_PARAMETERS, keep, strict=True) if not k})
        shot = ShotParams.from_metadata([stripped])
        dropped = net(full.wb_gains, full.ccm, full.optics, torch.tensor([keep]), full.gain_held)
        assert torch.equal(net(shot.wb_gains, shot.ccm, shot.optics, shot.optics_known, shot.gain_held), dropped)
        outputs.add(tuple(dropped.flatten().tolist()))
    assert len(outputs) == 16  # and every term matters


def test_the_gain_rule_term_starts_neutral_and_follows_the_recorded_iso():
    torch.manual_seed(0)
    net = ParamNet(get_config("small")).eval()
    ruled = META.replace(iso=1600.0, highlight_priority_iso=800.0)
    shots = [META, ruled, ruled.replace(iso=400.0), ruled.replace(iso=None)]
    assert ShotParams.from_metadata(shots).gain_held.tolist() == [0.0, 1.0, 0.0, 0.0]  # no rule, held, below, no ISO

    def embed(meta: CameraMetadata, known: list[bool] | None = None) -> torch.Tensor:
        p = ShotParams.from_metadata([meta])
        return net(p.wb_gains, p.ccm, p.optics, p.optics_known if known is None else torch.tensor([known]), p.gain_held)

    plain = META.replace(iso=1600.0)
    # A new network (and every checkpoint from before the term) embeds a held shot as one without the rule.
    assert torch.equal(embed(ruled), embed(plain))
    with torch.no_grad():
        net.gain_rule.weight.fill_(0.5)
    assert not torch.allclose(embed(ruled), embed(plain))
    # Only a held shot moves; the flag is masked with its ISO (optics dropout drops both).
    assert torch.equal(embed(ruled.replace(iso=400.0)), embed(META.replace(iso=400.0)))
    no_iso = [True, True, True, False]
    assert torch.equal(embed(ruled, no_iso), embed(plain, no_iso))


def test_colour_matrix_rows_must_sum_to_one():
    with pytest.raises(BadInputError, match="rows must sum to 1"):
        ShotParams.from_metadata([META.replace(ccm_wb_cam_to_srgb=tuple(tuple(3 * v for v in r) for r in CCM))])
    assert torch.allclose(ShotParams.from_metadata([META]).ccm.sum(-1), torch.ones(1, 3))


def test_raw_levels_per_colour_from_metadata():
    meta = META.replace(cfa_pattern="GRBG", black_level_per_site=(510, 500, 520, 514))
    assert ShotParams.from_metadata([meta]).raw_levels_dn.tolist() == [[16383 - 500, 16383 - 512, 16383 - 520]]


# -- compositions ---------------------------------------------------------------------------------


def test_shapes_and_metadata_flow_through_both_directions():
    inverse, forward = make_model("small", "inverse"), make_model("small", "forward", seed=1)
    shots = ShotParams.from_metadata([META, META.replace(cfa_pattern="BGGR")])
    srgb = model_input("inverse", 1, 96, 96).expand(2, -1, -1, -1)
    with torch.no_grad():
        raw = inverse(srgb, shots)
        rgb = forward(raw, shots)
    assert raw.shape == (2, 1, 96, 96) and rgb.shape == (2, 3, 96, 96)
    assert torch.isfinite(rgb).all()
    # The same scene under the same WB/CCM: each mosaic samples the same RAW estimate through its own CFA, so
    # RGGB and BGGR agree on their shared green sites and differ on the red/blue ones.
    assert torch.allclose(raw[0, 0, 0::2, 1::2], raw[1, 0, 0::2, 1::2], atol=1e-6)
    assert torch.allclose(raw[0, 0, 1::2, 0::2], raw[1, 0, 1::2, 0::2], atol=1e-6)
    assert not torch.allclose(raw[0, 0, 0::2, 0::2], raw[1, 0, 0::2, 0::2], atol=1e-3)
    # ISO reaches the networks: changing it for one sample changes that sample only.
    shots_iso = ShotParams.from_metadata([META, META.replace(cfa_pattern="BGGR", iso=3200.0)])
    with torch.no_grad():
        raw_iso = inverse(srgb, shots_iso)
    assert torch.allclose(raw_iso[0], raw[0], atol=1e-6) and not torch.allclose(raw_iso[1], raw[1], atol=1e-4)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_untrained_learned_part_starts_near_identity(direction):
    torch.manual_seed(0)
    model = ParamISP(get_config("small"), direction).eval()  # type: ignore[arg-type]
    x = model_input("inverse", 1, 96, 96)
    with torch.no_grad():
        y, _ = model.learned(x, model.embed(ShotParams.from_metadata([META])))
    assert (y - x).abs().max() < 0.05  # the perturbed models of these tests move it by ~0.3


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_recorded_context_equals_plain_pooling_when_the_input_fits(direction):
    model = make_model("small", direction)
    x = model_input("inverse", 2, 96, 128)
    with torch.no_grad():
        h = model.embed(ShotParams.from_metadata([META, META.replace(iso=100.0)]))
        plain, context = model.learned(x, h)
        replayed, _ = model.learned(x, h, model.context(x, h))
    assert len(context.blocks) == model.localnet.num_blocks
    assert torch.allclose(plain, replayed, atol=1e-6)


def test_larger_input_pools_over_the_downscaled_context():
    model = make_model("small", "inverse", context_size=96)
    x = model_input("inverse", 1, 192, 160)
    assert context_shape(192, 160, 96) == (96, 88)
    shots = ShotParams.from_metadata([META])
    with torch.no_grad():
        h = model.embed(shots)
        x3 = model.learned(x, h, model.learned(resize_for_context(x, 96), h)[1])[0]
        expected = model.from_network(x3, shots)
        plain = model.from_network(model.learned(x, h)[0], shots)
        got = model(x, shots)
    assert torch.allclose(got, expected, atol=1e-6)
    assert not torch.allclose(got, plain, atol=1e-4)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_reach_bounds_where_one_pixel_has_influence(direction):
    model = make_model("small", direction)
    x = model_input("inverse", 1, 256, 256)
    with torch.no_grad():
        h = model.embed(ShotParams.from_metadata([META]))
        context = model.context(x, h)
        base = model.learned(x, h, context)[0]
        for cy, cx in ((128, 128), (130, 131)):
            x2 = x.clone()
            x2[..., cy, cx] += 0.5
            changed = ((model.learned(x2, h, context)[0] - base).abs().amax(dim=1)[0] > 0).nonzero()
            distance = (changed - torch.tensor([cy, cx])).abs().max().item()
            assert 0.8 * model.reach < distance <= model.reach


@pytest.mark.parametrize(("height", "width"), [(20, 17), (3, 9), (1, 1)])
def test_replicate_conv_equals_a_replicate_padded_conv_and_folds_an_output_scale(height, width):
    torch.manual_seed(0)
    reference = torch.nn.Conv2d(4, 6, 5, padding=2, padding_mode="replicate")
    layer = ReplicateConv2d(4, 6, 5, padding=2)
    layer.load_state_dict(reference.state_dict())
    x = torch.randn(2, 4, height, width)
    scale = torch.rand(6) + 0.5
    with torch.no_grad():
        assert torch.allclose(layer(x), reference(x), atol=1e-5)
        assert torch.allclose(layer(x, out_scale=scale), reference(x) * scale[:, None, None], atol=1e-5)


def test_residual_block_with_recorded_statistics_folds_the_gate_alike():
    torch.manual_seed(0)
    block = ResidualBlock(8).eval()
    x = torch.randn(1, 8, 24, 20)
    with torch.no_grad():
        computed, pooled = block(x)  # the gate from the block's own statistics
        folded, _ = block(x, pooled)  # one image with recorded statistics: the gate folded into conv2
        batched, _ = block(x.repeat(2, 1, 1, 1), tuple(p.repeat(2, 1) for p in pooled))  # two: applied after
    assert torch.allclose(folded, computed, atol=1e-5) and torch.allclose(batched[1:], computed, atol=1e-5)
    assert torch.allclose(pooled[0], pool_channels(block.conv2(torch.nn.functional.elu(block.conv1(x))))[0])


def test_networks_are_differentiable():
    model = make_model("small", "forward").train()
    raw = model_input("forward", 2, 96, 96).requires_grad_(True)
    model(raw, ShotParams.from_metadata([META, META])).abs().mean().backward()
    assert raw.grad is not None and torch.isfinite(raw.grad).all()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


# -- noise and quantisation -----------------------------------------------------------------------


def test_raw_dequantisation_noise_is_04_dn_per_colour():
    levels = torch.tensor([[1000.0, 4000.0, 16000.0]])
    cfa = torch.tensor([[[1, 2], [0, 1]]])  # GBRG
    unit = add_raw_dequantisation_noise(torch.zeros(1, 1, 4, 4), cfa, levels, torch.ones(1, 1, 4, 4))[0, 0]
    assert unit[:2, :2].flatten().tolist() == pytest.approx([0.4 / 4000, 0.4 / 16000, 0.4 / 1000, 0.4 / 4000])
    torch.manual_seed(0)
    cfa = torch.tensor([[[0, 1], [1, 2]]])
    noise = add_raw_dequantisation_noise(torch.zeros(1, 1, 256, 256), cfa, levels)[0, 0]
    stds = [noise[0::2, 0::2].std(), noise[0::2, 1::2].std(), noise[1::2, 1::2].std()]
    for std, level in zip(stds, levels[0], strict=True):
        assert std.item() == pytest.approx(0.4 / level.item(), rel=0.05)
    srgb = add_srgb_dequantisation_noise(torch.zeros(1, 3, 128, 128))
    assert srgb.std().item() == pytest.approx(0.4 / 255, rel=0.05)


@pytest.mark.parametrize("direction", DIRECTIONS)
def test_model_draws_no_random_numbers_in_training_mode(direction):
    # Noise and optics dropout belong to the training data (per-sample generators); a second source inside the
    # model would apply them twice.
    model = make_model("small", direction).train()
    x = model_input(direction, 1, 96, 96)
    shots = ShotParams.from_metadata([META])
    with torch.no_grad():
        assert torch.equal(model(x, shots), model(x, shots))


def test_quantise_raw_keeps_black_and_white():
    x = torch.tensor([-0.1, 0.0, 0.3, 0.5, 1.0, 1.2])
    q = quantise_raw(x)
    assert q[1].item() == 0.0 and q[4].item() == 1.0 and q[5].item() == 1.0
    assert torch.equal(quantise_raw(q), q)
    assert (q[1:5] - x[1:5]).abs().max() <= 0.5 / (2**14 - 1) + 1e-7


@pytest.mark.parametrize("embedding", ["colour", "none"])
def test_ablated_embeddings_ignore_what_they_leave_out(embedding):
    model = make_model("small", "forward", embedding=embedding)
    meta = META
    stripped = meta.replace(exposure_time_s=None, iso=None, f_number=None, focal_length_mm=None)
    h_full = model.embed(ShotParams.from_metadata([meta]))
    torch.testing.assert_close(h_full, model.embed(ShotParams.from_metadata([stripped])))
    other_wb = meta.replace(wb_gains=(1.2, 1.0, 2.5))
    same = torch.allclose(h_full, model.embed(ShotParams.from_metadata([other_wb])))
    assert same == (embedding == "none")

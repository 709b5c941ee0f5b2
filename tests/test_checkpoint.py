"""Checkpoints: round trip, fp16 storage, and refusal of the wrong file."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file
from test_models import META, make_model, model_input

from core_isp.checkpoint import FORMAT_VERSION, code_version, load_checkpoint, read_checkpoint_info, save_checkpoint
from core_isp.errors import BadInputError
from core_isp.models import ShotParams, get_config
from core_isp.models.paramisp import is_conditioning


@pytest.fixture
def inverse_model():
    return make_model("small", "inverse")


def outputs(model, direction="inverse"):
    with torch.no_grad():
        return model(model_input(direction, 1, 96, 96), ShotParams.from_metadata([META]))


def test_save_load_gives_identical_outputs_and_identity(tmp_path, inverse_model):
    path = tmp_path / "inverse.safetensors"
    save_checkpoint(
        inverse_model, path, camera_profile="NIKON D7000", training_stage="finetune", data_manifest_hash="ab12"
    )
    model, info = load_checkpoint(path, direction="inverse", config="small")
    assert torch.equal(outputs(model), outputs(inverse_model))
    assert not model.training
    assert info.format_version == FORMAT_VERSION and info.config == get_config("small")
    assert (info.camera_profile, info.training_stage, info.data_manifest_hash) == ("NIKON D7000", "finetune", "ab12")
    assert info.code_version == code_version() and info.code_version.startswith("0.1.0")
    assert read_checkpoint_info(path) == info


def test_fp16_storage_is_upcast_with_a_small_difference(tmp_path, inverse_model):
    full, half = tmp_path / "fp32.safetensors", tmp_path / "fp16.safetensors"
    save_checkpoint(inverse_model, full, camera_profile="x", training_stage="init")
    save_checkpoint(inverse_model, half, camera_profile="x", training_stage="init", weights_dtype="float16")
    assert half.stat().st_size < 0.6 * full.stat().st_size
    model, info = load_checkpoint(half, direction="inverse")
    assert info.weights_dtype == "float16"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    diff = (outputs(model) - outputs(inverse_model)).abs()
    assert 0 < diff.max() < 5e-3 and diff.mean() < 5e-4


def test_refuses_wrong_direction_config_or_version(tmp_path, inverse_model):
    path = tmp_path / "inverse.safetensors"
    save_checkpoint(inverse_model, path, camera_profile="x", training_stage="pretrain")
    refusals = {
        "for the inverse ISP, expected forward": dict(direction="forward"),
        "differs from the expected 'base'": dict(direction="inverse", config="base"),
        "differs from the expected 'small'": dict(direction="inverse", config=get_config("small").replace(channels=16)),
    }
    for reason, kwargs in refusals.items():
        with pytest.raises(BadInputError, match=reason) as e:
            load_checkpoint(path, **kwargs)
        assert "\n" not in str(e.value)

    tensors, meta = load_file(str(path)), read_checkpoint_info(path).to_metadata()
    save_file(tensors, str(tmp_path / "v2.safetensors"), metadata={**meta, "format_version": "2"})
    with pytest.raises(BadInputError, match="format version '2', this code reads '1'"):
        load_checkpoint(tmp_path / "v2.safetensors", direction="inverse")
    # Metadata that claims another config than the weights hold.
    save_file(tensors, str(tmp_path / "lying.safetensors"), metadata={**meta, "config": get_config("base").to_json()})
    with pytest.raises(BadInputError, match="weights do not match config 'base'"):
        load_checkpoint(tmp_path / "lying.safetensors", direction="inverse")
    (tmp_path / "junk.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(BadInputError, match="not a readable safetensors file"):
        load_checkpoint(tmp_path / "junk.safetensors", direction="inverse")


def test_a_file_from_before_the_gain_rule_term_loads_with_the_term_at_zero(tmp_path, inverse_model):
    path, old = tmp_path / "now.safetensors", tmp_path / "before.safetensors"
    with torch.no_grad():
        inverse_model.paramnet.gain_rule.weight.normal_()
    save_checkpoint(inverse_model, path, camera_profile="x", training_stage="pretrain")
    tensors = load_file(str(path))
    assert tensors.pop("paramnet.gain_rule.weight").abs().sum() > 0
    save_file(tensors, str(old), metadata=read_checkpoint_info(path).to_metadata())
    model, _ = load_checkpoint(old, direction="inverse", config="small")
    assert not model.paramnet.gain_rule.weight.any()
    with torch.no_grad():
        inverse_model.paramnet.gain_rule.weight.zero_()
    held = ShotParams.from_metadata([META.replace(iso=1600.0, highlight_priority_iso=800.0)])
    assert held.gain_held.tolist() == [1.0]
    with torch.no_grad():
        x = model_input("inverse", 1, 96, 96)
        assert torch.equal(model(x, held), inverse_model(x, held))
    # Any other missing weight is still a mismatch.
    tensors.pop("paramnet.colour.weight")
    save_file(tensors, str(old), metadata=read_checkpoint_info(path).to_metadata())
    with pytest.raises(BadInputError, match=r"first mismatch: paramnet\.colour\.weight"):
        load_checkpoint(old, direction="inverse")


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_with_nan_or_inf_are_refused_when_loaded(tmp_path, inverse_model, bad):
    path = tmp_path / "damaged.safetensors"
    with torch.no_grad():
        next(iter(inverse_model.parameters())).view(-1)[3] = bad
    save_checkpoint(inverse_model, path, camera_profile="x", training_stage="init")
    with pytest.raises(BadInputError, match="NaN or Inf"):
        load_checkpoint(path, direction="inverse", config="small")


def test_a_conditioning_file_holds_only_the_conditioning_and_loads_over_its_own_base_only(tmp_path, inverse_model):
    base, other, overlay = (tmp_path / f"{n}.safetensors" for n in ("base", "other", "conditioning"))
    save_checkpoint(inverse_model, base, camera_profile="x", training_stage="pretrain")
    tuned = make_model("small", "inverse")
    tuned.load_state_dict(inverse_model.state_dict())
    with torch.no_grad():
        for name, p in tuned.named_parameters():
            if is_conditioning(name):
                p.add_(0.05 * torch.randn_like(p))
    save_checkpoint(tuned, overlay, camera_profile="x", training_stage="finetune", conditioning_of=base)
    stored = load_file(str(overlay))
    assert stored and all(is_conditioning(k) for k in stored)
    assert sum(v.numel() for v in stored.values()) < 0.2 * sum(p.numel() for p in tuned.parameters())
    model, info = load_checkpoint(base, direction="inverse", conditioning=overlay)
    assert info.training_stage == "finetune"
    assert torch.equal(outputs(model), outputs(tuned)) and not torch.equal(outputs(model), outputs(inverse_model))
    # Over another checkpoint, alone, or a whole checkpoint given as one: one-line refusals.
    with torch.no_grad():
        next(iter(inverse_model.parameters())).view(-1)[0] += 1.0
    save_checkpoint(inverse_model, other, camera_profile="x", training_stage="pretrain")
    with pytest.raises(BadInputError, match="made over another checkpoint than"):
        load_checkpoint(other, direction="inverse", conditioning=overlay)
    with pytest.raises(BadInputError, match="a conditioning file: load it with the checkpoint it was made over"):
        load_checkpoint(overlay, direction="inverse")
    with pytest.raises(BadInputError, match="not a conditioning file"):
        load_checkpoint(base, direction="inverse", conditioning=other)
    with pytest.raises(BadInputError, match="checkpoint is for the inverse ISP, expected forward"):
        load_checkpoint(base, direction="forward", conditioning=overlay)

"""Loading: safetensors only, clear errors, FIM detection and its opt-out."""

from __future__ import annotations

import json

import pytest

from models.loader import (
    ModelLoadError,
    fim_policy,
    load_model,
    resolve_device,
    resolve_model_dir,
)


def save_tiny(lm, directory):
    lm.model.save_pretrained(str(directory), safe_serialization=True)
    lm.tokenizer.save_pretrained(str(directory))


def test_missing_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ModelLoadError, match="not a directory"):
        resolve_model_dir(tmp_path / "nope")


def test_pickled_weights_are_refused(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"not loaded")
    with pytest.raises(ModelLoadError, match="safetensors"):
        resolve_model_dir(tmp_path)


def test_unknown_device_is_a_clear_error():
    with pytest.raises(ModelLoadError):
        resolve_device("tpu")


def test_local_model_round_trip_and_fim_opt_out(tiny_lm, tmp_path):
    save_tiny(tiny_lm, tmp_path)
    lm = load_model(tmp_path, "cpu")
    assert lm.fim is not None and lm.name == tmp_path.name
    assert lm.eos_ids == tiny_lm.eos_ids
    (tmp_path / "superpose.json").write_text(json.dumps({"fim": False}))
    assert load_model(tmp_path, "cpu").fim is None
    (tmp_path / "superpose.json").write_text(json.dumps({"fim": "mid-line"}))
    mid = load_model(tmp_path, "cpu")
    assert mid.fim is not None and mid.fim_policy == "mid-line"


@pytest.mark.parametrize(
    ("options", "policy"),
    [
        ({}, "always"),
        ({"fim": True}, "always"),
        ({"fim": "always"}, "always"),
        ({"fim": False}, "never"),
        ({"fim": "never"}, "never"),
        ({"fim": "mid-line"}, "mid-line"),
        ({"fim": "sometimes"}, "always"),  # unknown values degrade to the default
        ({"fim": 3}, "always"),
    ],
)
def test_fim_policy_options(options, policy):
    assert fim_policy(options) == policy


def test_default_model_ships_and_loads():
    lm = load_model("default", "cpu")
    assert lm.name == "default" and lm.parameter_count() > 1_000_000
    assert lm.table.decode(lm.encode("def f(x):\n    return x\n")) == "def f(x):\n    return x\n"

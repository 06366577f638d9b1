"""Loading: safetensors only, clear errors, FIM detection and its opt-out."""

from __future__ import annotations

import json

import pytest

from models.loader import (
    DEFAULT_NGRAM_WEIGHT,
    ModelLoadError,
    NgramWeights,
    fim_policy,
    load_model,
    ngram_weights,
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


@pytest.mark.parametrize(
    ("options", "automatic", "manual"),
    [
        ({}, DEFAULT_NGRAM_WEIGHT, DEFAULT_NGRAM_WEIGHT),
        ({"ngram_weight": 0.6}, 0.6, 0.6),  # one number: every request
        ({"ngram_weight": 0}, 0.0, 0.0),
        ({"ngram_weight": {"automatic": 0.6, "manual": 0.1}}, 0.6, 0.1),
        ({"ngram_weight": {"automatic": 0.3}}, 0.3, DEFAULT_NGRAM_WEIGHT),  # a kind left out
        # unusable values degrade to the default, for both kinds
        ({"ngram_weight": 1.5}, DEFAULT_NGRAM_WEIGHT, DEFAULT_NGRAM_WEIGHT),
        ({"ngram_weight": -0.1}, DEFAULT_NGRAM_WEIGHT, DEFAULT_NGRAM_WEIGHT),
        ({"ngram_weight": float("nan")}, DEFAULT_NGRAM_WEIGHT, DEFAULT_NGRAM_WEIGHT),
        ({"ngram_weight": "0.5"}, DEFAULT_NGRAM_WEIGHT, DEFAULT_NGRAM_WEIGHT),
        ({"ngram_weight": True}, DEFAULT_NGRAM_WEIGHT, DEFAULT_NGRAM_WEIGHT),
        ({"ngram_weight": {"automatic": 2}}, DEFAULT_NGRAM_WEIGHT, DEFAULT_NGRAM_WEIGHT),
        ({"ngram_weight": {"popup": 0.2}}, DEFAULT_NGRAM_WEIGHT, DEFAULT_NGRAM_WEIGHT),
    ],
)
def test_ngram_weight_options(options, automatic, manual):
    weights = ngram_weights(options)
    assert (weights.for_request(True), weights.for_request(False)) == (automatic, manual)
    assert ngram_weights({"ngram_weight": weights.to_dict()}) == weights  # round trip


def test_ngram_weights_are_checked_when_built():
    with pytest.raises(ValueError, match="automatic n-gram weight"):
        NgramWeights(automatic=1.2)
    with pytest.raises(TypeError, match="manual n-gram weight"):
        NgramWeights(manual="0.1")


def test_a_model_directory_names_its_ngram_weights(tiny_lm, tmp_path):
    save_tiny(tiny_lm, tmp_path)
    assert load_model(tmp_path, "cpu").ngram_weights == NgramWeights()
    options = {"ngram_weight": {"automatic": 0.45, "manual": 0.2}}
    (tmp_path / "superpose.json").write_text(json.dumps(options))
    assert load_model(tmp_path, "cpu").ngram_weights == NgramWeights(0.45, 0.2)


def test_default_model_ships_and_loads():
    lm = load_model("default", "cpu")
    assert lm.name == "default" and lm.parameter_count() > 1_000_000
    assert lm.table.decode(lm.encode("def f(x):\n    return x\n")) == "def f(x):\n    return x\n"

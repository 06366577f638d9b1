"""Ghost-text confidence: prefix features, the cut rule, the logistic fit, storage."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from models.confidence import (
    FEATURES,
    REACH_CHARS,
    ConfidenceModel,
    CursorEvidence,
    best_prefix,
    fit_logistic,
    load_confidence,
    prefix_features,
)


def test_prefix_features_accumulate_along_the_draft():
    x = prefix_features([-0.1, -2.0, -0.5], [-1.0, -3.0, -2.0], CursorEvidence(mid_word=True))
    assert x.shape == (3, len(FEATURES))
    assert x[:, 0].tolist() == pytest.approx([-0.1, -2.1, -2.6])  # summed
    assert x[:, 1].tolist() == pytest.approx([-0.1, -2.0, -2.0])  # minimum so far
    assert x[:, 2].tolist() == pytest.approx([-0.1, -2.0, -0.5])  # last token
    assert x[:, 3].tolist() == pytest.approx([-1.0, -2.0, -2.0])  # mean n-gram
    assert x[:, 4].tolist() == pytest.approx([0.0, math.log(2), math.log(3)])
    assert x[:, 6].tolist() == [1.0, 1.0, 1.0] and x[:, 5].tolist() == [0.0] * 3
    masked = prefix_features([float("-inf")], None, CursorEvidence())
    assert np.isfinite(masked).all()  # a vetoed token counts as very unlikely, not NaN
    assert prefix_features([], None, CursorEvidence()).shape == (0, len(FEATURES))


def summed_only(bias: float, threshold: float = 0.5) -> ConfidenceModel:
    return ConfidenceModel((1.0,) + (0.0,) * (len(FEATURES) - 1), bias, threshold)


def test_drafts_are_cut_before_the_first_token_below_the_threshold():
    model = summed_only(bias=2.0)  # p = sigmoid(2 + summed log-probability)
    lps = [-0.5, -0.5, -2.0, -0.1]
    confidences = model.prefix_confidences(lps, None, CursorEvidence())
    assert confidences == sorted(confidences, reverse=True)
    assert model.keep(lps, None, CursorEvidence()) == 2  # 2 - 1 = 1 > 0; 2 - 3 < 0
    assert model.keep(lps, None, CursorEvidence(), threshold=0.0) == 4
    assert model.keep(lps, None, CursorEvidence(), threshold=0.99) == 0


def test_the_prefix_shown_is_the_one_with_the_most_expected_keystrokes_saved():
    # a sure two-character prefix saves 1 key; a longer, less sure one saves more
    confidences, chars = [0.9, 0.7, 0.3], [2, 12, 30]
    # gains at cost 2: 0.9 - 0.2 = 0.7; 7.7 - 0.6 = 7.1; 8.7 - 1.4 = 7.3
    assert best_prefix(confidences, chars, wrong_cost=2.0) == 3
    # a wrong ghost costing more makes the surer middle prefix best: 7.7 - 3 > 8.7 - 7
    assert best_prefix(confidences, chars, wrong_cost=10.0) == 2
    # a short prefix that saves one key is not worth a 50 % chance of being wrong ...
    assert best_prefix([0.5], [2], wrong_cost=2.0) == 0
    # ... where the threshold rule would show it
    assert summed_only(bias=0.0).keep([0.0], None, CursorEvidence()) == 1
    # one visible character saves nothing, however sure; nothing visible neither
    assert best_prefix([0.99, 0.99], [1, 0], wrong_cost=0.0) == 0
    assert best_prefix([], [], wrong_cost=1.0) == 0


def test_the_rule_a_request_uses_and_how_far_decoding_goes():
    calibrated = ConfidenceModel((0.0,) * len(FEATURES), 0.0, 0.6, wrong_cost=4.0)
    assert calibrated.rule() == ("cost", 4.0)
    assert calibrated.rule(wrong_cost=8.0) == ("cost", 8.0)
    assert calibrated.rule(threshold=0.3, wrong_cost=8.0) == ("threshold", 0.3)  # explicit wins
    assert summed_only(bias=0.0, threshold=0.4).rule() == ("threshold", 0.4)  # older files
    # decoding stops where not even REACH_CHARS characters would gain
    floor = calibrated.floor()
    assert best_prefix([floor * 1.01], [REACH_CHARS], 4.0) == 1
    assert best_prefix([floor * 0.99], [REACH_CHARS], 4.0) == 0
    assert calibrated.floor(threshold=0.3) == 0.3
    # keep() applies the cost rule when it knows the prefixes' lengths, else the threshold
    sure = ConfidenceModel((1.0,) + (0.0,) * (len(FEATURES) - 1), 3.0, 0.5, wrong_cost=1.0)
    lps = [-0.1, -0.1, -4.0]  # p = 0.95, 0.94, 0.25
    assert sure.keep(lps, None, CursorEvidence(), chars=[2, 3, 40]) == 3
    assert sure.keep(lps, None, CursorEvidence()) == 2


def test_stored_model_round_trips_and_bad_input_is_refused(tmp_path):
    model = summed_only(bias=0.25, threshold=0.4)
    assert ConfidenceModel.from_dict(model.to_dict()) == model
    costed = ConfidenceModel(model.weights, model.bias, 0.4, wrong_cost=5.0)
    assert ConfidenceModel.from_dict(costed.to_dict()) == costed
    assert "wrong_cost" not in model.to_dict()  # the file stays readable by older servers
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            ConfidenceModel(model.weights, model.bias, 0.4, wrong_cost=bad)
    assert ConfidenceModel.from_dict({"features": ["other"], "weights": [1], "bias": 0}) is None
    assert ConfidenceModel.from_dict(None) is None
    with pytest.raises(ValueError):
        ConfidenceModel((1.0,), 0.0)
    with pytest.raises(ValueError):
        ConfidenceModel((0.0,) * len(FEATURES), 0.0, threshold=1.5)
    (tmp_path / "superpose.json").write_text(json.dumps({"confidence": model.to_dict()}))
    assert load_confidence(tmp_path) == model
    assert load_confidence(tmp_path / "missing") is None


def test_logistic_fit_recovers_the_direction_of_the_evidence():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 3))
    logits = 2.0 * x[:, 0] - 1.0 * x[:, 1] + 0.5
    y = (rng.random(4000) < 1 / (1 + np.exp(-logits))).astype(float)
    weights, bias = fit_logistic(x * 3 + 1, y, l2=1e-4)  # raw features, mapped back
    assert weights[0] * 3 == pytest.approx(2.0, abs=0.25)
    assert weights[1] * 3 == pytest.approx(-1.0, abs=0.2)
    assert abs(weights[2]) < 0.1
    with pytest.raises(ValueError):
        fit_logistic(np.zeros((0, 2)), np.zeros(0))

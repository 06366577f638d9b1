"""Calibrated confidence of ghost text: is this prefix of a draft exactly what comes next?

Ghost text helps only when it is right: a person accepts it when it is exactly what they
were about to type and is interrupted by it otherwise. A draft's own scores are not
probabilities of being right (superposed scores approximate the model's, the model is
over- or under-confident by context), so they are *calibrated*: a logistic model (Platt
scaling, Platt 1999, generalised to several features) maps per-token evidence of the
first ``j`` tokens of a draft to the probability that those ``j`` tokens are a prefix
of what the user types next. It is fitted on held-out code with the real pipeline
(``lsp_server.calibration``) and shipped with the model in ``superpose.json``.

Which prefix to show (:meth:`ConfidenceModel.keep`) is a decision under that
probability. A prefix of ``c`` visible characters saves ``c - 1`` keystrokes when it is
right (one key accepts it) and interrupts the person once when it is wrong. With
``wrong_cost`` -- what one wrong ghost text costs, in keystrokes -- the shown prefix is the
one with the most expected keystrokes saved, ``p * (c - 1) - wrong_cost * (1 - p)``, and
nothing is shown when no prefix gains (the Bayes decision rule, e.g. Elkan 2001, "The
foundations of cost-sensitive learning"). A long prefix may be worth showing at a
probability where a two-character one is not. Without ``wrong_cost`` (older calibrations,
or an explicit ``ghostConfidence``) a draft is cut before the first token whose prefix
confidence falls below the threshold. ``wrong_cost`` is calibrated like the threshold: by
simulated typing, the value saving most keystrokes within a wrong-ghost-text budget.

Features of the prefix of ``j`` tokens (:func:`prefix_features`): the summed, minimum
and last model log-probability, the mean n-gram log-probability, ``log j``, and three
facts about the cursor (in a string or comment, inside an identifier, right after a
``.``), which the caller reads from static analysis and passes as plain booleans.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FEATURES = (
    "sum_lm",
    "min_lm",
    "last_lm",
    "mean_ngram",
    "log_tokens",
    "prose",
    "mid_word",
    "after_dot",
)
FLOOR = -30.0  # log-probabilities below this (masked, -inf) count as this
# decoding a draft further is useless once its prefix confidence is so low that even a
# prefix of this many characters would not be worth showing (see ConfidenceModel.floor).
# Measured by simulated typing of the calibration half at wrong cost 4: 8 saved 0.9 points
# fewer keystrokes; 24 saved no more than 16 and decoded 10 % longer.
REACH_CHARS = 16


@dataclass(frozen=True)
class CursorEvidence:
    """Facts about the cursor the confidence depends on (plain data from the analysis)."""

    prose: bool = False  # inside a string or comment
    mid_word: bool = False  # inside an identifier
    after_dot: bool = False  # right after a member-access "."


def prefix_features(
    lm: Sequence[float], ngram: Sequence[float] | None, cursor: CursorEvidence
) -> np.ndarray:
    """Return the (n, F) features of every prefix (1..n tokens) of one draft."""
    n = len(lm)
    out = np.zeros((n, len(FEATURES)), dtype=np.float64)
    if n == 0:
        return out
    lps = np.maximum(np.nan_to_num(np.asarray(lm, dtype=np.float64), neginf=FLOOR), FLOOR)
    ngs = lps if ngram is None else np.asarray(ngram, dtype=np.float64)
    ngs = np.maximum(np.nan_to_num(ngs, neginf=FLOOR), FLOOR)
    steps = np.arange(1, n + 1, dtype=np.float64)
    out[:, 0] = np.cumsum(lps)
    out[:, 1] = np.minimum.accumulate(lps)
    out[:, 2] = lps
    out[:, 3] = np.cumsum(ngs) / steps
    out[:, 4] = np.log(steps)
    out[:, 5] = float(cursor.prose)
    out[:, 6] = float(cursor.mid_word)
    out[:, 7] = float(cursor.after_dot)
    return out


@dataclass(frozen=True)
class ConfidenceModel:
    """Logistic calibration ``p = sigmoid(w . features + b)`` and the showing threshold."""

    weights: tuple[float, ...]
    bias: float
    threshold: float = 0.5
    wrong_cost: float | None = None  # keystrokes one wrong ghost text costs (None: threshold)

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ValueError(f"expected {len(FEATURES)} weights, got {len(self.weights)}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
        if self.wrong_cost is not None and not (
            math.isfinite(self.wrong_cost) and self.wrong_cost >= 0.0
        ):
            raise ValueError("wrong_cost must be a finite number >= 0")
        if not all(math.isfinite(w) for w in (*self.weights, self.bias)):
            raise ValueError("weights must be finite")

    def prefix_confidences(
        self, lm: Sequence[float], ngram: Sequence[float] | None, cursor: CursorEvidence
    ) -> list[float]:
        """Return, for j = 1..n, the probability that the first j tokens are right."""
        x = prefix_features(lm, ngram, cursor)
        if len(x) == 0:
            return []
        z = x @ np.asarray(self.weights) + self.bias
        return (1.0 / (1.0 + np.exp(-np.clip(z, -40, 40)))).tolist()

    def rule(
        self, threshold: float | None = None, wrong_cost: float | None = None
    ) -> tuple[str, float]:
        """Return the showing rule a request uses: ``("cost", wrong cost)`` or
        ``("threshold", threshold)``. An explicit threshold wins, then an explicit wrong
        cost, then the calibrated wrong cost, then the calibrated threshold."""
        if threshold is not None:
            return "threshold", threshold
        if wrong_cost is not None:
            return "cost", wrong_cost
        if self.wrong_cost is not None:
            return "cost", self.wrong_cost
        return "threshold", self.threshold

    def keep(
        self,
        lm: Sequence[float],
        ngram: Sequence[float] | None,
        cursor: CursorEvidence,
        threshold: float | None = None,
        chars: Sequence[int] | None = None,
        wrong_cost: float | None = None,
    ) -> int:
        """Return how many leading tokens to show (0: none).

        Under the cost rule (see the module docstring) ``chars[j - 1]`` is the number of
        characters the first ``j`` tokens show; without ``chars`` the threshold rule
        applies: up to the first token below the threshold.
        """
        kind, value = self.rule(threshold, wrong_cost)
        confidences = self.prefix_confidences(lm, ngram, cursor)
        if kind == "cost" and chars is not None:
            return best_prefix(confidences, chars, value)
        tau = value if kind == "threshold" else self.threshold
        kept = 0
        for p in confidences:
            if p < tau:
                break
            kept += 1
        return kept

    def floor(self, threshold: float | None = None, wrong_cost: float | None = None) -> float:
        """Return the prefix confidence below which decoding a draft further is useless:
        the threshold, or under the cost rule the confidence at which even a prefix of
        :data:`REACH_CHARS` characters would not gain."""
        kind, value = self.rule(threshold, wrong_cost)
        if kind == "threshold":
            return value
        return value / (value + REACH_CHARS - 1) if value > 0 else 0.0

    def to_dict(self) -> dict:
        out = {
            "features": list(FEATURES),
            "weights": [round(w, 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "threshold": self.threshold,
        }
        if self.wrong_cost is not None:
            out["wrong_cost"] = self.wrong_cost
        return out

    @classmethod
    def from_dict(cls, data: object) -> ConfidenceModel | None:
        """Return the model stored in ``superpose.json`` (None when absent or unusable)."""
        if not isinstance(data, dict) or data.get("features") != list(FEATURES):
            return None
        try:
            cost = data.get("wrong_cost")
            return cls(
                tuple(float(w) for w in data["weights"]),
                float(data["bias"]),
                float(data.get("threshold", 0.5)),
                None if cost is None else float(cost),
            )
        except (KeyError, TypeError, ValueError):
            return None


def best_prefix(confidences: Sequence[float], chars: Sequence[int], wrong_cost: float) -> int:
    """Return the number of leading tokens whose prefix has the most expected keystrokes
    saved, ``p * (c - 1) - wrong_cost * (1 - p)`` for confidence ``p`` and ``c`` visible
    characters; 0 when no prefix gains (ties: the shorter prefix)."""
    best, kept = 0.0, 0
    for j, (p, c) in enumerate(zip(confidences, chars, strict=False), start=1):
        gain = p * (c - 1) - wrong_cost * (1.0 - p)
        if gain > best:
            best, kept = gain, j
    return kept


def fit_logistic(
    x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iterations: int = 50
) -> tuple[np.ndarray, float]:
    """Return (weights, bias) of an L2-regularised logistic regression (Newton/IRLS).

    Features are standardised for the fit and the result mapped back to raw features.
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError("need as many labels as rows, and at least one row")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])  # (n, F+1)
    beta = np.zeros(z.shape[1])
    penalty = np.full(z.shape[1], l2)
    penalty[-1] = 0.0  # the intercept is not regularised
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -40, 40)))
        grad = z.T @ (p - y) + penalty * beta
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.max(np.abs(step)) < 1e-8:
            break
    weights = beta[:-1] / scale
    bias = float(beta[-1] - np.sum(beta[:-1] * mean / scale))
    return weights, bias


def load_confidence(model_dir: object) -> ConfidenceModel | None:
    """Return the calibration shipped in ``model_dir/superpose.json`` (None if there is none)."""
    import json
    from pathlib import Path

    try:
        options = json.loads((Path(str(model_dir)) / "superpose.json").read_text())
    except (OSError, ValueError):
        return None
    return (
        ConfidenceModel.from_dict(options.get("confidence")) if isinstance(options, dict) else None
    )

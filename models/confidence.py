"""Calibrated confidence of ghost text: is this prefix of a draft exactly what comes next?

Ghost text helps only when it is right: a person accepts it when it is exactly what they
were about to type and is interrupted by it otherwise. A draft's own scores are not
probabilities of being right (superposed scores approximate the model's, the model is
over- or under-confident by context), so they are *calibrated*: a logistic model (Platt
scaling, Platt 1999, generalised to several features) maps per-token evidence of the
first ``j`` tokens of a draft to the probability that those ``j`` tokens are a prefix
of what the user types next. It is fitted on held-out code with the real pipeline
(``lsp_server.calibration``) and shipped with the model in ``superpose.json``.

A draft is then cut before the first token whose prefix confidence falls below the
threshold (:meth:`ConfidenceModel.keep`), and a draft with nothing left is not shown.

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

    def __post_init__(self) -> None:
        if len(self.weights) != len(FEATURES):
            raise ValueError(f"expected {len(FEATURES)} weights, got {len(self.weights)}")
        if not 0.0 <= self.threshold <= 1.0:
            raise ValueError("threshold must be in [0, 1]")
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

    def keep(
        self,
        lm: Sequence[float],
        ngram: Sequence[float] | None,
        cursor: CursorEvidence,
        threshold: float | None = None,
    ) -> int:
        """Return how many leading tokens to show: up to the first one below the threshold."""
        tau = self.threshold if threshold is None else threshold
        kept = 0
        for p in self.prefix_confidences(lm, ngram, cursor):
            if p < tau:
                break
            kept += 1
        return kept

    def to_dict(self) -> dict:
        return {
            "features": list(FEATURES),
            "weights": [round(w, 6) for w in self.weights],
            "bias": round(self.bias, 6),
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, data: object) -> ConfidenceModel | None:
        """Return the model stored in ``superpose.json`` (None when absent or unusable)."""
        if not isinstance(data, dict) or data.get("features") != list(FEATURES):
            return None
        try:
            return cls(
                tuple(float(w) for w in data["weights"]),
                float(data["bias"]),
                float(data.get("threshold", 0.5)),
            )
        except (KeyError, TypeError, ValueError):
            return None


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

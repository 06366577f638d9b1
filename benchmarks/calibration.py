"""Calibrate ghost-text confidence on held-out code and store it with the model.

``superpose-ls calibrate`` (or ``python -m benchmarks.calibration``):

1. **Positions.** Segments of held-out functions from the *calibration* half of the
   held-out files (:func:`benchmarks.common.heldout_halves`; the typing benchmark uses the
   other half), each cut at a random point: the document holds the segment up to the
   cursor and the rest of the file after the segment; the truth is the rest of the
   segment.
2. **Evidence.** The real pipeline (:class:`lsp_server.pipeline.CompletionPipeline`,
   automatic options, the document's own n-grams as the engine keeps them) gives the top
   draft with per-token log-probabilities; every prefix of ``j`` tokens is labelled right
   when its text (after the healed prefix, trailing whitespace dropped) starts the truth.
3. **Fit.** A logistic model over :func:`models.confidence.prefix_features`.
4. **Wrong cost.** Ghost text shows the prefix with the most expected keystrokes saved
   net of what a wrong ghost text costs (:func:`models.confidence.best_prefix`). The
   simulated typist of ``benchmarks.typing`` (unpaced, through the real server) types
   calibration segments at a grid of costs; the default is the one saving the most
   keystrokes with at most ``--max-wrong`` wrong ghost texts per 100 keys (within
   :data:`SAVINGS_TIE` of the most: the fewest wrong ghost texts). (``--rule
   threshold`` calibrates the older rule instead: one probability threshold for every
   prefix, whatever its length.)
5. **Store.** ``superpose.json`` of the model gets ``confidence`` (weights, threshold,
   wrong cost) and ``calibration`` (sample sizes, log-loss, the grid's results).

    python -m benchmarks.calibration --model default --positions 1200 --segments 16
"""

from __future__ import annotations

import argparse
import json
import random
import time
from typing import Any

import numpy as np

from benchmarks.common import heldout_files, heldout_halves, run_opened, use_threads
from benchmarks.typing import Pace, RunConfig, run_config, sample_segments
from models.confidence import FEATURES, ConfidenceModel, fit_logistic, prefix_features

THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
WRONG_COSTS = (2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 12.0)
# each rule's grid: the setting the typist's server gets, and the key of the grid's rows
RULES = {"cost": ("ghostWrongCost", "wrong_cost"), "threshold": ("ghostConfidence", "threshold")}
# keystrokes saved closer than this to the best within the budget are a tie (0.5 points:
# about 6 keys of the sweep's 16 segments); a tie goes to the fewest wrong ghost texts
SAVINGS_TIE = 0.005


def calibration_positions(
    texts: list[tuple[str, str]], n: int, seed: int
) -> list[tuple[str, int, str]]:
    """Return ``n`` (document, cursor offset, truth) triples from segments of ``texts``."""
    rng = random.Random(seed)
    segments = sample_segments(texts, max(1, n // 4), seed)
    out: list[tuple[str, int, str]] = []
    while segments and len(out) < n:
        seg = segments[len(out) % len(segments)]
        p = rng.randrange(0, len(seg.target))
        document = seg.document[: seg.offset] + seg.target[:p] + seg.document[seg.offset :]
        out.append((document, seg.offset + p, seg.target[p:]))
    return out


def prefix_labels(lm: Any, draft: Any, removed: str, truth: str) -> list[bool | None]:
    """Return, per prefix of ``draft``'s tokens, whether its text starts ``truth``.

    None for prefixes that only re-spell the healed text (nothing would be shown).
    """
    labels: list[bool | None] = []
    limit = len(draft.text)
    for j in range(1, len(draft.token_ids) + 1):
        raw = lm.table.decode(draft.token_ids[:j])[:limit]
        shown = raw[len(removed) :].rstrip() if raw.startswith(removed) else ""
        labels.append(truth.startswith(shown) if shown else None)
    return labels


def collect(model: str, positions: list[tuple[str, int, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Return features and labels of every labelled prefix of the top automatic draft."""
    from analysis.cursor import cursor_facts
    from analysis.document import Document
    from lsp_server.pipeline import PipelineOptions, cursor_evidence
    from lsp_server.settings import Settings
    from models.loader import load_model
    from models.ngram import background_for

    lm = load_model(model, "cpu")
    background = background_for(lm.path, lm.tokenizer, lm.vocab_size)
    options = PipelineOptions.for_request(Settings(), automatic=True)  # uncut drafts
    rows: list[np.ndarray] = []
    labels: list[float] = []
    for i, (text, offset, truth) in enumerate(positions):
        doc = Document(f"file:///calibration/{i}.py", text, "python")
        result = run_opened(lm, background, doc, offset, options)
        if not result.drafts or result.prompt is None:
            continue
        source = result.drafts[0].source
        evidence = cursor_evidence(cursor_facts(doc, offset))
        x = prefix_features(source.token_logprobs, source.token_ngram_logprobs, evidence)
        for j, label in enumerate(prefix_labels(lm, source, result.prompt.removed_text, truth)):
            if label is not None:
                rows.append(x[j])
                labels.append(float(label))
    return np.array(rows), np.array(labels)


def log_loss(model: ConfidenceModel, x: np.ndarray, y: np.ndarray) -> float:
    z = x @ np.asarray(model.weights) + model.bias
    p = np.clip(1.0 / (1.0 + np.exp(-np.clip(z, -40, 40))), 1e-9, 1 - 1e-9)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def sweep(
    model: str, segments: list[Any], values: tuple[float, ...], rule: str = "cost"
) -> list[dict[str, Any]]:
    """Return the unpaced typing metrics of the calibration segments at each value of the
    rule's setting (wrong costs, or thresholds)."""
    setting, key = RULES[rule]
    out = []
    for value in values:
        config = RunConfig(f"{key} {value}", options={setting: value}, paced=False)
        metrics = run_config(config, segments, model, Pace(paced=False))["metrics"]
        out.append({key: value, **{k: metrics[k] for k in ("savings", "wrong_per_100")}})
    return out


def choose(
    results: list[dict[str, Any]],
    max_wrong: float,
    key: str = "threshold",
    tie: float = SAVINGS_TIE,
) -> float:
    """Return the grid value saving most keys within the wrong-ghost-text budget.

    Values within ``tie`` of the most keystrokes saved are a tie: the one with the fewest
    wrong ghost texts wins, then the larger value (the surer ghost text).
    """
    allowed = [r for r in results if (r["wrong_per_100"] or 0) <= max_wrong]
    pool = allowed or [min(results, key=lambda r: r["wrong_per_100"] or 0)]
    best = max(r["savings"] or 0 for r in pool)
    tied = [r for r in pool if (r["savings"] or 0) >= best - tie]
    return min(tied, key=lambda r: (r["wrong_per_100"] or 0, -r[key]))[key]


def calibrate(
    model: str,
    positions: int,
    segments: int,
    seed: int,
    max_wrong: float,
    values: tuple[float, ...] | None = None,
    write: bool = True,
    rule: str = "cost",
) -> dict[str, Any]:
    """Fit, sweep the ``rule``'s grid (``values``; default :data:`WRONG_COSTS` or
    :data:`THRESHOLDS`) and (with ``write``) store the calibration of ``model``."""
    from models.loader import ngram_weights, resolve_model_dir

    started = time.monotonic()
    model_dir = resolve_model_dir(model)
    calibration_files = heldout_halves(heldout_files(model_dir))[0]
    texts = [(f.relpath, f.read()) for f in calibration_files]
    # 1-3. evidence from the real pipeline, then the logistic fit
    x, y = collect(model, calibration_positions(texts, positions, seed))
    weights, bias = fit_logistic(x, y)
    fitted = ConfidenceModel(tuple(float(w) for w in weights), bias, 0.5)
    options_path = model_dir / "superpose.json"
    original = options_path.read_text() if options_path.exists() else None
    options = json.loads(original) if original else {}
    options["confidence"] = fitted.to_dict()
    options_path.write_text(json.dumps(options, indent=1) + "\n")  # the sweep's server reads it
    # 4. the rule's setting, by simulated typing of calibration segments through the server
    typing_segments = sample_segments(texts, segments, seed + 1)
    if values is None:
        values = WRONG_COSTS if rule == "cost" else THRESHOLDS
    grid = sweep(model, typing_segments, values, rule)
    chosen = choose(grid, max_wrong, RULES[rule][1])
    if rule == "cost":
        final = ConfidenceModel(fitted.weights, fitted.bias, fitted.threshold, chosen)
    else:
        final = ConfidenceModel(fitted.weights, fitted.bias, chosen)
    report = {
        "rule": rule,
        "positions": positions,
        "labelled_prefixes": int(len(y)),
        "right_share": round(float(y.mean()), 4) if len(y) else None,
        "log_loss": round(log_loss(final, x, y), 4) if len(y) else None,
        "base_log_loss": round(_base_loss(y), 4) if len(y) else None,
        "segments": len(typing_segments),
        "max_wrong_per_100": max_wrong,
        # the evidence depends on the n-gram share of the drafts' scores: a calibration
        # belongs to this weight as much as to the model's weights
        "ngram_weight": ngram_weights(options).to_dict(),
        "grid": grid,
        "files": [f.relpath for f in calibration_files],
        "seed": seed,
        "seconds": round(time.monotonic() - started, 1),
    }
    # 5. stored with the model
    options["confidence"] = final.to_dict()
    options["calibration"] = report
    if write:
        options_path.write_text(json.dumps(options, indent=1) + "\n")
    elif original is not None:
        options_path.write_text(original)
    else:
        options_path.unlink()
    return {"confidence": final.to_dict(), "calibration": report, "features": list(FEATURES)}


def _base_loss(y: np.ndarray) -> float:
    p = min(max(float(y.mean()), 1e-9), 1 - 1e-9)
    return float(-(p * np.log(p) + (1 - p) * np.log(1 - p)))


def calibrate_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`calibrate` with the options of ``superpose-ls calibrate`` (or this module)."""
    return calibrate(
        args.model,
        args.positions,
        args.segments,
        args.seed,
        args.max_wrong,
        write=not args.dry_run,
        rule=args.rule,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--positions", type=int, default=1200)
    parser.add_argument("--segments", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-wrong", type=float, default=8.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true", help="do not write superpose.json")
    parser.add_argument(
        "--rule",
        choices=sorted(RULES),
        default="cost",
        help="cost: the prefix with the most expected keystrokes saved (default); "
        "threshold: one probability threshold",
    )
    args = parser.parse_args(argv)
    use_threads(args.threads)
    result = calibrate_from_args(args)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

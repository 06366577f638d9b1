"""One command that runs every benchmark and writes a report with plots (issue 9).

``superpose-ls bench [--quick] [--model PATH] [--out DIR]`` (or ``python -m
benchmarks``) runs, one after the other and each in its own process (so one
benchmark's threads, memory or crash cannot touch the next):

* ``latency`` (:mod:`benchmarks.latency`): a simulated user typing in held-out
  files against the real server over stdio; automatic / invoked / cache-hit
  latency, cancellations, peak RSS, model size;
* ``drafts`` (:mod:`benchmarks.drafts`): superposed decoding (Shen et al. 2024)
  against k sequential passes, batched sampling and beam search: time and
  best-of-k exact match vs k;
* ``heldout_eval`` (:mod:`benchmarks.heldout_eval`): next-token accuracy,
  perplexity and line completion of the model on held-out code;
* ``dotprompts`` (:mod:`benchmarks.dotprompts`): monitor-guided decoding
  (Agrawal et al. 2023) on vs off: valid-member rate, next-identifier match;
* ``repetition`` (:mod:`benchmarks.repetition`): the grammar-based repetition
  penalty (RPG, Dong et al. 2025) on vs off: TR-S, EGP.

It writes ``report.md`` (summary table first, one section per benchmark),
PNG figures (matplotlib, Agg) whose titles and footers state the machine, model,
dataset and date, and ``results.json`` with every benchmark's raw result. A
benchmark that fails is reported as failed with its error; the others still run.

Modes: ``full``; ``quick`` (a few minutes on 2 cores); ``smoke`` (a handful of
prompts each, for CI: ``--smoke`` or ``SUPERPOSE_BENCH_SMOKE=1``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCHMARKS = ("latency", "drafts", "heldout_eval", "dotprompts", "repetition")
SMOKE_ENV = "SUPERPOSE_BENCH_SMOKE"
TIMEOUT_S = {"smoke": 180.0, "quick": 300.0, "full": 6 * 3600.0}  # per benchmark
DATASET = "held-out split of the Python {py} standard library"

# per mode: command-line arguments of the argparse benchmarks, keywords of the run() ones
SIZES: dict[str, dict[str, Any]] = {
    "smoke": {
        "latency": {"mode": "smoke"},
        "drafts": ["--prompts", "1", "--ks", "1,2", "--max-new-tokens", "6"],
        "heldout_eval": {"positions": 4, "max_tokens": 1024, "max_new_tokens": 8},
        "dotprompts": {"prompts": 3, "max_new_tokens": 8},
        "repetition": ["--prompts", "1", "--max-new-tokens", "12"],
    },
    "quick": {
        "latency": {"mode": "quick"},
        "drafts": ["--prompts", "3", "--ks", "1,2,4,8", "--max-new-tokens", "12"],
        "heldout_eval": {"positions": 16, "max_tokens": 4096, "max_new_tokens": 24},
        "dotprompts": {"prompts": 16, "max_new_tokens": 16},
        "repetition": ["--prompts", "6", "--max-new-tokens", "32"],
    },
    "full": {
        "latency": {"mode": "full"},
        "drafts": ["--prompts", "60", "--ks", "1,2,3,4,8"],
        "heldout_eval": {},
        "dotprompts": {},
        "repetition": ["--prompts", "40"],
    },
}


# ------------------------------------------------------------------ running


def run_benchmark(name: str, mode: str, model: str, out: Path) -> dict[str, Any]:
    """Run one benchmark in this process; return its raw result (raises on failure)."""
    size = SIZES[mode][name]
    if name in ("drafts", "repetition"):
        module = __import__(f"benchmarks.{name}", fromlist=["main"])
        code = module.main(["--model", model, "--out", str(out), *size])
        if code:
            raise RuntimeError(f"{name} exited with {code}")
        return json.loads((out / f"{name}.json").read_text())
    module = __import__(f"benchmarks.{name}", fromlist=["run"])
    return module.run(model, mode != "full", out, **accepted(module.run, size))


def accepted(function: Callable[..., Any], kw: dict[str, Any]) -> dict[str, Any]:
    """The keywords of ``kw`` that ``function`` takes by name (all if it takes ``**kw``)."""
    import inspect

    params = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(kw)
    return {k: v for k, v in kw.items() if k in params}


def run_worker(name: str, mode: str, model: str, out: Path) -> int:
    """Subprocess entry: run ``name`` and write ``out/<name>/result.json`` (status + result)."""
    started = time.perf_counter()
    target = out / name
    target.mkdir(parents=True, exist_ok=True)
    try:
        result = run_benchmark(name, mode, model, target)
        record = {"status": "ok", "result": result}
    except BaseException as exc:  # noqa: BLE001 - every failure is reported, none crashes
        record = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        record["traceback"] = traceback.format_exc()
    record["seconds"] = round(time.perf_counter() - started, 1)
    (target / "result.json").write_text(json.dumps(record, indent=1, default=str))
    return 0 if record["status"] == "ok" else 1


def run_in_subprocess(name: str, mode: str, model: str, out: Path) -> dict[str, Any]:
    """Run one benchmark in a fresh interpreter; return its record (never raises)."""
    started = time.perf_counter()
    target = out / name
    target.mkdir(parents=True, exist_ok=True)
    log_path = target / "log.txt"
    command = [sys.executable, "-m", "benchmarks.report", "--worker", name, "--mode", mode]
    command += ["--model", model, "--out", str(out)]
    root = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")])}
    try:
        with log_path.open("w") as log:
            proc = subprocess.run(
                command, stdout=log, stderr=subprocess.STDOUT, timeout=TIMEOUT_S[mode], env=env
            )
        error = None if proc.returncode in (0, 1) else f"worker exited with {proc.returncode}"
    except subprocess.TimeoutExpired:
        error = f"timed out after {TIMEOUT_S[mode]:.0f} s"
    result_path = target / "result.json"
    tail = log_path.read_text(errors="replace")[-2000:] if log_path.is_file() else ""
    if error is None and result_path.is_file():
        record = json.loads(result_path.read_text())
    else:
        record = {"status": "failed", "error": error or "no result written"}
    if record["status"] != "ok":
        record["log_tail"] = tail
        last = [line for line in tail.splitlines() if line.strip()][-1:]
        if last and last[0] not in record["error"]:  # e.g. the usage error of a main()
            record["error"] += f" ({last[0].strip()})"
    record["seconds"] = round(time.perf_counter() - started, 1)
    return record


# ------------------------------------------------------------------ context


def context_of(model: str, mode: str) -> dict[str, Any]:
    """Machine, model, dataset and date: what every figure and the report state."""
    from benchmarks.common import heldout_files, machine_info, model_disk_bytes
    from models.loader import resolve_model_dir

    path = resolve_model_dir(model)
    config = (
        json.loads((path / "config.json").read_text()) if (path / "config.json").is_file() else {}
    )
    disk = model_disk_bytes(path)
    py = ".".join(map(str, sys.version_info[:2]))
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "mode": mode,
        "machine": {**machine_info(), "loadavg_at_start": list(os.getloadavg())},
        "model": {
            "spec": model,
            "name": "default" if model in ("", "default") else path.name,
            "path": str(path),
            "type": config.get("model_type"),
            "layers": config.get("n_layer") or config.get("num_hidden_layers"),
            "width": config.get("n_embd") or config.get("hidden_size"),
            "vocab_size": config.get("vocab_size"),
            "weights_bytes": disk["weights"],
            "directory_bytes": disk["directory"],
        },
        "dataset": {
            "name": DATASET.format(py=py),
            "files": len(heldout_files(path)),
        },
    }


def caption(ctx: dict[str, Any]) -> str:
    """One line naming machine, model, dataset and date (figure footers and captions)."""
    m, model, data = ctx["machine"], ctx["model"], ctx["dataset"]
    return (
        f"{m['cpu']}, {m['cores']} cores · model {model['name']} ({model['type']} "
        f"{model['layers']}x{model['width']}, {model['weights_bytes'] / 2**20:.1f} MiB) · "
        f"data: {data['name']} "
        f"({data['files']} files) · {ctx['date']} · {ctx['mode']} mode"
    )


# ------------------------------------------------------------------ figures


def _figure(ctx: dict[str, Any], title: str, ncols: int = 1, width: float = 6.4):
    """A titled figure of ``ncols`` panels whose footer names machine, model, data, date."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    size = (max(9.0, width * ncols), 4.6)  # wide enough for the one-line footer
    fig, axes = plt.subplots(1, ncols, figsize=size, squeeze=False)
    fig.suptitle(title, fontsize=12)
    fig.text(0.5, 0.01, caption(ctx), ha="center", fontsize=7, color="0.35", wrap=True)
    return fig, list(axes[0])


def _save(fig: Any, path: Path) -> str:
    import matplotlib.pyplot as plt

    fig.tight_layout(rect=(0, 0.04, 1, 0.95))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path.name


def _bars(ax: Any, groups: list[str], series: dict[str, list[float | None]], pct: bool) -> None:
    """Grouped bars: one group per ``groups`` entry, one bar per series."""
    width = 0.8 / max(1, len(series))
    for i, (label, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ys = [0.0 if v is None else (100 * v if pct else v) for v in values]
        bars = ax.bar(xs, ys, width, label=label)
        for bar, v in zip(bars, values, strict=True):
            text = "n/a" if v is None else (f"{100 * v:.0f}" if pct else _short(v))
            ax.annotate(
                text,
                (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center",
                va="bottom",
                fontsize=6,
            )
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    if pct:
        ax.set_ylabel("%")
        ax.set_ylim(0, 110)
    ax.legend(fontsize=8)


def _short(value: float) -> str:
    """A bar label: whole numbers from 10 up, two significant digits below."""
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2g}"


def fig_latency(res: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """CDFs of client-side latency per request kind, with the issue-8 targets."""
    import numpy as np

    fig, (ax, bx) = _figure(ctx, "Latency while typing (end to end over LSP stdio)", 2)
    kinds = {
        "automatic": ("automatic inline (generated)", 150.0),
        "invoked": ("invoked k=4 completion (generated)", 500.0),
        "drafts": ("superpose.drafts (generated)", None),
        "cache": ("typing-through cache hit", 5.0),
    }
    samples = res.get("samples", [])
    for i, (kind, (label, target)) in enumerate(kinds.items()):
        if kind == "cache":
            values = [s["ms"] for s in samples if s["cached"] and s["ms"] is not None]
        else:
            values = [
                s["ms"]
                for s in samples
                if s["kind"] == kind and not s["cached"] and s["ms"] is not None
            ]
        color = f"C{i}"
        if values:
            xs = np.sort(np.asarray(values))
            ys = np.arange(1, len(xs) + 1) / len(xs)
            xs, ys = np.concatenate([xs[:1], xs]), np.concatenate([[0.0], ys])  # from 0
            ax.step(xs, ys, where="post", color=color, label=f"{label} (n={len(values)})")
            ax.plot(xs[1:], ys[1:], ".", color=color, markersize=3)
        if target is not None:
            ax.axvline(target, color=color, linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlabel("client-side latency, ms (log; dotted: targets)")
    ax.set_ylabel("fraction of requests")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    # server-side vs client-side p50/p95
    client, server = res.get("client_ms", {}), res.get("server_ms", {})
    groups = ["automatic", "invoked", "cache"]
    series = {
        "client p50": [client.get(g, {}).get("p50") for g in groups],
        "client p95": [client.get(g, {}).get("p95") for g in groups],
        "server p50": [server.get(g, {}).get("p50") for g in groups],
        "server p95": [server.get(g, {}).get("p95") for g in groups],
    }
    _bars(bx, groups, series, pct=False)
    bx.set_yscale("symlog", linthresh=1.0)
    bx.set_ylabel("ms (symlog)")
    c = client.get("counts", {})
    bx.set_title(
        f"automatic: {c.get('automatic_sent', 0)} sent, {c.get('automatic_cancelled', 0)} "
        f"cancelled; {c.get('unanswered', 0)} unanswered",
        fontsize=8,
    )
    return _save(fig, out / "latency.png")


def fig_memory(res: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """Server RSS over the latency run, the 1 GB target, and the model's size on disk."""
    fig, (ax,) = _figure(ctx, "Server memory while typing, and model size")
    memory, size = res.get("memory", {}), res.get("model_size", {})
    series = memory.get("rss_series", [])
    if series:
        ax.plot([t for t, _ in series], [b / 2**20 for _, b in series], label="server RSS")
    ax.axhline(1024, color="C3", linestyle=":", label="target 1 GiB")
    peak = memory.get("peak_rss_bytes", 0) / 2**20
    ax.axhline(peak, color="C1", linestyle="--", label=f"peak {peak:.0f} MiB")
    weights = size.get("weights_bytes", 0) / 2**20
    ax.axhline(weights, color="C2", linestyle="-.", label=f"weights on disk {weights:.1f} MiB")
    ax.set_xlim(left=0)
    ax.set_xlabel("seconds since server start")
    ax.set_ylabel("MiB")
    ax.set_ylim(0, max(1100, peak * 1.1))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, out / "memory.png")


def fig_drafts(res: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """Time per prompt vs k and best-of-k exact match vs k, per decoding method."""
    fig, (ax, bx) = _figure(ctx, "k drafts: superposed vs k passes, batched sampling, beam", 2)
    rows = res.get("results", [])
    for method in sorted({r["method"] for r in rows}):
        mine = sorted((r for r in rows if r["method"] == method), key=lambda r: r["k"])
        ks = [r["k"] for r in mine]
        style = {"linewidth": 2.5} if method == "superposed" else {}
        ax.plot(ks, [r["ms_per_prompt"] for r in mine], marker="o", label=method, **style)
        em = [100 * r["best_of_k_exact_match"] for r in mine]
        bx.plot(ks, em, marker="o", label=method, **style)
    greedy = (res.get("greedy") or {}).get("exact_match")
    if greedy is not None:
        bx.axhline(100 * greedy, color="0.4", linestyle=":", label="greedy, 1 draft")
    ks = sorted({r["k"] for r in rows})
    for a in (ax, bx):
        a.set_xticks(ks)
    ax.set_xlabel("k (drafts)")
    ax.set_ylabel("ms per prompt")
    ax.set_yscale("log")
    ax.set_title(f"{res.get('prompts', '?')} held-out prompts, single-line drafts", fontsize=8)
    top = max([100 * r["best_of_k_exact_match"] for r in rows] + [100 * (greedy or 0)])
    bx.set_ylim(0, max(5.0, 1.2 * top))
    bx.set_xlabel("k (drafts)")
    bx.set_ylabel("best-of-k exact match of the line, %")
    for a in (ax, bx):
        a.grid(alpha=0.3)
        a.legend(fontsize=7)
    return _save(fig, out / "drafts.png")


def fig_monitor(res: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """Valid-member rate, next-identifier and line match with the monitor on vs off."""
    fig, (ax, bx) = _figure(ctx, "Monitor-guided decoding on DotPrompts: monitor on vs off", 2)
    metrics = monitor_metrics(res)
    groups = list(metrics)
    series = {
        "monitor off": [metrics[g].get("off") for g in groups],
        "monitor on": [metrics[g].get("on") for g in groups],
    }
    _bars(ax, groups, series, pct=True)
    ax.axhline(99, color="C3", linestyle=":", linewidth=1)
    prompts = res.get("prompts", {})
    ax.set_title(
        f"{prompts.get('count', '?')} resolved dereference prompts (dotted: 99% target); "
        f"real continuation allowed: {_pct(prompts.get('target_in_members'))}",
        fontsize=8,
    )
    overhead = res.get("monitor_overhead_ms", {})
    kinds = ["waiting", "constrained"]
    series = {stat: [overhead.get(kind, {}).get(stat) for kind in kinds] for stat in ("p50", "p99")}
    _bars(bx, [f"{kind} step" for kind in kinds], series, pct=False)
    bx.set_yscale("symlog", linthresh=0.01)
    bx.set_ylabel("ms per decoding step (symlog)")
    for target, label in ((0.1, "waiting target"), (2.0, "constrained target")):
        bx.axhline(target, color="0.5", linestyle=":", linewidth=1)
        bx.annotate(label, (1.4, target), fontsize=7, color="0.4", va="bottom", ha="right")
    bx.set_title("monitor cost per step (incl. analysis)", fontsize=8)
    return _save(fig, out / "monitor.png")


def fig_repetition(res: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """TR-S, TR-N, EGP and parse-clean rate with the repetition penalty on vs off."""
    fig, axes = _figure(ctx, "Grammar-based repetition penalty (RPG): on vs off", 2)
    groups_data = res.get("groups", {})
    labels = {
        "tr_s": "TR-S (lower better)",
        "tr_n": "TR-N (lower better)",
        "egp": "EGP (higher better)",
        "parse_clean": "parse-clean",
    }
    for ax, kind in zip(axes, ("runs", "ordinary"), strict=True):
        series = {
            f"penalty {state}": [groups_data.get(f"{kind}/{state}", {}).get(m) for m in labels]
            for state in ("off", "on")
        }
        _bars(ax, list(labels.values()), series, pct=True)
        n = groups_data.get(f"{kind}/on", {}).get("n", 0)
        ax.set_title(
            f"{kind} prompts (n={n}): "
            + ("after repeated statements" if kind == "runs" else "random lines"),
            fontsize=8,
        )
    return _save(fig, out / "repetition.png")


def fig_heldout(res: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """Line-completion exact match and edit similarity per prompt setting and cursor kind."""
    fig, (ax, bx) = _figure(ctx, "Held-out line completion (greedy, single line)", 2)
    lines = res.get("line_completion", {})
    groups = ["eol", "mid", "mid_word", "next_line"]
    labels = ["end-of-line mask", "mid-line mask", "mid-word", "next line"]
    for axis, metric, name in (
        (ax, "exact_match", "exact match"),
        (bx, "edit_similarity", "edit similarity"),
    ):
        series = {
            setting: [s.get(g, {}).get(metric) for g in groups] for setting, s in lines.items()
        }
        _bars(axis, labels, series, pct=True)
        axis.set_ylabel(f"{name}, %")
    nt, cases = res.get("next_token", {}), res.get("cases", {})
    ax.set_title(
        f"next-token accuracy {_pct(nt.get('accuracy'))}, perplexity {_num(nt.get('perplexity'))}",
        fontsize=8,
    )
    bx.set_title(
        f"{cases.get('eol', 0)} end-of-line, {cases.get('mid', 0)} mid-line masks "
        f"({cases.get('mid_word', 0)} mid-word), {cases.get('next_line', 0)} next lines",
        fontsize=8,
    )
    return _save(fig, out / "heldout.png")


# benchmark -> (report section, figure) pairs
FIGURES: dict[str, list[tuple[str, Callable[[dict, dict, Path], str]]]] = {
    "latency": [("latency", fig_latency), ("memory", fig_memory)],
    "drafts": [("drafts", fig_drafts)],
    "heldout_eval": [("heldout_eval", fig_heldout)],
    "dotprompts": [("dotprompts", fig_monitor)],
    "repetition": [("repetition", fig_repetition)],
}


# ------------------------------------------------------------------ dotprompts access

MONITOR_METRICS = {
    "valid member": "valid_member_rate",
    "next identifier": "next_identifier_match",
    "line exact": "line_exact_match",
    "edit similarity": "edit_similarity",
}


def monitor_metrics(res: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """{metric: {"on": rate, "off": rate}} from a DotPrompts result."""
    arms = res.get("arms", {})
    return {
        label: {state: arms.get(state, {}).get(key) for state in ("on", "off")}
        for label, key in MONITOR_METRICS.items()
    }


# ------------------------------------------------------------------ report


def _pct(value: Any) -> str:
    return "-" if not isinstance(value, (int, float)) else f"{100 * value:.1f}%"


def _num(value: Any, fmt: str = ".1f") -> str:
    return "-" if not isinstance(value, (int, float)) else format(value, fmt)


def _verdict(value: Any, target: float, lower_is_better: bool = True) -> str:
    if not isinstance(value, (int, float)):
        return "-"
    return "yes" if (value <= target if lower_is_better else value >= target) else "no"


Row = tuple[str, str, str, str]  # measure, value, target, met


def _better(a: Any, b: Any, higher: bool) -> str:
    """ "yes" when ``a`` beats ``b`` (higher or lower), "-" when either is missing."""
    if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return "-"
    return "yes" if (a > b if higher else a < b) else "no"


def latency_rows(lat: dict[str, Any]) -> list[Row]:
    c, server = lat["client_ms"], lat["server_ms"]
    rows: list[Row] = []
    for label, key, stat, target in (
        ("automatic inline p50 (ms)", "automatic", "p50", 150.0),
        ("automatic inline p95 (ms)", "automatic", "p95", 300.0),
        ("invoked k=4 completion p50 (ms)", "invoked", "p50", 500.0),
        ("typing-through cache hit p50 (ms, client)", "cache", "p50", 5.0),
    ):
        value = c[key].get(stat)
        rows.append((label, _num(value), f"<= {target:.0f}", _verdict(value, target)))
    cache = server.get("cache", {}).get("p50")
    rows.append(
        ("cache hit p50 (ms, in the engine)", _num(cache, ".2f"), "<= 5", _verdict(cache, 5))
    )
    rss = lat["memory"]["peak_rss_bytes"] / 2**20
    weights = lat["model_size"]["weights_bytes"] / 2**20
    rows.append(("server peak RSS (MiB)", f"{rss:.0f}", "<= 1024", _verdict(rss, 1024)))
    rows.append(("model weights on disk (MiB)", f"{weights:.1f}", "<= 50", _verdict(weights, 50)))
    return rows


def drafts_rows(drafts: dict[str, Any]) -> list[Row]:
    by = {(r["k"], r["method"]): r for r in drafts.get("results", [])}
    k = 4 if (4, "superposed") in by else max((kk for kk, _ in by), default=None)
    if k is None or (k, "sequential-greedy") not in by:
        return []
    sup, seq = by[(k, "superposed")], by[(k, "sequential-greedy")]
    ratio = seq["ms_per_prompt"] / sup["ms_per_prompt"]
    greedy = (drafts.get("greedy") or {}).get("exact_match")
    return [
        (
            f"time of {k} greedy passes / superposed k={k}",
            f"{ratio:.2f}x",
            "> 1",
            _better(ratio, 1, True),
        ),
        (
            f"best-of-{k} exact match: superposed (greedy, 1 draft)",
            f"{_pct(sup['best_of_k_exact_match'])} ({_pct(greedy)})",
            "superposed > greedy",
            _better(sup["best_of_k_exact_match"], greedy, True),
        ),
    ]


def monitor_rows(dots: dict[str, Any]) -> list[Row]:
    m = monitor_metrics(dots)
    valid, ident = m["valid member"], m["next identifier"]
    return [
        (
            "valid-member rate, monitor on (off)",
            f"{_pct(valid['on'])} ({_pct(valid['off'])})",
            ">= 99%",
            _verdict(valid["on"], 0.99, lower_is_better=False),
        ),
        (
            "next-identifier match, monitor on (off)",
            f"{_pct(ident['on'])} ({_pct(ident['off'])})",
            "on > off",
            _better(ident["on"], ident["off"], True),
        ),
    ]


def repetition_rows(rep: dict[str, Any]) -> list[Row]:
    groups = rep.get("groups", {})
    on, off = groups.get("runs/on", {}), groups.get("runs/off", {})
    return [
        (
            f"{label} after repeated statements, penalty on (off)",
            f"{_pct(on.get(key))} ({_pct(off.get(key))})",
            "on > off" if higher else "on < off",
            _better(on.get(key), off.get(key), higher),
        )
        for label, key, higher in (("TR-S", "tr_s", False), ("EGP", "egp", True))
    ]


def heldout_rows(held: dict[str, Any]) -> list[Row]:
    nt = held.get("next_token", {})
    acc = nt.get("accuracy")
    lines = held.get("line_completion", {})
    setting = next(iter(lines), "-")
    eol_group = lines.get(setting, {}).get("eol", {})
    eol = eol_group.get("exact_match")
    return [
        (
            f"held-out next-token accuracy ({nt.get('tokens', '?')} tokens)",
            _pct(acc),
            ">= 45%",
            _verdict(acc, 0.45, False),
        ),
        (
            f"held-out end-of-line exact match ({setting}, {eol_group.get('n', '?')} cases)",
            _pct(eol),
            ">= 15%",
            _verdict(eol, 0.15, False),
        ),
    ]


SUMMARIES: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "latency": latency_rows,
    "drafts": drafts_rows,
    "dotprompts": monitor_rows,
    "repetition": repetition_rows,
    "heldout_eval": heldout_rows,
}


def summary_rows(records: dict[str, dict[str, Any]]) -> list[Row]:
    """The summary table's rows, from every benchmark that ran."""
    rows: list[Row] = []
    for name in BENCHMARKS:
        record = records.get(name, {})
        if record.get("status") == "ok":
            try:
                rows += SUMMARIES[name](record["result"])
            except (KeyError, TypeError, ZeroDivisionError) as exc:
                rows.append((f"{name}: summary unavailable", repr(exc), "-", "-"))
    return rows


SECTIONS = {  # benchmark -> (section title, its own markdown file), in BENCHMARKS order
    "latency": ("Latency while typing", "latency.md"),
    "drafts": ("Drafts: superposed decoding vs baselines", "drafts.md"),
    "heldout_eval": ("Held-out model quality", "heldout.md"),
    "dotprompts": ("Monitor-guided decoding (DotPrompts)", "dotprompts.md"),
    "repetition": ("Repetition penalty (RPG)", "repetition.md"),
}


def _demoted(markdown: str) -> str:
    """A benchmark's own markdown, headings pushed below the report's sections."""
    out = []
    for line in markdown.splitlines():
        out.append("##" + line if line.startswith("#") else line)
    return "\n".join(out).strip()


def render_markdown(
    ctx: dict[str, Any],
    records: dict[str, dict[str, Any]],
    figures: dict[str, list[str]],
    out: Path,
    seconds: float,
    command: str,
) -> str:
    """Return report.md: header, summary table, then one section per benchmark."""
    m, model, data = ctx["machine"], ctx["model"], ctx["dataset"]
    load = ", ".join(f"{x:.1f}" for x in m.get("loadavg_at_start", []))
    lines = [
        "# superpose-ls benchmark report",
        "",
        f"`{command}` ({ctx['mode']} mode) took {seconds:.0f} s on {ctx['date']}.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores ({m.get('usable_cores')} usable), "
        f"Python {m.get('python')}, torch {m.get('torch')}; load average at start {load}.",
        f"- Model: {model['name']} ({model['type']}, {model['layers']} layers x {model['width']}, "
        f"vocab {model['vocab_size']}; {model['weights_bytes'] / 2**20:.1f} MiB of weights) "
        f"at `{model['path']}`.",
        f"- Dataset: {data['name']} ({data['files']} files never seen in training).",
        "",
        "## Summary",
        "",
        "| measure | value | target | met |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in summary_rows(records)]
    lines += ["", "| benchmark | status | seconds |", "|---|---|---|"]
    for name in BENCHMARKS:
        record = records.get(name, {"status": "skipped"})
        status = record["status"]
        if status == "failed":
            status = f"FAILED: {record.get('error', '')}".replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {name} | {status} | {record.get('seconds', '-')} |")
    for name in BENCHMARKS:
        title, md_name = SECTIONS[name]
        record = records.get(name, {"status": "skipped"})
        lines += ["", f"## {title}", ""]
        if record["status"] != "ok":
            lines.append(f"**{record['status'].upper()}**: {record.get('error', 'not run')}")
            if record.get("traceback") or record.get("log_tail"):
                tail = (record.get("traceback") or record.get("log_tail") or "")[-1500:]
                lines += ["", "```", tail.rstrip(), "```"]
        for figure in figures.get(name, []):
            lines += [f"![{title}]({figure})", "", f"*{caption(ctx)}*", ""]
        own = out / name / md_name
        if record["status"] == "ok" and own.is_file():
            lines += [_demoted(own.read_text())]
    lines += ["", "## Memory and model size", ""]
    latency = records.get("latency", {})
    if latency.get("status") == "ok":
        memory, size = latency["result"]["memory"], latency["result"]["model_size"]
        lines += [
            f"Peak RSS of the server process during the latency run: "
            f"{memory['peak_rss_bytes'] / 2**20:.0f} MiB (target <= 1024 MiB; kernel high-water "
            f"mark {_num((memory.get('vmhwm_bytes') or 0) / 2**20, '.0f')} MiB). Model on disk: "
            f"{size['weights_bytes'] / 2**20:.1f} MiB of weights, "
            f"{size['model_dir_bytes'] / 2**20:.1f} MiB with tokenizer and n-gram table.",
            "",
        ]
    else:
        lines.append("Not measured: the latency benchmark did not run.")
    for figure in figures.get("memory", []):
        lines += [f"![Memory and model size]({figure})", "", f"*{caption(ctx)}*", ""]
    lines += [
        "",
        "## Raw data",
        "",
        "`results.json` holds every benchmark's raw result; each benchmark's own JSON, "
        "markdown and log are in its subdirectory.",
    ]
    return "\n".join(lines) + "\n"


def run_report(
    quick: bool,
    model: str = "default",
    out: Path = Path("bench-out"),
    smoke: bool | None = None,
    only: list[str] | None = None,
) -> int:
    """Run every benchmark (or ``only`` these), write report.md, PNGs and results.json.

    Returns 0 when the report was written (failed benchmarks are reported in it), 2 on
    bad usage. ``smoke`` (default: the ``SUPERPOSE_BENCH_SMOKE`` environment variable)
    shrinks every benchmark to a handful of prompts.
    """
    if smoke is None:
        smoke = os.environ.get(SMOKE_ENV, "") not in ("", "0")
    mode = "smoke" if smoke else ("quick" if quick else "full")
    names = list(only or BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"superpose-ls bench: unknown benchmark(s) {', '.join(unknown)}", file=sys.stderr)
        return 2
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        ctx = context_of(model, mode)
    except Exception as exc:  # noqa: BLE001 - e.g. a model path that does not exist
        print(f"superpose-ls bench: {exc}", file=sys.stderr)
        return 2
    records: dict[str, dict[str, Any]] = {}
    for name in names:  # one at a time: they share 2 cores
        print(f"[bench] {name} ({mode}) ...", file=sys.stderr, flush=True)
        records[name] = run_in_subprocess(name, mode, model, out)
        print(
            f"[bench] {name}: {records[name]['status']} in {records[name]['seconds']} s",
            file=sys.stderr,
            flush=True,
        )
    seconds = time.perf_counter() - started
    command = "superpose-ls bench" + {"smoke": " --smoke", "quick": " --quick", "full": ""}[mode]
    if model != "default":
        command += f" --model {model}"
    write_report(ctx, records, out, seconds, command)
    print(f"[bench] report: {out / 'report.md'} ({seconds:.0f} s)", file=sys.stderr)
    return 0


def write_report(
    ctx: dict[str, Any],
    records: dict[str, dict[str, Any]],
    out: Path,
    seconds: float,
    command: str,
) -> Path:
    """Draw the figures, write results.json and report.md into ``out``; return report.md."""
    figures: dict[str, list[str]] = {}
    for name, record in records.items():
        record.pop("figure_errors", None)
        if record["status"] != "ok":
            continue
        for section, make in FIGURES[name]:
            try:
                figures.setdefault(section, []).append(make(record["result"], ctx, out))
            except Exception as exc:  # noqa: BLE001 - a missing field must not lose the report
                record.setdefault("figure_errors", []).append(f"{make.__name__}: {exc!r}")
    raw = {"context": ctx, "command": command, "seconds": round(seconds, 1), "benchmarks": records}
    (out / "results.json").write_text(json.dumps(raw, indent=1, default=str))
    report = out / "report.md"
    report.write_text(render_markdown(ctx, records, figures, out, seconds, command))
    return report


def rerender(out: Path) -> int:
    """Redraw report.md and the figures from ``out/results.json`` without running anything."""
    raw = json.loads((Path(out) / "results.json").read_text())
    write_report(raw["context"], raw["benchmarks"], Path(out), raw["seconds"], raw["command"])
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few minutes on 2 cores")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI smoke test)")
    parser.add_argument("--model", default="default", help="'default' or a local HF model dir")
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--only", default=None, help="comma-separated benchmark names")
    parser.add_argument(
        "--rerender", action="store_true", help="redraw the report from OUT/results.json"
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="quick", choices=sorted(SIZES), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return run_worker(args.worker, args.mode, args.model, args.out)
    if args.rerender:
        return rerender(args.out)
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    return run_report(args.quick, args.model, args.out, smoke=args.smoke or None, only=only)


if __name__ == "__main__":
    sys.exit(main())

"""Serving capacity of the shared model service: superposed batching vs k-sampling (issue 19).

Superposed decoding (Shen et al. 2024) gives one user k drafts from ONE sequence, so a
replica batching N users runs N rows where a service sampling k drafts per user runs N·k.
This benchmark measures what that buys: closed-loop clients (each sends a completion
request, waits for it, sends the next) at C = 1, 2, 4, ... on held-out prompts, against
three configurations of the same model in one run:

* ``superposed``: the model service's step loop (:class:`lsp_server.serving.service.
  ModelService`, :mod:`models.batched_superposed`): one row per user, k drafts each;
* ``k-sample``: the same engine and step loop, each user decoded by k-row nucleus
  sampling (k rows per user: batch N·k);
* ``sequential``: per-user decoding without batching across users (one request at a
  time through :func:`models.superposed.superposed_decode`, FIFO).

Per configuration and C: completions/s, p50/p95 latency (submit to drafts, queueing
included), mean batch rows per forward call and forward calls/s. The capacity ratio is
the number of clients each configuration serves at an equal p95 latency (interpolated on
the C grid). The requests are ghost-text shaped: k = 4 drafts of up to 16 tokens on one
line, n-grams on (superposed), no verification. Runs unchanged on a GPU: ``--device cuda``.

``python -m benchmarks.serving [--mode quick|full] [--device cpu|cuda] [--out DIR]``
(``superpose-ls bench`` runs it in full mode).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import os
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.plugin import Benchmark, Row, Target, fmt, row

CONFIGS = ("superposed", "k-sample", "sequential")
P95_TARGETS_MS = (250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0)
MIN_COMPLETIONS = 24  # per point: small C sends more rounds (a p95 of 3 samples is a max)
CAPACITY = Target(
    "serving.capacity_ratio",
    "clients served at equal p95, superposed / k-sample",
    ">",
    1.0,
    "x",
    "issue 19",
)
SIZES: dict[str, dict[str, Any]] = {
    "smoke": {"concurrency": (1, 2), "per_client": 2},
    "quick": {"concurrency": (1, 2, 4, 8, 16), "per_client": 3},
    "full": {"concurrency": (1, 2, 4, 8, 16, 32, 64), "per_client": 3},
}


# ------------------------------------------------------------------ workload


def heldout_prompts(lm: Any, count: int, tokens: int = 192, seed: int = 0) -> list[list[int]]:
    """Prompts ending at line ends of held-out files (the model never trained on them)."""
    from benchmarks.common import heldout_files

    files = heldout_files(lm.path)
    rng = random.Random(seed)
    prompts: list[list[int]] = []
    while len(prompts) < count:
        text = rng.choice(files).read()
        ends = [i for i, ch in enumerate(text) if ch == "\n" and i > 200]
        if not ends:
            continue
        cut = rng.choice(ends) + 1
        nxt = text[cut : text.find("\n", cut)] if "\n" in text[cut:] else text[cut:]
        if not nxt.strip():
            continue  # ghost text where the next line has code
        prefix = text[:cut] + nxt[: len(nxt) - len(nxt.lstrip())]  # its indentation typed
        prompts.append(lm.encode(prefix)[-tokens:])
    return prompts


def first_line(text: str) -> int | None:
    """The stop rule of one-line ghost text."""
    at = text.find("\n")
    return None if at < 0 else at


def request(prompt: list[int], ngram: Any, k: int, max_new: int, seed: int) -> Any:
    from models.decoding import DecodeRequest

    return DecodeRequest(
        prompt_ids=list(prompt),
        max_new_tokens=max_new,
        k=k,
        stop=first_line,
        ngram=ngram,
        verify=False,
        seed=seed,
        cancel=threading.Event(),
    )


# ------------------------------------------------------------------ one configuration, one C


async def closed_loop(
    decode: Any, prompts: list[list[int]], clients: int, per_client: int
) -> dict[str, Any]:
    """C clients, each sending ``per_client`` requests back to back; latencies and wall time."""
    # (request i uses prompt i: every configuration sees the same prompts in the same order)
    latencies: list[float] = []
    tokens = 0
    forward_calls = 0
    next_prompt = iter(range(10**9))

    async def client() -> None:
        nonlocal tokens, forward_calls
        for _ in range(per_client):
            i = next(next_prompt)
            started = time.perf_counter()
            result = await decode(prompts[i % len(prompts)], i)
            latencies.append((time.perf_counter() - started) * 1000.0)
            tokens += result.generated_tokens
            forward_calls += result.forward_calls

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    wall = time.perf_counter() - started
    return {"latencies": latencies, "wall_s": wall, "tokens": tokens, "calls": forward_calls}


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(math.ceil(p * len(ordered))) - 1)]


def measure(
    config: str,
    lm: Any,
    background: Any,
    prompts: list[list[int]],
    clients: int,
    per_client: int,
    k: int,
    max_new: int,
    min_completions: int = MIN_COMPLETIONS,
) -> dict[str, Any]:
    """Run ``clients`` closed-loop clients against one configuration (at least
    ``min_completions`` requests in all, after one warm-up request)."""
    from lsp_server.serving.service import ModelService
    from models.batched_superposed import SAMPLING, SUPERPOSED
    from models.ngram import NgramModel
    from models.superposed import superposed_decode

    ngram = NgramModel(background) if background is not None else None

    rounds = max(per_client, math.ceil(min_completions / clients))

    async def main() -> dict[str, Any]:
        if config == "sequential":
            worker = ThreadPoolExecutor(max_workers=1)  # one request at a time, FIFO
            loop = asyncio.get_running_loop()

            async def decode(prompt: list[int], i: int) -> Any:
                req = request(prompt, ngram, k, max_new, i)
                return await loop.run_in_executor(worker, superposed_decode, lm, req)

            await decode(prompts[-1], -1)  # warm-up, not measured
            out = await closed_loop(decode, prompts, clients, rounds)
            worker.shutdown()
            out["batch_rows"] = 1.0
            out["engine_calls"] = out["calls"]
            return out
        service = ModelService(lm, background, max_rows=max(64, clients * k))
        mode = SAMPLING if config == "k-sample" else SUPERPOSED

        async def decode(prompt: list[int], i: int) -> Any:
            req = request(prompt, ngram if mode == SUPERPOSED else None, k, max_new, i)
            return await service.decode(req, mode)

        await decode(prompts[-1], -1)  # warm-up, not measured
        before = dict(service.engine.stats)
        out = await closed_loop(decode, prompts, clients, rounds)
        stats = {k: v - before[k] for k, v in service.engine.stats.items()}
        out["engine_calls"] = stats["forward_calls"] + stats["prefill_calls"]
        out["batch_rows"] = stats["batched_rows"] / max(1, stats["forward_calls"])
        return out

    raw = asyncio.run(main())
    lat = raw["latencies"]
    return {
        "config": config,
        "clients": clients,
        "completions": len(lat),
        "completions_per_s": len(lat) / raw["wall_s"],
        "p50_ms": percentile(lat, 0.5),
        "p95_ms": percentile(lat, 0.95),
        "mean_batch_rows": raw["batch_rows"],
        "forward_calls_per_s": raw["engine_calls"] / raw["wall_s"],
        "tokens_per_s": raw["tokens"] / raw["wall_s"],
        "wall_s": raw["wall_s"],
    }


# ------------------------------------------------------------------ capacity at equal p95


def capacity(levels: list[dict[str, Any]], config: str, p95_ms: float) -> float | None:
    """Clients ``config`` serves with p95 <= ``p95_ms``: the largest C measured meeting it,
    interpolated in log2 C towards the next C (which misses it); None: not even one client.

    On a loaded machine p95 is not monotone in C; the largest C meeting the target counts.
    """
    points = sorted((r["clients"], r["p95_ms"]) for r in levels if r["config"] == config)
    meeting = [i for i, (_, p) in enumerate(points) if p <= p95_ms]
    if not meeting:
        return None
    i = meeting[-1]
    c0, p0 = points[i]
    if i + 1 == len(points):
        return float(c0)  # met at the largest C measured (a lower bound)
    c1, p1 = points[i + 1]
    x0, x1 = math.log2(c0), math.log2(c1)
    frac = (math.log(p95_ms) - math.log(p0)) / (math.log(p1) - math.log(p0))
    return 2 ** (x0 + frac * (x1 - x0))


def capacities(levels: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for target in P95_TARGETS_MS:
        caps = {c: capacity(levels, c, target) for c in CONFIGS}
        sup, ks, seq = caps["superposed"], caps["k-sample"], caps["sequential"]
        out.append(
            {
                "p95_ms": target,
                "clients": caps,
                "ratio_k_sample": sup / ks if sup and ks else None,
                "ratio_sequential": sup / seq if sup and seq else None,
                "capped": max(r["clients"] for r in levels),
            }
        )
    return out


# ------------------------------------------------------------------ run / report


def run(
    mode: str,
    model: str,
    out: Path,
    concurrency: tuple[int, ...] = SIZES["quick"]["concurrency"],
    per_client: int = 3,
    device: str = "auto",
    k: int = 4,
    max_new_tokens: int = 16,
    configs: tuple[str, ...] = CONFIGS,
    min_completions: int = MIN_COMPLETIONS,
) -> dict[str, Any]:
    """Measure every configuration at every C; write ``serving.json``; return the result."""
    from models.loader import load_model
    from models.ngram import background_for

    lm = load_model(model, device)
    background = background_for(lm.path, lm.tokenizer, lm.vocab_size)
    prompts = heldout_prompts(lm, max(64, max(concurrency) * per_client))
    levels = []
    for clients in concurrency:
        for config in configs:
            levels.append(
                measure(
                    config,
                    lm,
                    background,
                    prompts,
                    clients,
                    per_client,
                    k,
                    max_new_tokens,
                    min_completions,
                )
            )
            print(json.dumps(levels[-1]), file=sys.stderr, flush=True)
    result = {
        "mode": mode,
        "model": lm.name,
        "device": str(lm.device),
        "k": k,
        "max_new_tokens": max_new_tokens,
        "per_client": per_client,
        "min_completions": min_completions,
        "prompt_tokens": 192,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "cores": os.cpu_count(),
        "levels": levels,
        "capacity": capacities(levels),
    }
    out.mkdir(parents=True, exist_ok=True)
    (out / "serving.json").write_text(json.dumps(result, indent=1))
    (out / "serving.md").write_text(markdown(result))
    return result


def ratio_at(result: dict[str, Any]) -> dict[str, Any] | None:
    """The summary's capacity: at the smallest p95 target both configurations meet with at
    least one client (the machine sets the scale: a loaded CPU reaches no small target)."""
    return next((c for c in result.get("capacity", []) if c["ratio_k_sample"] is not None), None)


def rows(result: dict[str, Any]) -> list[Row]:
    cap = ratio_at(result)
    clients = cap["clients"] if cap else {}
    detail = (
        f"(p95 <= {fmt(cap['p95_ms'] if cap else None, 'ms')}: "
        f"{fmt(clients.get('superposed'), digits=1)} vs "
        f"{fmt(clients.get('k-sample'), digits=1)} clients; "
        f"sequential {fmt(clients.get('sequential'), digits=1)})"
    )
    top = max((r["clients"] for r in result.get("levels", [])), default=None)
    at_top = {
        r["config"]: r["completions_per_s"] for r in result.get("levels", []) if r["clients"] == top
    }
    return [
        row(CAPACITY.label, cap["ratio_k_sample"] if cap else None, CAPACITY, detail=detail),
        row(
            f"completions/s at C = {top}: superposed / k-sample / sequential",
            at_top.get("superposed"),
            unit="",
            detail=f"/ {fmt(at_top.get('k-sample'))} / {fmt(at_top.get('sequential'))}",
        ),
    ]


def markdown(result: dict[str, Any]) -> str:
    """The serving table (C vs throughput and p95 per configuration) and the capacities."""
    lines = [
        f"Model `{result.get('model')}` on {result.get('device')}, k = {result.get('k')} drafts "
        f"of up to {result.get('max_new_tokens')} tokens, {result.get('prompt_tokens')}-token "
        f"held-out prompts, closed-loop clients sending {result.get('per_client')} requests "
        f"each (at least {result.get('min_completions')} per point, after one warm-up request); load "
        f"average at the end {result.get('load_average')}.",
        "",
        "| C | config | completions/s | p50 ms | p95 ms | mean batch rows | forward calls/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in result.get("levels", []):
        lines.append(
            f"| {r['clients']} | {r['config']} | {r['completions_per_s']:.2f} | "
            f"{r['p50_ms']:.0f} | {r['p95_ms']:.0f} | {r['mean_batch_rows']:.1f} | "
            f"{r['forward_calls_per_s']:.0f} |"
        )
    lines += [
        "",
        "Clients served at equal p95 (interpolated on the C grid; `>=` where the largest C "
        "measured still met it):",
        "",
        "| p95 <= | superposed | k-sample | sequential | superposed / k-sample | "
        "superposed / sequential |",
        "|---|---|---|---|---|---|",
    ]
    for cap in result.get("capacity", []):
        c, top = cap["clients"], cap["capped"]
        lines.append(
            f"| {cap['p95_ms']:.0f} ms | {_shown(c['superposed'], top)} | "
            f"{_shown(c['k-sample'], top)} | {_shown(c['sequential'], top)} | "
            f"{fmt(cap['ratio_k_sample'], 'x')} | "
            f"{fmt(cap['ratio_sequential'], 'x')} |"
        )
    return "\n".join(lines) + "\n"


def _shown(clients: float | None, top: int) -> str:
    """Clients at a p95 target: ``< 1``, ``>= top`` when the largest C still met it."""
    if clients is None:
        return "< 1"
    return (">= " if clients >= top else "") + f"{clients:.1f}"


def figure(result: dict[str, Any], ctx: dict[str, Any], out: Path) -> str | None:
    """Throughput and p95 latency against the number of clients, per configuration, and
    the capacity ratio at equal p95 against its target."""
    from benchmarks.figures import PALETTE, bars, legend_below, new_figure, save, target_line

    levels = result.get("levels", [])
    if not levels:
        return None
    title = "Serving: superposed decoding batched across users vs k-sampling"
    fig, (ax, bx, cx) = new_figure(ctx, title, 3, width=4.6, ratios=(1.0, 1.0, 0.8))
    for color, config in zip(PALETTE, CONFIGS, strict=False):
        points = sorted((r["clients"], r) for r in levels if r["config"] == config)
        if not points:
            continue
        xs = [c for c, _ in points]
        ax.plot(xs, [r["completions_per_s"] for _, r in points], "o-", color=color, label=config)
        bx.plot(xs, [r["p95_ms"] for _, r in points], "o-", color=color, label=config)
    grid = sorted({r["clients"] for r in levels})
    for axis in (ax, bx):
        axis.set_xscale("log", base=2)
        axis.set_xticks(grid, [str(c) for c in grid])
        axis.set_xlabel(f"closed-loop clients C (k = {result.get('k')} drafts each)")
    bx.set_yscale("log")
    ax.set_ylabel("completions / s")
    bx.set_ylabel("p95 latency (ms, queueing included)")
    n = result.get("per_client")
    ax.set_title(
        f"throughput (>= {n} requests per client, >= {result.get('min_completions')} per point)",
        fontsize=8,
    )
    bx.set_title("p95 latency", fontsize=8)
    legend_below(ax)
    legend_below(bx)
    caps = result.get("capacity", [])
    labels = [f"{c['p95_ms'] / 1000:g} s" for c in caps]
    series = {
        "vs k-sample": [c["ratio_k_sample"] for c in caps],
        "vs sequential": [c["ratio_sequential"] for c in caps],
    }
    bars(cx, labels, series, pct=False)
    target_line(cx, CAPACITY)
    cx.set_ylabel("clients served, superposed / other (x)")
    cx.set_xlabel("p95 latency target")
    cx.set_title("clients served at equal p95 (interpolated on the C grid)", fontsize=8)
    legend_below(cx)
    return save(fig, out / "serving.png")


def run_plugin(
    mode: str, model: str, out: Path, concurrency: tuple[int, ...], per_client: int
) -> dict[str, Any]:
    """``run`` as the report calls it (the report's figure is drawn by :func:`figure`)."""
    return run(mode, model, out, tuple(concurrency), per_client)


PLUGIN = Benchmark(
    name="serving",
    title="Serving: superposed decoding batched across users vs k-sampling",
    run=run_plugin,
    rows=rows,
    markdown=markdown,
    targets=(CAPACITY,),
    sizes={"full": SIZES["full"]},
    figures=(figure,),
    timeout_s={"full": 3600.0},
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__)
    parser.add_argument("--mode", choices=tuple(SIZES), default="quick")
    parser.add_argument("--model", default="default")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--out", type=Path, default=Path("bench-out/serving"))
    parser.add_argument("--concurrency", default=None, help="comma-separated C values")
    parser.add_argument("--per-client", type=int, default=None)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument(
        "--rerender", action="store_true", help="redraw OUT/serving.{md,png} from serving.json"
    )
    args = parser.parse_args(argv)
    if args.rerender:
        result = json.loads((args.out / "serving.json").read_text())
        result["capacity"] = capacities(result["levels"])
        (args.out / "serving.json").write_text(json.dumps(result, indent=1))
        (args.out / "serving.md").write_text(markdown(result))
        print(markdown(result))
        if importlib.util.find_spec("matplotlib") is not None:
            from benchmarks.report import context_of

            ctx = context_of(args.model, result.get("mode", args.mode))
            print(f"figure: {args.out / figure(result, ctx, args.out)}")
        return 0
    size = SIZES[args.mode]
    concurrency = (
        tuple(int(c) for c in args.concurrency.split(","))
        if args.concurrency
        else size["concurrency"]
    )
    result = run(
        args.mode,
        args.model,
        args.out,
        concurrency,
        args.per_client or size["per_client"],
        args.device,
        args.k,
        args.max_new_tokens,
    )
    print(markdown(result))
    if importlib.util.find_spec("matplotlib") is not None:
        from benchmarks.report import context_of

        print(f"figure: {args.out / figure(result, context_of(args.model, args.mode), args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

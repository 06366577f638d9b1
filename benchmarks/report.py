"""One command that runs every benchmark and writes a report with plots (issues 9, 16).

``superpose-ls bench [--quick] [--model PATH] [--out DIR]`` (or ``python -m
benchmarks``) runs the benchmark plug-ins of the mode (:mod:`benchmarks.plugin`), one
after the other and each in its own process with the plug-in's timeout (so one
benchmark's threads, memory or crash cannot touch the next):

* ``latency``: a simulated user typing against the real server over stdio (automatic /
  invoked / cache-hit latency, cancellations, peak RSS, model size);
* ``typing``: keystrokes saved and wrong ghost texts per 100 keys, simulated typing
  through the real server, jedi-language-server in the same run (issue 13);
* ``drafts``: superposed decoding (Shen et al. 2024) against k sequential passes,
  batched sampling and beam search;
* ``heldout_eval``: next-token accuracy and line completion on held-out code;
* ``dotprompts``: monitor-guided decoding (Agrawal et al. 2023) on vs off;
* ``repetition``: the grammar-based repetition penalty (RPG, Dong et al. 2025) on vs off;
* ``model_families`` (full mode only): random-weight replicas at real model shapes;
* ``serving`` (full mode only): the shared model service's capacity, superposed batching
  against k-sampling (issue 19).

This module knows no benchmark: it orchestrates, then writes ``report.md`` (summary table
of every plug-in's rows and targets first, then one section per benchmark: figures,
their captions and the plug-in's markdown), the PNG figures and ``results.json`` with
every raw result. A benchmark that fails is reported as failed with its error; the others
still run. ``--rerender`` redraws everything from ``results.json``; ``--readme FILE``
rewrites FILE's generated benchmark summary from ``OUT/results.json``.

Modes: ``full``; ``quick`` (minutes on 2 cores); ``smoke`` (a handful of prompts each,
for CI: ``--smoke`` or ``SUPERPOSE_BENCH_SMOKE=1``).
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
from pathlib import Path
from typing import Any

from benchmarks.figures import caption
from benchmarks.plugin import MODES, NAMES, Benchmark, Row, load, plugins, safe_rows

BENCHMARKS = NAMES
SMOKE_ENV = "SUPERPOSE_BENCH_SMOKE"
DATASET = "held-out split of the Python {py} standard library"
README_START = (
    "<!-- bench-summary: generated from {results} by "
    "`python -m benchmarks --readme README.md --out {out}`; do not edit by hand -->"
)
README_END = "<!-- /bench-summary -->"


# ------------------------------------------------------------------ running


def run_worker(name: str, mode: str, model: str, out: Path) -> int:
    """Subprocess entry: run ``name`` and write ``out/<name>/result.json`` (status + result)."""
    started = time.perf_counter()
    target = out / name
    target.mkdir(parents=True, exist_ok=True)
    try:
        result = load(name).execute(mode, model, target)
        record = {"status": "ok", "result": result}
    except BaseException as exc:  # noqa: BLE001 - every failure is reported, none crashes
        record = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        record["traceback"] = traceback.format_exc()
    record["seconds"] = round(time.perf_counter() - started, 1)
    (target / "result.json").write_text(json.dumps(record, indent=1, default=str))
    return 0 if record["status"] == "ok" else 1


def run_in_subprocess(
    name: str, mode: str, model: str, out: Path, timeout_s: float | None = None
) -> dict[str, Any]:
    """Run one benchmark in a fresh interpreter; return its record (never raises)."""
    started = time.perf_counter()
    timeout_s = timeout_s if timeout_s is not None else load(name).timeout(mode)
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
                command, stdout=log, stderr=subprocess.STDOUT, timeout=timeout_s, env=env
            )
        error = None if proc.returncode in (0, 1) else f"worker exited with {proc.returncode}"
    except subprocess.TimeoutExpired:
        error = f"timed out after {timeout_s:.0f} s"
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


def skipped(plugin: Benchmark, mode: str) -> dict[str, Any]:
    """The record of a benchmark that does not run in ``mode``."""
    modes = ", ".join(m for m in MODES if plugin.runs_in(m))
    return {"status": "skipped", "error": f"not run in {mode} mode (runs in: {modes})"}


# ------------------------------------------------------------------ context


def context_of(model: str, mode: str) -> dict[str, Any]:
    """Machine, model, dataset and date: what every figure and the report state."""
    from benchmarks.common import heldout_files, machine_info, model_disk_bytes
    from models.loader import resolve_model_dir
    from models.training import portable_path

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
            "path": portable_path(str(path)),
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


# ------------------------------------------------------------------ rendering


def _recorded(records: dict[str, dict[str, Any]]) -> list[Benchmark]:
    """The plug-ins of ``records``, in report order (unknown names are left out)."""
    return [load(name) for name in NAMES if name in records]


def summary_rows(records: dict[str, dict[str, Any]]) -> list[Row]:
    """The summary table's rows, from every benchmark that ran."""
    rows: list[Row] = []
    for plugin in _recorded(records):
        record = records[plugin.name]
        if record.get("status") == "ok":
            rows += safe_rows(plugin, record["result"])
    return rows


def table(rows: list[Row]) -> list[str]:
    """Markdown lines of the measure | value | target | met table."""
    lines = ["| measure | value | target | met |", "|---|---|---|---|"]
    for r in rows:
        cells = (r.measure, r.value, r.target_text(), r.verdict())
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return lines


def _demoted(markdown: str) -> str:
    """A benchmark's own markdown, headings pushed below the report's sections."""
    out = []
    for line in markdown.splitlines():
        out.append("##" + line if line.startswith("#") else line)
    return "\n".join(out).strip()


def _status(record: dict[str, Any]) -> str:
    status = record["status"]
    if status == "failed":
        return f"FAILED: {record.get('error', '')}".replace("|", "\\|").replace("\n", " ")
    if status == "skipped":
        return f"skipped: {record.get('error', '')}"
    return status


def render_markdown(
    ctx: dict[str, Any],
    records: dict[str, dict[str, Any]],
    figures: dict[str, list[str]],
    seconds: float,
    command: str,
) -> str:
    """Return report.md: header, summary table, then one section per benchmark."""
    m, model, data = ctx["machine"], ctx["model"], ctx["dataset"]
    load_avg = ", ".join(f"{x:.1f}" for x in m.get("loadavg_at_start", []))
    lines = [
        "# superpose-ls benchmark report",
        "",
        f"`{command}` ({ctx['mode']} mode) took {seconds:.0f} s on {ctx['date']}.",
        "",
        f"- Machine: {m['cpu']}, {m['cores']} cores ({m.get('usable_cores')} usable), "
        f"Python {m.get('python')}, torch {m.get('torch')}; load average at start {load_avg}.",
        f"- Model: {model['name']} ({model['type']}, {model['layers']} layers x {model['width']}, "
        f"vocab {model['vocab_size']}; {model['weights_bytes'] / 2**20:.1f} MiB of weights) "
        f"at `{model['path']}`.",
        f"- Dataset: {data['name']} ({data['files']} files never seen in training).",
        "",
        "## Summary",
        "",
        *table(summary_rows(records)),
        "",
        "| benchmark | status | seconds |",
        "|---|---|---|",
    ]
    recorded = _recorded(records)
    for plugin in recorded:
        record = records[plugin.name]
        lines.append(f"| {plugin.name} | {_status(record)} | {record.get('seconds', '-')} |")
    for plugin in recorded:
        record = records[plugin.name]
        lines += ["", f"## {plugin.title}", ""]
        if record["status"] != "ok":
            lines.append(f"**{record['status'].upper()}**: {record.get('error', 'not run')}")
            tail = (record.get("traceback") or record.get("log_tail") or "")[-1500:]
            if tail:
                lines += ["", "```", tail.rstrip(), "```"]
            continue
        for figure in figures.get(plugin.name, []):
            lines += [f"![{plugin.title}]({figure})", "", f"*{caption(ctx)}*", ""]
        try:
            lines.append(_demoted(plugin.markdown(record["result"])))
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            lines.append(f"Section unavailable: {exc!r}")
    lines += [
        "",
        "## Raw data",
        "",
        "`results.json` holds every benchmark's raw result; each benchmark's own JSON, "
        "markdown and log are in its subdirectory.",
    ]
    return "\n".join(lines) + "\n"


def draw_figures(
    records: dict[str, dict[str, Any]], ctx: dict[str, Any], out: Path
) -> dict[str, list[str]]:
    """Draw every figure of every benchmark that ran; failures go to ``figure_errors``."""
    figures: dict[str, list[str]] = {}
    for plugin in _recorded(records):
        record = records[plugin.name]
        record.pop("figure_errors", None)
        if record["status"] != "ok":
            continue
        for make in plugin.figures:
            try:
                name = make(record["result"], ctx, out)
                if name is not None:
                    figures.setdefault(plugin.name, []).append(name)
            except Exception as exc:  # noqa: BLE001 - a missing field must not lose the report
                record.setdefault("figure_errors", []).append(f"{make.__name__}: {exc!r}")
    return figures


def write_report(
    ctx: dict[str, Any],
    records: dict[str, dict[str, Any]],
    out: Path,
    seconds: float,
    command: str,
) -> Path:
    """Draw the figures, write results.json and report.md into ``out``; return report.md."""
    figures = draw_figures(records, ctx, out)
    raw = {"context": ctx, "command": command, "seconds": round(seconds, 1), "benchmarks": records}
    (out / "results.json").write_text(json.dumps(raw, indent=1, default=str))
    report = out / "report.md"
    report.write_text(render_markdown(ctx, records, figures, seconds, command))
    return report


def rerender(out: Path) -> int:
    """Redraw report.md and the figures from ``out/results.json`` without running anything."""
    raw = json.loads((Path(out) / "results.json").read_text())
    write_report(raw["context"], raw["benchmarks"], Path(out), raw["seconds"], raw["command"])
    return 0


# ------------------------------------------------------------------ README summary


def readme_summary(raw: dict[str, Any], link: str) -> str:
    """The README's benchmark summary, rendered from a ``results.json`` (``raw``): every
    row that answers a target, met or missed; ``link`` is the report's directory."""
    ctx, records = raw["context"], raw["benchmarks"]
    m, model = ctx["machine"], ctx["model"]
    rows = [r for r in summary_rows(records) if r.target is not None]
    missed = sum(r.met is False for r in rows)
    lines = [
        f"From [{link}/report.md]({link}/report.md): `{raw['command']}` ({ctx['mode']} mode), "
        f"model {model['name']}, {m['cpu']} with {m['cores']} cores, {ctx['date']}. "
        f"Every target of the report, met or missed ({missed} of {len(rows)} missed):",
        "",
        *table(rows),
    ]
    absent = []
    for name in NAMES:
        record = records.get(name)
        if record is None:
            absent.append(f"{name} (not in this report)")
        elif record.get("status") != "ok":
            absent.append(f"{name} ({record.get('status')})")
    if absent:
        lines += ["", "Not measured in this report: " + ", ".join(absent) + "."]
    return "\n".join(lines)


def readme_block(raw: dict[str, Any], results: str, out: str) -> str:
    """The generated README block (markers included) for ``results`` under ``out``."""
    start = README_START.format(results=results, out=out)
    return f"{start}\n{readme_summary(raw, out)}\n{README_END}"


def update_readme(readme: Path, out: Path, root: Path | None = None) -> bool:
    """Rewrite ``readme``'s generated summary from ``out/results.json``; True if it changed.

    The block sits between the ``bench-summary`` markers; without them it cannot be
    placed and ``ValueError`` is raised."""
    readme = Path(readme)
    root = Path(root) if root is not None else readme.resolve().parent
    try:
        rel = Path(out).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        rel = Path(out).as_posix()
    raw = json.loads((Path(out) / "results.json").read_text())
    text = readme.read_text()
    head, sep, rest = text.partition("<!-- bench-summary")
    if not sep or README_END not in rest:
        raise ValueError(f"{readme} has no <!-- bench-summary ... --> block")
    tail = rest.split(README_END, 1)[1]
    new = head + readme_block(raw, f"{rel}/results.json", rel) + tail
    if new != text:
        readme.write_text(new)
    return new != text


# ------------------------------------------------------------------ command


def run_report(
    quick: bool,
    model: str = "default",
    out: Path = Path("bench-out"),
    smoke: bool | None = None,
    only: list[str] | None = None,
) -> int:
    """Run every benchmark of the mode (or ``only`` these), write report.md, PNGs and
    results.json.

    Returns 0 when the report was written (failed benchmarks are reported in it), 2 on
    bad usage. ``smoke`` (default: the ``SUPERPOSE_BENCH_SMOKE`` environment variable)
    shrinks every benchmark to a handful of prompts.
    """
    if smoke is None:
        smoke = os.environ.get(SMOKE_ENV, "") not in ("", "0")
    mode = "smoke" if smoke else ("quick" if quick else "full")
    names = list(only or NAMES)
    unknown = [n for n in names if n not in NAMES]
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
    for plugin in plugins(names=names):  # one at a time: they share 2 cores
        if not plugin.runs_in(mode):
            records[plugin.name] = skipped(plugin, mode)
            continue
        print(f"[bench] {plugin.name} ({mode}) ...", file=sys.stderr, flush=True)
        records[plugin.name] = run_in_subprocess(
            plugin.name, mode, model, out, plugin.timeout(mode)
        )
        print(
            f"[bench] {plugin.name}: {records[plugin.name]['status']} in "
            f"{records[plugin.name]['seconds']} s",
            file=sys.stderr,
            flush=True,
        )
    seconds = time.perf_counter() - started
    command = "superpose-ls bench" + {"smoke": " --smoke", "quick": " --quick", "full": ""}[mode]
    if model != "default":
        command += f" --model {model}"
    if only:
        command += f" --only {','.join(names)}"
    write_report(ctx, records, out, seconds, command)
    print(f"[bench] report: {out / 'report.md'} ({seconds:.0f} s)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="minutes on 2 cores")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (CI smoke test)")
    parser.add_argument("--model", default="default", help="'default' or a local HF model dir")
    parser.add_argument("--out", type=Path, default=Path("bench-out"))
    parser.add_argument("--only", default=None, help="comma-separated benchmark names")
    parser.add_argument(
        "--rerender", action="store_true", help="redraw the report from OUT/results.json"
    )
    parser.add_argument(
        "--readme",
        type=Path,
        default=None,
        help="rewrite this README's benchmark summary from OUT/results.json",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="quick", choices=MODES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return run_worker(args.worker, args.mode, args.model, args.out)
    if args.rerender or args.readme:
        if not (args.out / "results.json").is_file():
            print(f"superpose-ls bench: no {args.out / 'results.json'}", file=sys.stderr)
            return 2
        if args.rerender:
            rerender(args.out)
        if args.readme:
            try:
                changed = update_readme(args.readme, args.out)
            except ValueError as exc:
                print(f"superpose-ls bench: {exc}", file=sys.stderr)
                return 2
            print(f"{args.readme}: {'updated' if changed else 'unchanged'}", file=sys.stderr)
        return 0
    only = [n.strip() for n in args.only.split(",") if n.strip()] if args.only else None
    return run_report(args.quick, args.model, args.out, smoke=args.smoke or None, only=only)


if __name__ == "__main__":
    sys.exit(main())

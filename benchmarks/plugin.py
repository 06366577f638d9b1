"""The contract of a benchmark of ``superpose-ls bench`` (issue 16, item 3).

Each benchmark module declares, once, at its end, a module-level ``PLUGIN``
(:class:`Benchmark`): its name and title, its sizes per mode, how to run it, its summary
rows, its figures, its markdown section and its **targets**. The targets live only there:
the report's summary table, the README summary and the figures all read them
(:class:`Target`), so a target changes in one place. :mod:`benchmarks.report` knows no
benchmark: it runs every plug-in of the mode in its own process with the plug-in's
timeout, collects the results and writes ``report.md``, ``results.json`` and the figures.

A plug-in's parts:

``run(mode, model, out, **size) -> dict``
    runs the benchmark (``size`` = ``sizes[mode]``), writes its own files into ``out``
    and returns a JSON-able result (what ``results.json`` records);
``rows(result) -> list[Row]``
    the summary rows, each with its target (or none: informative);
``figures``
    functions ``figure(result, ctx, out) -> file name`` drawing PNGs into ``out`` (see
    :mod:`benchmarks.figures`; None when the result has nothing for that figure);
``markdown(result) -> str``
    the benchmark's own section, rendered from the result alone (so a report can be
    redrawn from ``results.json`` without running anything).

Modes: ``smoke`` (a few prompts each, for CI), ``quick`` (minutes), ``full``; a plug-in
runs in the modes its ``sizes`` names (``model_families`` only in full mode).
"""

from __future__ import annotations

import importlib
import inspect
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

MODES = ("smoke", "quick", "full")
# every benchmark, in the order the report shows them
NAMES = (
    "latency",
    "typing",
    "drafts",
    "heldout_eval",
    "dotprompts",
    "repetition",
    "model_families",
    "serving",
)
DEFAULT_TIMEOUT_S = {"smoke": 180.0, "quick": 300.0, "full": 6 * 3600.0}
_COMPARE: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}
UNITS = ("", "ms", "MiB", "MB", "%", "pp", "x")


def fmt(value: Any, unit: str = "", digits: int | None = None) -> str:
    """A measured number as every table and figure shows it (``-`` when missing).

    ``%`` values are fractions (0.42 -> ``42.0 %``); ``pp`` are differences of fractions
    (percentage points, signed); ``x`` are ratios."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return "-"
    if unit == "%":
        return f"{100 * value:.{1 if digits is None else digits}f} %"
    if unit == "pp":
        return f"{100 * value:+.{1 if digits is None else digits}f} pp"
    if unit == "x":
        return f"{value:.{2 if digits is None else digits}f}x"
    if digits is None:
        digits = 0 if abs(value) >= 100 else (1 if abs(value) >= 1 or value == 0 else 2)
    text = f"{value:.{digits}f}"
    return f"{text} {unit}" if unit else text


@dataclass(frozen=True)
class Target:
    """One target: the measured value must be ``direction`` ``value`` (``<=``, ``>=``,
    ``<``, ``>``), in ``unit`` (see :func:`fmt`). ``key`` is unique across benchmarks;
    ``source`` names where it was set (an issue)."""

    key: str
    label: str
    direction: str
    value: float
    unit: str = ""
    source: str = ""

    def __post_init__(self) -> None:
        if self.direction not in _COMPARE:
            raise ValueError(f"target {self.key}: direction must be one of {sorted(_COMPARE)}")
        if self.unit not in UNITS:
            raise ValueError(f"target {self.key}: unit must be one of {UNITS}")

    def met(self, measured: Any) -> bool | None:
        """True/False when ``measured`` is a number, None when it was not measured."""
        if not isinstance(measured, (int, float)) or isinstance(measured, bool):
            return None
        if measured != measured:  # NaN: not measured
            return None
        return _COMPARE[self.direction](float(measured), self.value)

    def text(self) -> str:
        """``<= 150 ms``, ``>= 99 %``, ``> +0.0 pp``, ``>= 1.50x``."""
        value = fmt(self.value, self.unit, 0 if self.unit in ("%", "MiB", "MB") else None)
        return f"{self.direction} {value}"


MET, MISSED, NOT_MEASURED = "met", "**missed**", "not measured"


@dataclass(frozen=True)
class Row:
    """A summary row: what was measured, its value as shown, and the target it answers
    (``measured`` is the number compared with the target, in the target's unit)."""

    measure: str
    value: str
    target: Target | None = None
    measured: float | None = None

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.measured)

    def verdict(self) -> str:
        """``met``, ``**missed**``, ``not measured``; ``-`` for a row without a target."""
        if self.target is None:
            return "-"
        met = self.met
        return NOT_MEASURED if met is None else (MET if met else MISSED)

    def target_text(self) -> str:
        return "-" if self.target is None else self.target.text()


def row(
    measure: str,
    measured: Any,
    target: Target | None = None,
    unit: str | None = None,
    detail: str = "",
) -> Row:
    """A row whose value is ``measured`` formatted in the target's unit (or ``unit``),
    followed by ``detail`` (e.g. the baseline: ``(off 31.2 %)``)."""
    shown = fmt(measured, unit if unit is not None else (target.unit if target else ""))
    number = (
        float(measured)
        if isinstance(measured, (int, float)) and not isinstance(measured, bool)
        else None
    )
    return Row(measure, f"{shown} {detail}".strip(), target, number)


# figure(result, ctx, out) -> the PNG's file name in out (None: nothing to draw for this result)
Figure = Callable[[dict[str, Any], dict[str, Any], Path], "str | None"]


@dataclass(frozen=True)
class Benchmark:
    """A benchmark as ``superpose-ls bench`` sees it (see the module docstring)."""

    name: str  # module name under benchmarks/, key in results.json, output subdirectory
    title: str  # the report section's heading
    run: Callable[..., dict[str, Any]]
    rows: Callable[[dict[str, Any]], list[Row]]
    markdown: Callable[[dict[str, Any]], str]
    targets: tuple[Target, ...]
    sizes: Mapping[str, Mapping[str, Any]]  # mode -> keyword arguments of run
    figures: tuple[Figure, ...] = ()
    timeout_s: Mapping[str, float] = field(default_factory=dict)  # per mode, else default

    def runs_in(self, mode: str) -> bool:
        return mode in self.sizes

    def timeout(self, mode: str) -> float:
        return float(self.timeout_s.get(mode, DEFAULT_TIMEOUT_S[mode]))

    def execute(self, mode: str, model: str, out: Path) -> dict[str, Any]:
        """Run in this process with the mode's size; return the result."""
        if not self.runs_in(mode):
            raise ValueError(f"{self.name} does not run in {mode} mode")
        return self.run(mode, model, out, **dict(self.sizes[mode]))

    def check(self) -> list[str]:
        """What is wrong with this declaration (empty when it keeps the contract)."""
        problems = []
        if Path(inspect.getfile(self.run)).stem != self.name:
            problems.append(f"run() of {self.name} lives in {inspect.getfile(self.run)}")
        for mode, size in self.sizes.items():
            if mode not in MODES:
                problems.append(f"{self.name}: unknown mode {mode}")
                continue
            try:
                inspect.signature(self.run).bind(mode, "default", Path("."), **dict(size))
            except TypeError as exc:
                problems.append(f"{self.name}: run() does not take the {mode} size: {exc}")
        keys = [t.key for t in self.targets]
        if len(set(keys)) != len(keys):
            problems.append(f"{self.name}: a target key is declared twice")
        if not self.sizes:
            problems.append(f"{self.name}: runs in no mode")
        return problems


def load(name: str) -> Benchmark:
    """The plug-in declared by ``benchmarks.<name>``."""
    if name not in NAMES:
        raise KeyError(f"unknown benchmark {name!r} (known: {', '.join(NAMES)})")
    plugin = importlib.import_module(f"benchmarks.{name}").PLUGIN
    if not isinstance(plugin, Benchmark) or plugin.name != name:
        raise TypeError(f"benchmarks.{name}.PLUGIN is not the Benchmark named {name!r}")
    return plugin


def plugins(mode: str | None = None, names: Sequence[str] | None = None) -> list[Benchmark]:
    """The plug-ins (of ``names``, default all) that run in ``mode`` (default: any)."""
    chosen = [load(name) for name in (names or NAMES)]
    return [p for p in chosen if mode is None or p.runs_in(mode)]


def all_targets() -> dict[str, Target]:
    """Every declared target by key (raises when two benchmarks declare the same key)."""
    found: dict[str, Target] = {}
    for plugin in plugins():
        for target in plugin.targets:
            if target.key in found:
                raise ValueError(f"target {target.key} declared twice")
            found[target.key] = target
    return found


def safe_rows(plugin: Benchmark, result: dict[str, Any]) -> list[Row]:
    """The plug-in's rows; a result the rows cannot read becomes one row saying so."""
    try:
        return plugin.rows(result)
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError) as exc:
        return [Row(f"{plugin.name}: summary unavailable", repr(exc))]

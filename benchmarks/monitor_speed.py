"""Per-step cost of the member monitor (Agrawal et al. 2023) on real and synthetic vocabularies.

Measures, per decoding step and row, the time :class:`models.monitor.MemberMonitor`
adds (the oracle itself answers from a dict, so analysis time is excluded):

* ``constrained[set]``: the draft is spelling a member of ``set`` after ``obj.`` —
  a fresh monitor per member, one step per token of the member as the table
  spells it; the index's shared caches (suffix lookups, LRU of masks) are warm
  from earlier members, as they are from earlier requests in a server;
* ``constrained-cold[set]``: the same with every cache cleared before each member
  (the first completion after a receiver appears for the first time);
* ``constrained-warm``: the same steps again on a monitor that saw them (other
  drafts of the same request share the cache);
* ``waiting``: no trigger in sight (text ends in whitespace/punctuation);
* ``waiting-unknown``: text ends in an identifier whose receiver is unknown;
* ``crossing``: text ends in a known receiver, so ``.member`` tokens are checked.

Also reports the one-off cost of building the vocabulary index. Run:

    python benchmarks/monitor_speed.py [--tokenizer checkpoints/default] [--json out.json]
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

from models.monitor import MemberMonitor, may_end_receiver
from models.token_table import TokenTable
from models.vocab_index import build_vocab_index, vocab_index

ROOT = Path(__file__).resolve().parent.parent
MEMBER_SETS = {
    "str": frozenset(n for n in dir(str)),
    "os": frozenset(n for n in dir(os)),
    "large": frozenset(dir(str) + dir(os) + dir(list) + dir(dict) + dir(builtins) + dir(random)),
}


class DictOracle:
    """Answers every member query with one fixed set (or None)."""

    def __init__(self, members: frozenset[str] | None) -> None:
        self.answer = members

    def members(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        return self.answer


def real_table(path: Path) -> TokenTable:
    """Return the token table of the HF tokenizer directory at ``path``."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    return TokenTable.from_tokenizer(tokenizer)


def synthetic_table(size: int = 50_000, seed: int = 0) -> TokenTable:
    """Return a code-like vocabulary of ``size`` surfaces (identifier pieces, dots, punctuation)."""
    rng = random.Random(seed)
    words = sorted({w for s in MEMBER_SETS.values() for w in s} | set(dir(torch)))
    pieces = sorted({w[i:j] for w in words for i in range(len(w)) for j in (i + 2, i + 4)})
    punct = list("()[]{}:;,.=+-*/%<>!&|^~@'\"#\\") + ["(", "()", "):", "],", "'", '"', "\n"]
    surfaces: set[bytes] = {bytes([b]) for b in range(256)}
    while len(surfaces) < size:
        kind = rng.random()
        word = rng.choice(words) if rng.random() < 0.5 else rng.choice(pieces)
        if kind < 0.35:
            text = word
        elif kind < 0.6:
            text = " " + word
        elif kind < 0.7:
            text = "." + word
        elif kind < 0.8:
            text = word + rng.choice(punct)
        elif kind < 0.9:
            text = "".join(rng.choice(punct) for _ in range(rng.randint(1, 3)))
        else:
            text = "\n" + " " * rng.randint(0, 12) + (word if rng.random() < 0.5 else "")
        surfaces.add(text.encode())
    ordered = [b""] + sorted(surfaces)  # id 0: special (EOS)
    return TokenTable.from_surfaces(ordered, special={0})


def greedy_spelling(table: TokenTable, text: str) -> list[int]:
    """Return ids spelling ``text`` by longest-match over the table (any valid spelling)."""
    by_surface = {s: i for i, s in enumerate(table.surfaces) if s}
    data, out = text.encode(), []
    longest = max(len(s) for s in by_surface)
    while data:
        for n in range(min(len(data), longest), 0, -1):
            if data[:n] in by_surface:
                out.append(by_surface[data[:n]])
                data = data[n:]
                break
    return out


def timed(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000.0


def step_cost(monitor: MemberMonitor, ids: list[int], scores: torch.Tensor) -> float:
    """Return ms of one monitor call on one row with generated ``ids``."""
    generated = torch.tensor([ids], dtype=torch.long).reshape(1, len(ids))  # (1, t)
    return timed(lambda: monitor(generated, scores))


def measure(table: TokenTable, rng: random.Random) -> dict[str, dict[str, float]]:
    """Return p50/p99 (ms) per step kind for ``table``."""
    v = table.vocab_size
    index = vocab_index(table)
    scores = torch.randn(1, v)  # (1, V)
    costs: dict[str, list[float]] = {}
    eos = frozenset({0}) if bool(table.special[0]) else frozenset()
    # constrained steps: spell members after "obj." (fresh monitor = cold caches)
    for name, members in MEMBER_SETS.items():
        sample = rng.sample(sorted(members), min(60, len(members)))
        for member in sample:
            ids = greedy_spelling(table, member + "(")
            index.clear_caches()
            monitor = MemberMonitor(table, DictOracle(members), "x = obj.", eos)
            cold = [step_cost(monitor, ids[:t], scores) for t in range(len(ids))]
            monitor = MemberMonitor(table, DictOracle(members), "x = obj.", eos)
            shared = [step_cost(monitor, ids[:t], scores) for t in range(len(ids))]
            warm = [step_cost(monitor, ids[:t], scores) for t in range(len(ids))]
            costs.setdefault(f"constrained-cold[{name}]", []).extend(cold)
            costs.setdefault(f"constrained[{name}]", []).extend(shared)
            costs.setdefault("constrained-warm", []).extend(warm)
    # waiting steps: the draft so far ends in punctuation or whitespace
    plain = greedy_spelling(table, "    return foo(a, b) + [1, 2]\n")
    monitor = MemberMonitor(table, DictOracle(MEMBER_SETS["str"]), "x = (", eos)
    for _ in range(20):
        for t in range(len(plain)):
            if not may_end_receiver("x = (" + table.decode(plain[:t])):
                costs.setdefault("waiting", []).append(step_cost(monitor, plain[:t], scores))
        monitor = MemberMonitor(table, DictOracle(MEMBER_SETS["str"]), "x = (", eos)
    # waiting on an identifier whose receiver is unknown
    for _ in range(200):
        monitor = MemberMonitor(table, DictOracle(None), "x = foo", eos)
        costs.setdefault("waiting-unknown", []).append(step_cost(monitor, [], scores))
    # crossing check: the text ends in a known receiver (cold: caches cleared)
    for members in MEMBER_SETS.values():
        for _ in range(30):
            index.clear_caches()
            monitor = MemberMonitor(table, DictOracle(members), "x = obj", eos)
            costs.setdefault("crossing", []).append(step_cost(monitor, [], scores))
    return {
        kind: {
            "p50_ms": statistics.median(values),
            "p99_ms": sorted(values)[min(len(values) - 1, int(0.99 * len(values)))],
            "steps": len(values),
        }
        for kind, values in costs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokenizer", type=Path, default=ROOT / "checkpoints" / "default")
    parser.add_argument("--synthetic-size", type=int, default=50_000)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    rng = random.Random(0)
    tables: dict[str, TokenTable] = {}
    if (args.tokenizer / "tokenizer.json").is_file():
        tables["default tokenizer (V={0})"] = real_table(args.tokenizer)
    tables["synthetic (V={0})"] = synthetic_table(args.synthetic_size)
    report: dict[str, object] = {}
    for label, table in tables.items():
        label = label.format(table.vocab_size)
        build_ms = timed(lambda table=table: build_vocab_index(table))
        vocab_index(table)  # cache it on the table before timing steps
        rows = measure(table, rng)
        report[label] = {"index_build_ms": build_ms, "steps": rows}
        print(f"\n{label}: index built in {build_ms:.0f} ms")
        print(f"  {'step kind':<22}{'p50 ms':>10}{'p99 ms':>10}{'steps':>8}")
        for kind, row in rows.items():
            print(f"  {kind:<22}{row['p50_ms']:>10.3f}{row['p99_ms']:>10.3f}{row['steps']:>8}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

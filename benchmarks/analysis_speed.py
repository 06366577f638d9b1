"""Micro-benchmark of the member oracle used by monitor-guided decoding.

Monitor-guided decoding (Agrawal et al. 2023) queries the static analysis on many decoding
steps, so ``MemberOracle.members`` must be cheap. This script samples cursor positions
inside method bodies of a few standard-library files and prints p50/p99 latencies (µs) of:

- fresh resolution: a new oracle, first ``members("self")``/module-alias query (builds the
  lexical base, one incremental re-parse for the environment, and resolves the receiver);
- cache hit: the same query again;
- new draft text, same statement: ``members(extra)`` for growing draft text on one line
  ending in an identifier (lexes the current line, re-reads the receiver);
- non-trigger: draft text that cannot precede a member access (ends in a space or ``(``);
- in-comment: draft text ending in an identifier inside a comment.

Usage: ``python benchmarks/analysis_speed.py [--files N] [--positions N]``
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sysconfig
import time
from pathlib import Path

from analysis.context import member_oracle
from analysis.document import Document

FILES = ["json/decoder.py", "textwrap.py", "argparse.py", "configparser.py", "logging/__init__.py"]


def percentiles(samples: list[float]) -> str:
    samples = sorted(samples)
    p50 = statistics.median(samples)
    p99 = samples[min(len(samples) - 1, int(0.99 * len(samples)))]
    return f"p50 {p50:8.1f} µs   p99 {p99:8.1f} µs   (n={len(samples)})"


def method_body_offsets(text: str, count: int, rng: random.Random) -> list[int]:
    """Offsets at the end of lines that start with 8 spaces (inside a method body)."""
    offsets = [m.end() for m in re.finditer(r"^        \S[^\n]*$", text, re.M)]
    rng.shuffle(offsets)
    return offsets[:count]


def timed(function, *args) -> float:
    start = time.perf_counter()
    function(*args)
    return (time.perf_counter() - start) * 1e6


def measure(documents, positions: int, seed: int) -> dict[str, list[float]]:
    """Latencies (µs) of the query kinds over sampled method-body positions."""
    rng = random.Random(seed)
    samples: dict[str, list[float]] = {
        "fresh": [],
        "hit": [],
        "growing": [],
        "non_trigger": [],
        "in_comment": [],
    }
    resolved = 0
    for document in documents:
        text = document.text
        aliases = re.findall(r"^import (\w+)$", text, re.M) or ["self"]
        for offset in method_body_offsets(text, positions, rng):
            oracle = member_oracle(document, offset, None)
            receiver = "\n        " + rng.choice(["self", aliases[0]])
            samples["fresh"].append(timed(oracle.members, receiver))
            resolved += oracle.members(receiver) is not None
            samples["hit"].append(timed(oracle.members, receiver))
            draft = "\n        result = self.helper(value"
            for end in range(len("\n        r"), len(draft) + 1):
                samples["growing"].append(timed(oracle.members, draft[:end]))
            samples["non_trigger"].append(timed(oracle.members, "\n        x = foo("))
            samples["non_trigger"].append(timed(oracle.members, "\n        x = "))
            samples["in_comment"].append(timed(oracle.members, "  # see self"))
    samples["resolved"] = [resolved]
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=len(FILES))
    parser.add_argument("--positions", type=int, default=40)
    args = parser.parse_args()
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    documents = [
        Document((stdlib / name).as_uri(), (stdlib / name).read_text(), "python")
        for name in FILES[: args.files]
    ]
    cold = measure(documents, args.positions, seed=0)  # parses imported stdlib modules
    warm = measure(documents, args.positions, seed=0)  # same queries, stdlib cache warm
    total = len(warm["fresh"])
    print(
        f"files: {', '.join(FILES[: args.files])}; receivers resolved: {warm['resolved'][0]}/{total}"
    )
    print(f"fresh resolution, cold stdlib  {percentiles(cold['fresh'])}")
    print(f"fresh resolution, warm stdlib  {percentiles(warm['fresh'])}")
    print(f"cache hit                      {percentiles(warm['hit'])}")
    print(f"growing draft (same statement) {percentiles(warm['growing'])}")
    print(f"non-trigger                    {percentiles(warm['non_trigger'])}")
    print(f"identifier inside a comment    {percentiles(warm['in_comment'])}")


if __name__ == "__main__":
    main()

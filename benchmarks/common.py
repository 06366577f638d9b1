"""Shared helpers of the benchmark scripts: machine facts, held-out cases, metrics, output.

Line-completion metrics follow the Code4Me evaluation (Izadi et al. 2024, "Language
Models for Code Completion: A Practical Evaluation", ICSE): exact match of the completed
rest-of-line, and edit similarity ``1 - Levenshtein(a, b) / max(len(a), len(b))``.
Held-out code comes from the standard-library files kept out of training
(:func:`models.corpus.split_files`), or from the list recorded next to a model's
weights (``heldout.txt``) so a model is always measured on the files it never saw.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.corpus import CorpusFile, split_files, stdlib_root
from models.loader import fim_tokens

_IDENT = re.compile(r"[^\W\d]\w*")


# ------------------------------------------------------------------ machine


def cpu_model() -> str:
    """Return the CPU model name from /proc/cpuinfo (or the platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict[str, Any]:
    """Return the facts a benchmark number depends on: CPU, cores, library versions."""
    import torch
    import transformers

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 1,
        "usable_cores": usable,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }


# ------------------------------------------------------------------ command line


def add_model_arguments(parser: argparse.ArgumentParser, out: str | Path) -> None:
    """Add the options every model benchmark takes: --model, --seed, --out, --threads."""
    parser.add_argument("--model", default="default", help="'default' or a local HF model dir")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(out))
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch default)")


def use_threads(threads: int) -> None:
    """Run torch on ``threads`` threads (0 keeps torch's choice).

    Call it after loading the model: the loader picks its own thread count.
    """
    import torch

    if threads:
        torch.set_num_threads(threads)


def run_opened(lm: Any, background: Any, doc: Any, offset: int, options: Any) -> Any:
    """Return the served pipeline's result for one request on ``doc`` as the engine runs
    it with the document open: the workspace n-grams hold the document's tokens."""
    from lsp_server.pipeline import CompletionPipeline
    from models.ngram import NgramModel, WorkspaceNgrams

    ngrams = NgramModel(background, WorkspaceNgrams(lm.vocab_size))
    ngrams.workspace.set_document(doc.uri, lm.encode(doc.text))
    return CompletionPipeline(lm, ngrams).run(doc, offset, options)


# ------------------------------------------------------------------ held-out code


def heldout_files(model_dir: Path | None = None) -> list[CorpusFile]:
    """Return the held-out stdlib files: ``model_dir/heldout.txt`` when present, else the split."""
    listing = model_dir / "heldout.txt" if model_dir is not None else None
    if listing is not None and listing.is_file():
        root = stdlib_root()
        names = [n.strip() for n in listing.read_text().splitlines() if n.strip()]
        files = [CorpusFile(n, root / n) for n in names]
        present = [f for f in files if f.path.is_file()]
        if present:
            return present
    return split_files()[1]


def heldout_halves(files: Sequence[CorpusFile]) -> tuple[list[CorpusFile], list[CorpusFile]]:
    """Return (calibration, evaluation) halves of held-out files, by a hash of their path.

    Ghost-text confidence is calibrated on the first half (``benchmarks.calibration``);
    the typing benchmark measures on the second, so it never scores its own fit.
    """
    import hashlib

    calibration, evaluation = [], []
    for f in files:
        digest = hashlib.sha1(("calibration:" + f.relpath).encode()).digest()
        (calibration if digest[0] % 2 == 0 else evaluation).append(f)
    return calibration, evaluation


KINDS = ("eol", "mid", "next_line")
# what an editor auto-closes after the cursor: brackets and quotes, maybe a block colon
_CLOSERS = re.compile(r"[)\]}'\"]+:?$")


@dataclass(frozen=True)
class LineCase:
    """A line-completion case: the document with the target cut out, the cursor, the target.

    ``document = text[:offset] + text[offset + len(target):]`` (the target cut out) and the
    cursor sits at ``offset``. ``target`` is what the completion should insert. Kinds, in
    the style of Code4Me's evaluation (completion of the rest of the line at a random
    cursor, with nothing or something after the cursor on that line):

    * ``eol``: end-of-line mask. A random cursor inside a line's code; the rest of the
      line is the target, so the cursor ends the line.
    * ``mid``: mid-line mask. A line that ends in closing brackets/quotes (what editors
      auto-close), a random cursor before them; the target runs from the cursor to them
      and they stay after the cursor (``line_suffix``), e.g. ``print(|)``.
    * ``next_line``: the cursor at the end of a line; the target is a newline and the
      whole next line (a harder, whole-line task).

    ``mid_word`` marks a cursor inside an identifier.
    """

    source: str
    document: str
    offset: int
    target: str
    kind: str
    mid_word: bool = False
    line_suffix: str = ""

    @property
    def target_line(self) -> str:
        """The target without the leading newline of next-line cases."""
        return self.target[1:] if self.kind == "next_line" else self.target


def _ident_char(c: str) -> bool:
    return c == "_" or c.isalnum()


def _raw_line(text: str, line_starts: list[int], i: int) -> str:
    """Return line ``i`` of ``text`` without its newline."""
    end = line_starts[i + 1] - 1 if i + 1 < len(line_starts) else len(text)
    return text[line_starts[i] : end]


def next_line_case(source: str, text: str, line_starts: list[int], i: int) -> LineCase | None:
    """Return the case predicting line ``i`` from the end of line ``i - 1``."""
    if i < 1 or i >= len(line_starts) - 1:
        return None
    raw = _raw_line(text, line_starts, i)
    line = raw.rstrip()
    if len(line.strip()) < 2:
        return None
    cursor = line_starts[i] - 1  # the "\n" ending line i - 1
    end = line_starts[i] + len(raw)  # the "\n" ending line i
    document = text[:cursor] + text[end:]
    return LineCase(source, document, cursor, "\n" + line, "next_line")


def _cursor_case(
    source: str,
    text: str,
    start: int,
    line: str,
    stop: int,
    cut_end: int,
    rng: random.Random,
    kind: str,
    line_suffix: str = "",
) -> LineCase | None:
    """Return a case with a random cursor in the code of ``line`` (starting at offset
    ``start``) before column ``stop``; the target runs to ``stop``, ``text`` is cut from
    the cursor to offset ``cut_end``."""
    indent = len(line) - len(line.lstrip())
    if stop - indent < 3:
        return None
    col = rng.randrange(indent + 1, stop)  # >= 1 code char before, >= 1 in the target
    cursor = start + col
    mid_word = _ident_char(line[col - 1]) and _ident_char(line[col])
    document = text[:cursor] + text[cut_end:]
    return LineCase(source, document, cursor, line[col:stop], kind, mid_word, line_suffix)


def eol_case(
    source: str, text: str, line_starts: list[int], i: int, rng: random.Random
) -> LineCase | None:
    """Return an end-of-line mask: a random cursor in line ``i``, the rest of the line cut."""
    raw = _raw_line(text, line_starts, i)
    line = raw.rstrip()
    start = line_starts[i]
    return _cursor_case(source, text, start, line, len(line), start + len(raw), rng, "eol")


def mid_case(
    source: str, text: str, line_starts: list[int], i: int, rng: random.Random
) -> LineCase | None:
    """Return a mid-line mask: the code between a random cursor and the closers ending line ``i``."""
    line = _raw_line(text, line_starts, i).rstrip()
    closers = _CLOSERS.search(line)
    if closers is None or line.lstrip().startswith("#"):
        return None
    stop, start = closers.start(), line_starts[i]
    return _cursor_case(source, text, start, line, stop, start + stop, rng, "mid", line[stop:])


def sample_line_cases(
    texts: Sequence[tuple[str, str]], n: int, seed: int, min_lines: int = 20
) -> list[LineCase]:
    """Return ``n`` seeded cases, cycling through :data:`KINDS`, from ``texts``.

    ``texts`` holds (name, source) pairs; files are drawn with probability proportional to
    their line count, so every held-out line is equally likely (for mid-line cases, every
    line that ends in closers).
    """
    usable = [(name, text) for name, text in texts if text.count("\n") >= min_lines]
    if not usable or n <= 0:
        return []
    rng = random.Random(seed)
    weights = [text.count("\n") for _, text in usable]
    starts: dict[str, list[int]] = {}
    cases: list[LineCase] = []
    attempts = 0
    while len(cases) < n and attempts < 100 * n:
        attempts += 1
        name, text = rng.choices(usable, weights)[0]
        if name not in starts:
            starts[name] = [0] + [m.end() for m in re.finditer("\n", text)]
        line_starts = starts[name]
        i = rng.randrange(1, len(line_starts) - 1)
        kind = KINDS[len(cases) % len(KINDS)]
        if kind == "next_line":
            case = next_line_case(name, text, line_starts, i)
        elif kind == "eol":
            case = eol_case(name, text, line_starts, i, rng)
        else:
            case = mid_case(name, text, line_starts, i, rng)
        if case is not None:
            cases.append(case)
    return cases


# ------------------------------------------------------------------ FIM sentinels


def with_fim(lm: Any) -> Any:
    """Return ``lm`` with its tokenizer's FIM sentinels enabled (when it has them).

    A model may ship ``superpose.json`` with ``{"fim": false}`` so the engine serves
    prefix-only prompts; the evaluation still measures FIM to back that choice.
    """
    return lm if lm.fim is not None else dataclasses.replace(lm, fim=fim_tokens(lm.tokenizer))


# ------------------------------------------------------------------ metrics


def levenshtein(a: str, b: str) -> int:
    """Return the edit distance (insertions, deletions, substitutions) of ``a`` and ``b``."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(prediction: str, target: str) -> float:
    """Return ``1 - Levenshtein / max(len)`` of the right-stripped strings (1.0 if both empty)."""
    a, b = prediction.rstrip(), target.rstrip()
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein(a, b) / longest


def exact_match(prediction: str, target: str) -> bool:
    """Return True when the strings agree up to trailing whitespace (indentation counts)."""
    return prediction.rstrip() == target.rstrip()


def first_identifier(text: str) -> str:
    """Return the identifier ``text`` starts with ("" when it starts with anything else)."""
    match = _IDENT.match(text)
    return match.group(0) if match else ""


def percentiles(values: Sequence[float], points: Sequence[int] = (50, 95, 99)) -> dict[str, Any]:
    """Return ``{"count", "mean", "p50", ...}`` (nearest-rank percentiles, rounded to 1e-4)."""
    if not values:
        return {"count": 0}
    ordered = sorted(values)
    out: dict[str, Any] = {
        "count": len(ordered),
        "mean": round(sum(ordered) / len(ordered), 4),
    }
    for p in points:
        rank = max(1, -(-p * len(ordered) // 100))  # ceil(p/100 * n), nearest-rank method
        out[f"p{p}"] = round(ordered[rank - 1], 4)
    return out


def rate(flags: Sequence[bool | float]) -> float | None:
    """Return the mean of ``flags`` rounded to 1e-4 (None when empty)."""
    return round(sum(float(f) for f in flags) / len(flags), 4) if flags else None


# ------------------------------------------------------------------ output


def model_disk_bytes(path: Path) -> dict[str, int]:
    """Return the bytes of the weight files and of the whole model directory."""
    files = [p for p in path.iterdir() if p.is_file()] if path.is_dir() else []
    weights = sum(p.stat().st_size for p in files if p.suffix == ".safetensors")
    return {"weights": weights, "directory": sum(p.stat().st_size for p in files)}


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """Return a GitHub markdown table (floats shown with 3 decimals, None as a dash)."""

    def cell(value: Any) -> str:
        if value is None:
            return "–"
        if isinstance(value, float):
            return f"{value:.3f}"
        return str(value).replace("|", "\\|")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_outputs(out: Path, name: str, data: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """Write ``out/name.json`` and ``out/name.md``; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / f"{name}.json", out / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
    md_path.write_text(markdown)
    return json_path, md_path

"""Resolution coverage and cost of the member oracle on held-out standard-library files.

Monitor-guided decoding (Agrawal et al. 2023, "Guiding Language Models of Code with Global
Context using Monitors") can only constrain a ``receiver.`` whose members the static
analysis resolves with certainty. This script measures, over *every* member access of the
held-out files (each ``attribute`` node of the tree-sitter tree, i.e. each ``.`` in code):

- the share of points whose receiver the oracle resolves (``members("", 1)`` is a set),
  with the document as an editor holds it: the rest of the line after the ``.`` cut out,
  the code after it present (as in benchmarks/dotprompts.py), no workspace (the stdlib is
  read from source);
- the share by receiver shape (``self``/``cls``, plain name, dotted chain, call, literal,
  subscript, other);
- soundness: resolved points whose real next identifier (what the file spells after the
  ``.``) is not in the member set -- except where that line assigns the attribute (the
  statement being written creates it; the document has the rest of that line cut);
- the analysis cost of one request (a fresh ``member_oracle`` plus its first ``members``
  query) at sampled points of a ~2,000-line file, p50/p95 in ms of the thread's CPU time
  (wall time on a shared machine also counts other processes), stdlib cache warm.

With ``--nodes`` it also resolves every receiver as a tree node of the complete file
(``PythonResolver.receiver_members``): what a cursor layer that hands over the receiver node
gets, literals, subscripts and ``super()`` included. ``--cost-only`` skips the coverage;
``--unresolved N`` lists the N receivers (by text) left open most often.

It imports only ``analysis`` (no torch). Reproduce with::

    .venv/bin/python scripts/resolution_coverage.py --nodes
    .venv/bin/python scripts/resolution_coverage.py --nodes --analysis-root /tmp/baseline

``--analysis-root`` puts another checkout's ``analysis`` package first on ``sys.path`` (e.g.
``git archive <commit> analysis | tar -x -C /tmp/baseline``) to compare before/after.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import sys
import sysconfig
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
HELDOUT = REPO / "models" / "default_model" / "heldout.txt"
COST_FILE = "logging/__init__.py"  # 2,273 lines, held out
_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_CONTINUATION = re.compile(r"[ \t]*(?:\\\r?\n[ \t]*)*")
# after the name: ``= v``, ``+= v``, ``: T = v`` or more targets ``, other.name = v``
_ASSIGNED = re.compile(r"\s*(?:,\s*[\w.]+\s*)*(?:[-+*/%&|^@<>]{1,3})?=(?!=)|\s*:[^=\n]*=(?!=)")


def heldout_paths(listing: Path) -> list[tuple[str, Path]]:
    """(name, path) of the held-out files present under this interpreter's stdlib."""
    root = Path(sysconfig.get_paths()["stdlib"])
    names = [n.strip() for n in listing.read_text().splitlines() if n.strip()]
    return [(n, root / n) for n in names if (root / n).is_file()]


def receiver_shape(text: str) -> str:
    """A coarse label of the receiver expression's text."""
    text = text.strip()
    if text in ("self", "cls"):
        return "self/cls"
    if text.isidentifier():
        return "name"
    if text[:1] in "\"'" or text[:2].lower() in ("b'", 'b"', "f'", 'f"', "r'", 'r"'):
        return "literal"
    if text[:1] in "[{(" or text[:1].isdigit():
        return "literal"
    if text.endswith(")"):
        return "call"
    if text.endswith("]"):
        return "subscript"
    if all(part.isidentifier() for part in text.split(".")):
        return "dotted"
    return "other"


def dot_points(text: str) -> list[tuple[int, str]]:
    """(offset of the ``.``, receiver text) of every member access in ``text`` (Python)."""
    from analysis.languages import parser_for

    data = text.encode("utf-8")
    tree = parser_for("python").parse(data)
    points: list[tuple[int, int, str]] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "attribute":
            obj = node.child_by_field_name("object")
            dot = next((c for c in node.children if c.type == "."), None)
            if obj is not None and dot is not None:
                receiver = data[obj.start_byte : obj.end_byte].decode("utf-8", "replace")
                points.append((dot.start_byte, receiver))
        stack.extend(node.children)
    points.sort()
    # byte offsets -> code-point offsets
    result = []
    for byte, receiver in points:
        result.append((len(data[:byte].decode("utf-8", "replace")), receiver))
    return result


def cut_document(text: str, dot: int) -> str:
    """The file with the rest of the line after the ``.`` at ``dot`` cut out."""
    line_end = text.find("\n", dot)
    line_end = len(text) if line_end < 0 else line_end
    return text[: dot + 1] + text[line_end:]


def resolve_point(uri: str, text: str, dot: int) -> frozenset[str] | None:
    """The oracle's member set for the receiver before the ``.`` at ``dot`` (None: open)."""
    from analysis.context import member_oracle
    from analysis.document import Document

    document = Document(uri, cut_document(text, dot), "python")
    return member_oracle(document, dot + 1, None).members("", 1)


def actual_member(text: str, dot: int) -> tuple[str, bool]:
    """(the identifier the file spells after the ``.``, whether it is assigned there)."""
    # ``obj. \`` + newline + ``name``: the name follows a backslash continuation
    start = _CONTINUATION.match(text, dot + 1).end()
    match = _IDENTIFIER.match(text, start)
    name = match.group(0) if match else ""
    rest = text[start + len(name) : text.find("\n", start) if "\n" in text[start:] else None]
    assigned = bool(_ASSIGNED.match(rest))
    return name, assigned


def coverage(files: list[tuple[str, Path]], limit: int | None, seed: int) -> dict:
    """Resolved share over all (or ``limit`` sampled) dot points of ``files``."""
    points = []
    for name, path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        for dot, receiver in dot_points(text):
            points.append((name, path, text, dot, receiver))
    if limit is not None and limit < len(points):
        points = random.Random(seed).sample(points, limit)
    resolved = Counter()
    total = Counter()
    unresolved: Counter[tuple[str, str]] = Counter()
    violations = []
    for name, path, text, dot, receiver in points:
        shape = receiver_shape(receiver)
        total[shape] += 1
        members = resolve_point(path.as_uri(), text, dot)
        if members is None:
            unresolved[(shape, " ".join(receiver.split()))] += 1
        else:
            resolved[shape] += 1
            actual, assigned = actual_member(text, dot)
            if actual not in members and not assigned:
                line = text.count("\n", 0, dot) + 1
                violations.append(f"{name}:{line} {receiver}.{actual}")
    all_points = sum(total.values())
    return {
        "points": all_points,
        "resolved": sum(resolved.values()),
        "share": sum(resolved.values()) / max(1, all_points),
        "violations": violations,
        "by_shape": {
            shape: {"points": total[shape], "resolved": resolved[shape]}
            for shape in sorted(total, key=lambda s: -total[s])
        },
        # the receivers left open most often: where resolution could grow next
        "unresolved": [
            {"shape": shape, "receiver": receiver, "points": count}
            for (shape, receiver), count in unresolved.most_common()
        ],
    }


def node_coverage(files: list[tuple[str, Path]]) -> dict:
    """Resolved share when the resolver gets each receiver as a tree node of the whole file.

    What a cursor layer that hands over the receiver node (issue 14, item 1) gets: literals,
    subscripts, ``super()`` and comprehension variables resolve too. The file is complete
    here (nothing cut after the ``.``).
    """
    from analysis.languages import parser_for
    from analysis.python_symbols import PyModule
    from analysis.resolution import PythonResolver
    from analysis.workspace import default_stdlib

    total = resolved = 0
    violations = []
    for name, path in files:
        data = path.read_bytes()
        tree = parser_for("python").parse(data)
        module = PyModule(
            data, tree, path, default_stdlib().name_of(path), path.name == "__init__.py", True
        )
        resolver = PythonResolver(default_stdlib())
        stack = [tree.root_node]
        while stack:
            node = stack.pop()
            stack.extend(node.children)
            if node.type != "attribute":
                continue
            obj, attr = node.child_by_field_name("object"), node.child_by_field_name("attribute")
            if obj is None or attr is None:
                continue
            total += 1
            if hasattr(resolver, "receiver_members"):
                members = resolver.receiver_members(module, obj)
            else:  # an analysis package from before receiver_members
                members = resolver.members(resolver.expression_type(module, obj))
            if members is None:
                continue
            resolved += 1
            actual = module.text(attr)
            parent = node.parent
            stored = parent is not None and parent.type in ("assignment", "augmented_assignment")
            if actual not in members and not stored:
                violations.append(f"{name}:{node.start_point[0] + 1} {module.text(node)[:60]}")
    return {
        "points": total,
        "resolved": resolved,
        "share": resolved / max(1, total),
        "violations": violations,
    }


def cost(path: Path, samples: int, seed: int) -> dict:
    """ms per request (fresh oracle + first query) at sampled dot points of ``path``."""
    from analysis.context import member_oracle
    from analysis.document import Document

    text = path.read_text(encoding="utf-8")
    points = dot_points(text)
    chosen = random.Random(seed).sample(points, min(samples, len(points)))
    documents = [
        (Document(path.as_uri(), cut_document(text, dot), "python"), dot) for dot, _ in chosen
    ]
    for document, dot in documents[:50]:  # warm the stdlib module cache
        member_oracle(document, dot + 1, None).members("", 1)
    cpu, wall = [], []
    for document, dot in documents:
        start_cpu, start_wall = time.thread_time(), time.perf_counter()
        member_oracle(document, dot + 1, None).members("", 1)
        cpu.append((time.thread_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start_wall) * 1000)
    cpu.sort()
    wall.sort()
    return {
        "file": str(path),
        "lines": text.count("\n") + 1,
        "requests": len(cpu),
        "p50_ms": statistics.median(cpu),
        "p95_ms": cpu[min(len(cpu) - 1, int(0.95 * len(cpu)))],
        "wall_p50_ms": statistics.median(wall),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--heldout", type=Path, default=HELDOUT)
    parser.add_argument("--analysis-root", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None, help="sample this many dot points")
    parser.add_argument("--cost-samples", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cost-only", action="store_true", help="skip the coverage pass")
    parser.add_argument(
        "--nodes", action="store_true", help="also resolve every receiver as a tree node"
    )
    parser.add_argument(
        "--unresolved",
        type=int,
        default=0,
        metavar="N",
        help="list the N receivers (by text) left open most often",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(args.analysis_root or REPO))
    import analysis

    files = heldout_paths(args.heldout)
    result = {
        "analysis": str(Path(analysis.__file__).parent),
        "files": len(files),
        "coverage": None if args.cost_only else coverage(files, args.limit, args.seed),
        "node_coverage": None if args.cost_only or not args.nodes else node_coverage(files),
        "cost": cost(Path(sysconfig.get_paths()["stdlib"]) / COST_FILE, args.cost_samples, 1),
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    cov = result["coverage"]
    print(f"analysis package: {result['analysis']}")
    if cov is None:
        cov = {"points": 0, "resolved": 0, "share": 0.0, "violations": [], "by_shape": {}}
    print(
        f"held-out files: {result['files']}; dot points: {cov['points']}; "
        f"resolved: {cov['resolved']} ({100 * cov['share']:.1f} %)"
    )
    print(f"resolved points whose real next identifier is not in the set: {len(cov['violations'])}")
    for violation in cov["violations"][:20]:
        print(f"  {violation}")
    for shape, row in cov["by_shape"].items():
        share = 100 * row["resolved"] / max(1, row["points"])
        print(f"  {shape:10s} {row['resolved']:6d} / {row['points']:6d}  ({share:5.1f} %)")
    if args.unresolved:
        print(f"receivers left open most often (top {args.unresolved}):")
        for row in cov.get("unresolved", [])[: args.unresolved]:
            print(f"  {row['points']:5d}  {row['shape']:10s} {row['receiver'][:70]}")
    nodes = result["node_coverage"]
    if nodes is not None:
        print(
            f"receiver nodes of the complete files: {nodes['points']}; resolved: "
            f"{nodes['resolved']} ({100 * nodes['share']:.1f} %); not in the set: "
            f"{len(nodes['violations'])}"
        )
        for violation in nodes["violations"][:20]:
            print(f"  {violation}")
    c = result["cost"]
    print(
        f"cost per request on {COST_FILE} ({c['lines']} lines, {c['requests']} requests): "
        f"CPU p50 {c['p50_ms']:.2f} ms, p95 {c['p95_ms']:.2f} ms (wall p50 {c['wall_p50_ms']:.2f})"
    )


if __name__ == "__main__":
    main()

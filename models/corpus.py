"""The training corpus of the default model: the Python code every machine with Python has.

Two corpora, both available wherever the package is installed, so the default
model can be retrained anywhere (``superpose-ls train``):

* ``stdlib``: the standard library's own sources, test suites excluded. A
  deterministic held-out split (by a hash of the file's path relative to the
  stdlib root) is kept aside for evaluation and recorded next to the shipped weights.
* ``extended``: the ``stdlib`` training split, plus the standard library's test
  suites and the pure-Python packages of the running environment's
  ``site-packages`` (at most :data:`PACKAGE_CAP` characters per top-level package,
  so no single project dominates; generated data files and vendored copies of
  other projects skipped). Any file that is a near-copy of a held-out file
  (vendored backports such as ``setuptools/_distutils``) is dropped
  (:func:`near_copy_filter` compares hashed long lines), and so is any file that
  mostly repeats files already taken (:func:`dedupe_files`: "Copied from" model
  code, forks). :func:`package_sources` names the distribution and licence of each
  site-packages entry, recorded with the model.
"""

from __future__ import annotations

import hashlib
import os
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

EXCLUDED_DIRS = frozenset(
    {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
)
HELDOUT_PERCENT = 5
MAX_FILE_BYTES = 400_000
PACKAGE_CAP = 8_000_000  # characters taken per top-level site-packages entry
NEAR_COPY = 0.2  # share of a file's long lines found in held-out files that drops it
DUPLICATE = 0.5  # share of a file's long lines already taken that drops it (dedupe_files)
VENDORED_DIRS = frozenset(
    {"_vendor", "vendor", "_vendored", "vendored", "_extern", "extern", "third_party", "_bundled"}
)
LONG_LINE = 20  # lines at least this long (stripped) are compared by near_copy_filter
EXCLUDED_PYCACHE = frozenset({"__pycache__"}) | VENDORED_DIRS
INSTALLED_DIRS = frozenset({"site-packages", "dist-packages", "__pycache__"})  # not the stdlib


@dataclass(frozen=True)
class CorpusFile:
    """One source file of the corpus, with its path relative to the stdlib root."""

    relpath: str
    path: Path

    def read(self) -> str:
        return self.path.read_text(encoding="utf-8", errors="replace")


def stdlib_root() -> Path:
    """Return the directory of this interpreter's pure-Python standard library."""
    return Path(sysconfig.get_paths()["stdlib"])


def is_heldout(relpath: str) -> bool:
    """Return True when a file belongs to the held-out split (stable across machines)."""
    digest = hashlib.sha1(relpath.replace(os.sep, "/").encode()).digest()
    return digest[0] * 100 // 256 < HELDOUT_PERCENT


def _walk_py(root: Path, excluded: frozenset[str]) -> Iterable[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in excluded)
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.endswith(".py") and not path.is_symlink():
                if path.stat().st_size <= MAX_FILE_BYTES:
                    yield path


def stdlib_files(root: Path | None = None) -> list[CorpusFile]:
    """Return all non-test ``.py`` files of the standard library, sorted by path."""
    root = root or stdlib_root()
    return [
        CorpusFile(path.relative_to(root).as_posix(), path)
        for path in _walk_py(root, EXCLUDED_DIRS)
        if not path.name.startswith("test_")
    ]


def split_files(
    files: list[CorpusFile] | None = None,
) -> tuple[list[CorpusFile], list[CorpusFile]]:
    """Return (train, heldout) files of the standard-library corpus."""
    files = stdlib_files() if files is None else files
    train = [f for f in files if not is_heldout(f.relpath)]
    heldout = [f for f in files if is_heldout(f.relpath)]
    return train, heldout


def stdlib_test_files(root: Path | None = None) -> list[CorpusFile]:
    """Return the standard library's test files (the ones :func:`stdlib_files` leaves out)."""
    root = root or stdlib_root()
    kept = {f.relpath for f in stdlib_files(root)}
    found = []
    for path in _walk_py(root, INSTALLED_DIRS):
        rel = path.relative_to(root).as_posix()
        if rel not in kept:
            found.append(CorpusFile(rel, path))
    return found


def looks_generated(text: str) -> bool:
    """Return True for data rather than code: very long lines or long average lines."""
    lines = text.splitlines() or [""]
    longest = max(len(line) for line in lines)
    return longest > 1000 or sum(len(line) for line in lines) / len(lines) > 80


def site_package_files(root: Path | None = None, cap: int = PACKAGE_CAP) -> list[CorpusFile]:
    """Return ``.py`` files of ``site-packages``, at most ``cap`` characters per entry.

    Files of one top-level entry are taken in a fixed pseudo-random order (a hash of
    their path), so a capped package contributes a spread of its modules.
    """
    root = root or Path(sysconfig.get_paths()["purelib"])
    if not root.is_dir():
        return []
    found: list[CorpusFile] = []
    for entry in sorted(root.iterdir()):
        if entry.name.startswith((".", "__")) or entry.name.endswith((".dist-info", ".egg-info")):
            continue
        paths = [entry] if entry.suffix == ".py" else list(_walk_py(entry, EXCLUDED_PYCACHE))
        paths.sort(key=lambda p: hashlib.sha1(p.relative_to(root).as_posix().encode()).digest())
        taken = 0
        for path in paths:
            if taken >= cap or not path.is_file():
                continue
            text = CorpusFile("", path).read()
            if looks_generated(text):
                continue
            taken += len(text)
            found.append(CorpusFile("site-packages/" + path.relative_to(root).as_posix(), path))
    return found


def dedupe_files(
    files: list[CorpusFile], threshold: float = DUPLICATE
) -> tuple[list[CorpusFile], list[CorpusFile]]:
    """Return (kept, dropped): in order, a file is dropped when >= ``threshold`` of its
    long lines already occur in the files kept before it (copied model code, forks)."""
    seen: set[int] = set()
    kept, dropped = [], []
    for f in files:
        lines = _long_lines(f.read())
        if lines and len(lines & seen) / len(lines) >= threshold:
            dropped.append(f)
            continue
        seen |= lines
        kept.append(f)
    return kept, dropped


def package_sources(root: Path | None = None) -> dict[str, dict[str, str]]:
    """Return ``{top-level entry: {"distribution", "version", "license"}}`` of site-packages.

    Read from each ``*.dist-info``'s ``METADATA`` and ``RECORD`` (which files the
    distribution installed), so the corpus can name the projects and licences it holds.
    """
    root = root or Path(sysconfig.get_paths()["purelib"])
    out: dict[str, dict[str, str]] = {}
    for info in sorted(root.glob("*.dist-info")) if root.is_dir() else []:
        meta = _metadata(info / "METADATA")
        try:
            record = (info / "RECORD").read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        tops = {line.split(",", 1)[0].split("/", 1)[0] for line in record.splitlines()}
        for top in tops:
            if top and not top.endswith((".dist-info", ".data")) and top != "..":
                out.setdefault(top, meta)
    return out


def _metadata(path: Path) -> dict[str, str]:
    fields: dict[str, str] = {}
    classifiers: list[str] = []
    try:
        header = path.read_text(encoding="utf-8", errors="replace").split("\n\n", 1)[0]
    except OSError:
        return {}
    for line in header.splitlines():
        key, _, value = line.partition(": ")
        if key in ("Name", "Version", "License-Expression") and value:
            fields.setdefault(key, value.strip())
        elif key == "License" and value and len(value) < 100:
            fields.setdefault("License", value.strip())
        elif key == "Classifier" and value.startswith("License ::"):
            classifiers.append(value.split("::")[-1].strip())
    licence = fields.get("License-Expression") or fields.get("License") or "; ".join(classifiers)
    return {
        "distribution": fields.get("Name", path.parent.name),
        "version": fields.get("Version", ""),
        "license": licence or "unknown",
    }


def _long_lines(text: str) -> set[int]:
    return {
        hash(line) for line in (raw.strip() for raw in text.splitlines()) if len(line) >= LONG_LINE
    }


def near_copy_filter(
    files: list[CorpusFile], heldout: list[CorpusFile], threshold: float = NEAR_COPY
) -> tuple[list[CorpusFile], list[CorpusFile]]:
    """Return (kept, dropped): dropped files share >= ``threshold`` of their long lines
    with the held-out files (copies, vendored backports, near-identical forks)."""
    seen: set[int] = set()
    for f in heldout:
        seen |= _long_lines(f.read())
    kept, dropped = [], []
    for f in files:
        lines = _long_lines(f.read())
        shared = len(lines & seen) / len(lines) if lines else 0.0
        (dropped if shared >= threshold else kept).append(f)
    return kept, dropped


def extended_files(
    heldout: list[CorpusFile],
    stdlib: Path | None = None,
    site: Path | None = None,
    cap: int = PACKAGE_CAP,
) -> tuple[list[CorpusFile], list[CorpusFile]]:
    """Return (extra training files, dropped files) of the ``extended`` corpus.

    Dropped: near-copies of held-out files, then files mostly repeating earlier ones.
    """
    extra = stdlib_test_files(stdlib) + site_package_files(site, cap=cap)
    kept, copies = near_copy_filter(extra, heldout)
    kept, duplicates = dedupe_files(kept)
    return kept, copies + duplicates

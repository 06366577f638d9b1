"""The training corpus of the default model: the Python standard library's own sources.

Every machine with Python has this corpus, so the default model can be retrained
anywhere (``superpose-ls train``). Test suites are excluded, and a deterministic
held-out split (by a hash of the file's path relative to the stdlib root) is kept
aside for evaluation; the split is recorded next to the shipped weights.
"""

from __future__ import annotations

import hashlib
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

EXCLUDED_DIRS = frozenset(
    {"site-packages", "dist-packages", "test", "tests", "idle_test", "__pycache__"}
)
HELDOUT_PERCENT = 5
MAX_FILE_BYTES = 400_000


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


def stdlib_files(root: Path | None = None) -> list[CorpusFile]:
    """Return all non-test ``.py`` files of the standard library, sorted by path."""
    root = root or stdlib_root()
    found: list[CorpusFile] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_DIRS)
        for name in sorted(filenames):
            if not name.endswith(".py") or name.startswith("test_"):
                continue
            path = Path(dirpath) / name
            if path.is_symlink() or path.stat().st_size > MAX_FILE_BYTES:
                continue
            rel = path.relative_to(root).as_posix()
            found.append(CorpusFile(rel, path))
    return found


def split_files(
    files: list[CorpusFile] | None = None,
) -> tuple[list[CorpusFile], list[CorpusFile]]:
    """Return (train, heldout) files of the standard-library corpus."""
    files = stdlib_files() if files is None else files
    train = [f for f in files if not is_heldout(f.relpath)]
    heldout = [f for f in files if is_heldout(f.relpath)]
    return train, heldout

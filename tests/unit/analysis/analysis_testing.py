"""Helpers for analysis tests: documents with a cursor marker, strict oracles."""

from __future__ import annotations

from pathlib import Path

import pytest

import analysis.context
from analysis.context import MemberOracle, member_oracle
from analysis.document import Document
from analysis.workspace import WorkspaceIndex

CURSOR = "<|>"


@pytest.fixture(autouse=True)
def strict_analysis(monkeypatch):
    """Internal errors surface in tests instead of silently meaning "no constraint"."""
    monkeypatch.setattr(analysis.context, "STRICT", True)


def oracle_for(
    source: str,
    uri: str = "file:///tmp/example.py",
    workspace: WorkspaceIndex | None = None,
    language: str | None = None,
) -> MemberOracle:
    """An oracle at the ``<|>`` marker of ``source`` (the marker is removed)."""
    offset = source.index(CURSOR)
    text = source[:offset] + source[offset + len(CURSOR) :]
    return member_oracle(Document(uri, text, language), offset, workspace)


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

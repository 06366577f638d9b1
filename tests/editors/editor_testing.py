"""What the editor end-to-end tests share: the demo file, its cursor, the server command."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MODEL_READY_TIMEOUT_S = 120
# ghostConfidence 0: ghost text is never cut by the shipped model's calibrated confidence,
# so these tests of the editors' plumbing do not depend on what the model is sure of
SETTINGS = {"drafts": 3, "maxNewTokens": 16, "ghostConfidence": 0.0}

SOURCE = """import os


class Counter:
    def __init__(self, start):
        self.count = start
        self.history = []

    def increment(self, step):
        self.count += step
        self.history.append(step)
        return self.count


def main():
    counter = Counter(0)
    counter.
"""
CURSOR_LINE = SOURCE.count("\n") - 1  # the `    counter.` line, 0-based
CURSOR_CHARACTER = len("    counter.")


def server_command() -> list[str]:
    """Returns the superpose-ls command of the running interpreter's environment."""
    script = Path(sys.executable).with_name("superpose-ls")
    return [str(script)] if script.exists() else [sys.executable, "-m", "lsp_server"]

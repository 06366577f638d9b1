"""Fixtures for end-to-end tests: the real server over stdio through the raw harness."""

from __future__ import annotations

import pytest

from benchmarks.harness import LspHarness

FAST_OPTIONS = {"drafts": 2, "maxNewTokens": 8}


@pytest.fixture(scope="module")
def lsp():
    """A running server with the default model loaded (shared by a module's tests)."""
    with LspHarness() as harness:
        harness.initialize(FAST_OPTIONS)
        status = harness.wait_ready()
        assert status["state"] == "ready", status
        yield harness

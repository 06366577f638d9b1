"""Editor controls: enable, mode, snooze, disabled languages and globs decide what is served."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lsp_server.controls import (
    AUTOMATIC,
    COMMAND,
    INVOKED,
    Controls,
    glob_matches,
    toggle_changes,
)
from lsp_server.settings import Settings, merge_settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_new_settings_have_defaults_and_degrade_gracefully():
    s = Settings()
    assert (s.enable, s.mode, s.completionMenu, s.debounceMs) == (True, "automatic", "always", 0)
    assert s.disabledLanguages == () and s.disabledGlobs == ()
    changed, messages = merge_settings(
        s,
        {
            "disabledLanguages": ["javascript", "typescript"],
            "disabledGlobs": "**/generated/**",  # a single string is a list of one
            "completionMenu": "invoked",
            "mode": "manual",
            "debounceMs": 120,
        },
    )
    assert messages == []
    assert changed.disabledLanguages == ("javascript", "typescript")
    assert changed.disabledGlobs == ("**/generated/**",)
    assert (changed.completionMenu, changed.mode, changed.debounceMs) == ("invoked", "manual", 120)
    bad, messages = merge_settings(
        changed,
        {
            "disabledLanguages": [1],
            "completionMenu": "never",
            "mode": "sometimes",
            "debounceMs": -1,
            "enable": "yes",
        },
    )
    assert bad == changed and len(messages) == 5


def test_empty_lua_table_is_an_empty_object():
    # Neovim 0.7 encodes an empty Lua table as [] (flat or nested): no warning
    assert merge_settings(Settings(), []) == (Settings(), [])
    assert merge_settings(Settings(), {"superpose": []}) == (Settings(), [])


@pytest.mark.parametrize(
    ("changes", "automatic", "invoked"),
    [
        ({}, None, None),
        ({"enable": False}, "disabled", "disabled"),
        ({"mode": "manual"}, "manual", None),
        ({"disabledLanguages": ("Python",)}, "language", "language"),
        ({"disabledGlobs": ("**/tests/**",)}, "disabledGlobs", "disabledGlobs"),
        ({"disabledGlobs": ("*.pyi",)}, None, None),
    ],
)
def test_what_each_switch_blocks(changes, automatic, invoked):
    settings = replace(Settings(), **changes)
    controls = Controls()
    path = "/repo/tests/test_a.py"

    def why(kind: str) -> str | None:
        return controls.blocked(settings, kind, "python", path)

    for kind, expected in ((AUTOMATIC, automatic), (INVOKED, invoked)):
        reason = why(kind)
        assert (reason is None) == (expected is None), (kind, reason)
        if expected is not None:
            assert expected in reason
    assert why(COMMAND) is None  # a command-palette action is always answered


def test_snooze_stops_automatic_requests_until_it_runs_out():
    clock = Clock()
    controls = Controls(clock=clock)
    settings = Settings()
    controls.snooze(10)
    assert controls.state(settings) == "snoozed"
    assert controls.describe(settings)["snoozedSeconds"] == 600
    assert controls.blocked(settings, AUTOMATIC, "python", None) == "snoozed"
    assert controls.blocked(settings, INVOKED, "python", None) is None
    clock.now += 601
    assert controls.state(settings) == "on"
    assert controls.blocked(settings, AUTOMATIC, "python", None) is None
    controls.snooze(5)
    controls.snooze(0)  # resume at once
    assert controls.state(settings) == "on"


def test_toggle_targets():
    on = Settings()
    off = replace(on, enable=False)
    assert toggle_changes(on, None) == {"enable": False}
    assert toggle_changes(off, None) == {"enable": True, "mode": "automatic"}
    assert toggle_changes(on, "manual") == {"enable": True, "mode": "manual"}
    assert toggle_changes(off, "automatic") == {"enable": True, "mode": "automatic"}
    assert Controls().state(replace(on, mode="manual")) == "manual"
    assert Controls().state(off) == "off"


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("*.min.js", "/a/b/x.min.js", True),
        ("*.min.js", "/a/b/x.js", False),
        ("**/tests/**", "/repo/tests/a.py", True),
        ("tests/**", "/repo/tests/sub/a.py", True),
        ("tests/**", "/repo/src/a.py", False),
        ("/repo/gen/**", "/repo/gen/x/y.py", True),
        ("/repo/gen/**", "/other/repo/gen/y.py", False),
        ("src/*.py", "/r/src/a.py", True),
        ("src/*.py", "/r/src/d/a.py", False),
        ("[ab].py", "/x/a.py", True),
        ("[!ab].py", "/x/a.py", False),
        ("**/*.py", "/x/y/z.py", True),
        ("", "/x.py", False),
        ("[", "/x/[", True),  # an unclosed class is a literal character
    ],
)
def test_glob_matches(pattern, path, expected):
    assert glob_matches(pattern, path) is expected

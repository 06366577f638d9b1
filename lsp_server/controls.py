"""Editor controls: whether a completion request is served at all (no pygls here).

The user's switches (settings ``enable``, ``mode``, ``disabledLanguages``,
``disabledGlobs``; the ``superpose.toggle`` and ``superpose.snooze`` commands)
decide per request, by how the request was made:

* ``automatic`` - ghost text while typing, trigger-character / re-trigger menus:
  served only when enabled, in automatic mode, not snoozed, and the document's
  language and path are not disabled;
* ``invoked`` - the user asked (invoked inline completion, invoked menu): served
  when enabled and the document is not disabled (manual mode and snooze only stop
  automatic requests);
* ``command`` - ``superpose.drafts`` from a command palette: always served.

The state shown to users is one word: ``on``, ``manual``, ``snoozed`` or ``off``.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import PurePosixPath
from typing import Any

from lsp_server.settings import Settings

AUTOMATIC = "automatic"
INVOKED = "invoked"
COMMAND = "command"
TOGGLE_STATES = ("on", "off", "manual", "automatic")  # automatic = on
MAX_SNOOZE_MINUTES = 24 * 60


@dataclass
class Controls:
    """Server-side switch state that is not a setting: the snooze deadline."""

    clock: Callable[[], float] = time.monotonic
    snoozed_until: float | None = field(default=None)

    # ------------------------------------------------------------ state

    def snoozed_seconds(self) -> float:
        """Seconds of snooze left (0 when not snoozed)."""
        if self.snoozed_until is None:
            return 0.0
        left = self.snoozed_until - self.clock()
        if left <= 0:
            self.snoozed_until = None
            return 0.0
        return left

    def state(self, settings: Settings) -> str:
        if not settings.enable:
            return "off"
        if self.snoozed_seconds() > 0:
            return "snoozed"
        return "manual" if settings.mode == "manual" else "on"

    def describe(self, settings: Settings) -> dict[str, Any]:
        """The JSON answer of ``superpose.toggle`` / ``superpose.snooze`` and part of status."""
        return {
            "state": self.state(settings),
            "enable": settings.enable,
            "mode": settings.mode,
            "snoozedSeconds": round(self.snoozed_seconds()),
            "completionMenu": settings.completionMenu,
        }

    def snooze(self, minutes: float) -> None:
        """Stop automatic requests for ``minutes`` (0 resumes at once)."""
        self.snoozed_until = self.clock() + minutes * 60 if minutes > 0 else None

    # ------------------------------------------------------------ decisions

    def blocked(
        self, settings: Settings, kind: str, language_id: str | None, path: str | None
    ) -> str | None:
        """Why a request of ``kind`` for this document is not served, or None to serve it."""
        if kind == COMMAND:
            return None
        if not settings.enable:
            return "disabled (superpose.toggle / setting 'enable')"
        if language_id and language_id.lower() in {x.lower() for x in settings.disabledLanguages}:
            return f"language '{language_id}' is in 'disabledLanguages'"
        if path is not None:
            for pattern in settings.disabledGlobs:
                if glob_matches(pattern, path):
                    return f"path matches 'disabledGlobs' entry {pattern!r}"
        if kind == AUTOMATIC:
            if settings.mode == "manual":
                return "manual mode: ghost text only when asked for"
            if self.snoozed_seconds() > 0:
                return "snoozed"
        return None


def toggle_changes(settings: Settings, target: str | None) -> dict[str, Any]:
    """The settings change of ``superpose.toggle``: no target flips on/off."""
    if target is None:
        target = "on" if not settings.enable else "off"
    if target == "off":
        return {"enable": False}
    if target == "manual":
        return {"enable": True, "mode": "manual"}
    return {"enable": True, "mode": "automatic"}  # on / automatic


# ---------------------------------------------------------------- globs


def glob_matches(pattern: str, path: str) -> bool:
    """Whether ``path`` (absolute, ``/`` separated) matches the glob ``pattern``.

    ``*`` and ``?`` stay inside one path segment, ``**`` spans segments, ``[...]``
    is a character class. A pattern without ``/`` matches the file name (like
    ``.gitignore``: ``*.min.js``); any other pattern matches the whole path or
    any tail of it made of whole segments (``tests/**`` matches ``/repo/tests/a.py``).
    """
    regex = _glob_regex(pattern.strip())
    if regex is None:
        return False
    posix = path.replace("\\", "/")
    if "/" not in pattern.strip().rstrip("/"):
        return regex.fullmatch(PurePosixPath(posix).name) is not None
    parts = posix.split("/")
    tails = ("/".join(parts[i:]) for i in range(len(parts)))
    return (
        any(regex.fullmatch(tail) for tail in tails if tail) or regex.fullmatch(posix) is not None
    )


@lru_cache(maxsize=256)
def _glob_regex(pattern: str) -> re.Pattern[str] | None:
    if not pattern:
        return None
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif c == "*":
            out.append("[^/]*")
            i += 1
        elif c == "?":
            out.append("[^/]")
            i += 1
        elif c == "[" and (end := pattern.find("]", i + 2)) != -1:
            body = pattern[i + 1 : end]
            negated = body.startswith("!")
            body = re.escape(body[1:] if negated else body).replace(r"\-", "-")
            out.append(f"[{'^' if negated else ''}{body}]")
            i = end + 1
        else:
            out.append(re.escape(c))
            i += 1
    try:
        return re.compile("".join(out))
    except re.error:
        return None

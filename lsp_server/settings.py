"""Typed server settings (DESIGN.md section 2) that degrade gracefully on bad input.

Settings arrive as ``initializationOptions`` (flat, or nested under
``"superpose"``) and later as ``workspace/didChangeConfiguration``. Unknown
keys are reported and ignored; a value of the wrong type or out of range keeps
its previous value and is reported; nothing here ever raises on user input.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Any

DECODERS = ("superposed", "greedy", "beam", "sampling")
DEVICES = ("auto", "cpu", "cuda")
MULTILINE = ("auto", "never", "always")
MAX_DRAFTS = 16
MAX_NEW_TOKENS = 512


@dataclass(frozen=True)
class Settings:
    """The server's settings; attribute names are the camelCase LSP keys."""

    model: str = "default"
    device: str = "auto"
    drafts: int = 4
    decoder: str = "superposed"
    maxNewTokens: int = 48
    monitor: bool = True
    repetitionPenalty: bool = True
    ngram: bool = True
    verify: bool = True
    multiline: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_CHOICES: dict[str, tuple[str, ...]] = {
    "decoder": DECODERS,
    "device": DEVICES,
    "multiline": MULTILINE,
}
_RANGES: dict[str, tuple[int, int]] = {
    "drafts": (1, MAX_DRAFTS),
    "maxNewTokens": (1, MAX_NEW_TOKENS),
}


def _checked(name: str, value: Any, kind: type) -> tuple[Any, str | None]:
    """Return (value, None) when ``value`` is valid for setting ``name``, else (None, reason)."""
    if kind is bool:
        if isinstance(value, bool):
            return value, None
        return None, f"'{name}' must be true or false, got {value!r}"
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            return None, f"'{name}' must be an integer, got {value!r}"
        lo, hi = _RANGES[name]
        if not lo <= int(value) <= hi:
            return None, f"'{name}' must be between {lo} and {hi}, got {value!r}"
        return int(value), None
    if not isinstance(value, str) or (name != "model" and not value):
        return None, f"'{name}' must be a string, got {value!r}"
    if name in _CHOICES and value not in _CHOICES[name]:
        return None, f"'{name}' must be one of {', '.join(_CHOICES[name])}, got {value!r}"
    return value, None


def unwrap_settings(raw: Any) -> Any:
    """Return the settings object from a flat or ``{"superpose": {...}}`` payload."""
    if isinstance(raw, dict) and isinstance(raw.get("superpose"), dict):
        return raw["superpose"]
    return raw


def merge_settings(base: Settings, raw: Any) -> tuple[Settings, list[str]]:
    """Return ``base`` updated with the valid entries of ``raw`` and messages for the rest."""
    raw = unwrap_settings(raw)
    if raw is None:
        return base, []
    if not isinstance(raw, dict):
        return base, [f"settings must be an object, got {type(raw).__name__}; ignored"]
    kinds = {f.name: f.type for f in fields(Settings)}
    types = {"str": str, "int": int, "bool": bool}
    changes: dict[str, Any] = {}
    messages: list[str] = []
    for key, value in raw.items():
        if key not in kinds:
            messages.append(f"unknown setting '{key}' ignored")
            continue
        checked, reason = _checked(key, value, types[str(kinds[key])])
        if reason:
            messages.append(f"{reason}; keeping {getattr(base, key)!r}")
        else:
            changes[key] = checked
    return replace(base, **changes), messages

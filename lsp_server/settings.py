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
DTYPES = ("auto", "float32", "bfloat16", "float16")
QUANTIZE = ("none", "int8")
MULTILINE = ("auto", "never", "always")
COMPLETION_MENU = ("always", "invoked", "off")
MODES = ("automatic", "manual")
MAX_DEBOUNCE_MS = 2000
MAX_DRAFTS = 16
MAX_NEW_TOKENS = 512


@dataclass(frozen=True)
class Settings:
    """The server's settings; attribute names are the camelCase LSP keys."""

    model: str = "default"
    device: str = "auto"
    dtype: str = "auto"  # weights: auto (fp32 on CPU, fp16 on GPU), float32, bfloat16, float16
    quantize: str = "none"  # none, int8 (dynamic int8 linear layers, CPU)
    drafts: int = 4
    decoder: str = "superposed"
    maxNewTokens: int = 48
    monitor: bool = True
    repetitionPenalty: bool = True
    ngram: bool = True
    verify: bool = True
    multiline: str = "auto"
    healing: bool = True  # token healing of the prompt's trailing partial token
    fim: bool = True  # fill-in-the-middle prompts when the model has FIM sentinels
    # ghost text shows a draft only as far as its calibrated probability of being exactly
    # right stays at or above this (0..1; null: the model's calibrated default; 0: whole)
    ghostConfidence: float | None = None
    # what one wrong ghost text costs, in keystrokes: ghost text shows the prefix of a draft
    # with the most expected keystrokes saved net of this cost (>= 0; null: the model's
    # calibrated value). Higher: fewer, surer suggestions. An explicit ghostConfidence
    # takes precedence (the plain threshold rule).
    ghostWrongCost: float | None = None
    # summaries (signatures, fields, docstring lines) of the classes and functions referenced
    # near the cursor, in front of the prompt's prefix window (analysis/definitions.py).
    # Off by default: on the shipped model (never trained with them) they changed neither
    # keystrokes saved nor line exact match measurably and cost ~2 ms per request
    # (python -m benchmarks.definitions_ablation lines|typing); a model that reads them
    # can turn them on.
    contextDefinitions: bool = False

    # editor controls: what is served, when (lsp_server/controls.py applies them)
    enable: bool = True  # false: no ghost text and no menu items (commands still answer)
    mode: str = "automatic"  # manual: ghost text and menu items only when asked for
    completionMenu: str = "always"  # always | invoked (no trigger-character menus) | off
    disabledLanguages: tuple[str, ...] = ()  # language ids served nothing automatically
    disabledGlobs: tuple[str, ...] = ()  # path globs ("**/tests/**", "*.min.js") likewise
    debounceMs: int = 0  # automatic ghost text waits this long; a newer request replaces it
    # where decoding runs: "local", or the URL of a model service (superpose-ls model-server)
    # or of an OpenAI-compatible completions server; backendToken: its bearer token
    backend: str = "local"
    backendToken: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_CHOICES: dict[str, tuple[str, ...]] = {
    "decoder": DECODERS,
    "device": DEVICES,
    "dtype": DTYPES,
    "quantize": QUANTIZE,
    "multiline": MULTILINE,
    "completionMenu": COMPLETION_MENU,
    "mode": MODES,
}
_FLOAT_RANGES: dict[str, tuple[float, float]] = {
    "ghostConfidence": (0.0, 1.0),  # a probability
    "ghostWrongCost": (0.0, 100.0),  # keystrokes
}
_RANGES: dict[str, tuple[int, int]] = {
    "drafts": (1, MAX_DRAFTS),
    "maxNewTokens": (1, MAX_NEW_TOKENS),
    "debounceMs": (0, MAX_DEBOUNCE_MS),
}


def _checked(name: str, value: Any, kind: type) -> tuple[Any, str | None]:
    """Return (value, None) when ``value`` is valid for setting ``name``, else (None, reason)."""
    if kind is bool:
        if isinstance(value, bool):
            return value, None
        return None, f"'{name}' must be true or false, got {value!r}"
    if kind is tuple:
        return _checked_strings(name, value)
    if kind is float:  # a number in its range, or null for the default
        if value is None:
            return None, None
        lo, hi = _FLOAT_RANGES[name]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
            return (
                None,
                f"'{name}' must be a number between {lo:g} and {hi:g} or null, got {value!r}",
            )
        return float(value), None
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            return None, f"'{name}' must be an integer, got {value!r}"
        lo, hi = _RANGES[name]
        if not lo <= int(value) <= hi:
            return None, f"'{name}' must be between {lo} and {hi}, got {value!r}"
        return int(value), None
    if not isinstance(value, str) or (name not in ("model", "backendToken") and not value):
        return None, f"'{name}' must be a string, got {value!r}"
    if name == "backend" and value != "local" and not value.startswith(("http://", "https://")):
        return None, f"'backend' must be \"local\" or an http(s) URL, got {value!r}"
    if name in _CHOICES and value not in _CHOICES[name]:
        return None, f"'{name}' must be one of {', '.join(_CHOICES[name])}, got {value!r}"
    return value, None


def _checked_strings(name: str, value: Any) -> tuple[Any, str | None]:
    """A list of non-empty strings (a single string counts as a list of one)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(item, str) and item for item in value
    ):
        return None, f"'{name}' must be a list of strings, got {value!r}"
    return tuple(value), None


def unwrap_settings(raw: Any) -> Any:
    """Return the settings object from a flat or ``{"superpose": {...}}`` payload."""
    if isinstance(raw, dict) and isinstance(raw.get("superpose"), (dict, list)):
        return raw["superpose"]
    return raw


def merge_settings(base: Settings, raw: Any) -> tuple[Settings, list[str]]:
    """Return ``base`` updated with the valid entries of ``raw`` and messages for the rest."""
    raw = unwrap_settings(raw)
    if raw is None or (isinstance(raw, list) and not raw):
        return base, []  # an empty Lua table arrives as [] from Neovim 0.7
    if not isinstance(raw, dict):
        return base, [f"settings must be an object, got {type(raw).__name__}; ignored"]
    kinds = {f.name: f.type for f in fields(Settings)}
    types = {"str": str, "int": int, "bool": bool, "tuple[str, ...]": tuple, "float | None": float}
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

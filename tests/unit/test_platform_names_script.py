"""scripts/platform_names.py: every name a stub binds in any platform or version branch."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from analysis.platform_names import OTHER_PLATFORM_NAMES

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "platform_names.py"
STUB = """
import sys
from typing import TypeVar, TypeAlias
from os import (O_BINARY as O_BINARY, O_RDONLY as O_RDONLY, sep)

_T = TypeVar("_T")
_Path: TypeAlias = str
argv: list[str]
class _flags: ...
class stat_result: ...
if sys.platform == "win32":
    def getwindowsversion() -> _flags: ...
    winver: str
else:
    abiflags: str
    if sys.version_info >= (3, 12):
        def activate_stack_trampoline(backend: str, /) -> None: ...
try:
    def _exit(n: int) -> None: ...
except ImportError:
    pass
"""


def load_script():
    spec = importlib.util.spec_from_file_location("platform_names_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stub_names_take_every_branch_and_leave_out_stub_only_types():
    names = load_script().stub_names(STUB)
    assert {"getwindowsversion", "winver", "abiflags", "activate_stack_trampoline"} <= names
    assert {"argv", "stat_result", "_exit", "O_BINARY", "O_RDONLY"} <= names
    # type variables, aliases, private stub classes and plain imports are no attributes
    assert not {"_T", "_Path", "_flags", "sys", "TypeVar", "sep"} & names


def test_the_generated_module_is_the_scripts_output_format(tmp_path):
    script = load_script()
    for stub in ("sys/__init__.pyi", "time.pyi", "posix.pyi", "nt.pyi", "os/__init__.pyi"):
        (tmp_path / stub).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / stub).write_text(STUB)
    (tmp_path / "VERSIONS").write_text("sys: 3.0-\n")
    namespace: dict = {}
    exec(script.module_text(tmp_path), namespace)  # the module it writes is valid Python
    assert set(namespace["OTHER_PLATFORM_NAMES"]) == set(OTHER_PLATFORM_NAMES)
    assert "getwindowsversion" in namespace["OTHER_PLATFORM_NAMES"]["sys"]
    assert script.main([str(tmp_path / "missing")]) == 2

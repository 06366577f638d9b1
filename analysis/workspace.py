"""Workspace and standard-library module index.

The workspace walk skips VCS folders, virtual environments (detected by ``pyvenv.cfg``),
``node_modules``, ``__pycache__``, build/dist folders, ``.tox`` and hidden folders, skips
files over a size limit and never follows symlinks out of the workspace root. Modules are
parsed lazily and cached (bounded LRU); open editor buffers override the disk text through
:meth:`WorkspaceIndex.update_file`.

Standard-library modules are resolved from their ``.py`` sources under
``sysconfig.get_paths()["stdlib"]``: read and parsed, never imported or executed. Modules
without source (C extensions) are unknown, which makes their receivers open.
"""

from __future__ import annotations

import os
import sysconfig
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from analysis.languages import SOURCE_SUFFIXES, language_for, parser_for
from analysis.python_symbols import PyModule

DEFAULT_MAX_FILE_BYTES = 1_000_000
INDEXED_SUFFIXES = SOURCE_SUFFIXES
SKIPPED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "node_modules",
        "__pycache__",
        "build",
        "dist",
        ".tox",
        ".nox",
        ".venv",
        "venv",
        "site-packages",
        ".eggs",
        ".mypy_cache",
        ".pytest_cache",
        ".ruff_cache",
    }
)
# Module names that are platform aliases of another stdlib module (``os.path``).
STDLIB_ALIASES = {"os.path": os.path.__name__}
JS_EXTENSIONS = (".ts", ".tsx", ".js", ".mjs", ".cjs", ".jsx", ".mts", ".cts", ".d.ts")


def stdlib_dir() -> Path:
    """The directory of the running interpreter's pure-Python standard library."""
    return Path(sysconfig.get_paths()["stdlib"])


def _is_identifier_path(parts: list[str]) -> bool:
    return bool(parts) and all(p.isidentifier() for p in parts)


def _read_bytes(path: Path, limit: int) -> bytes | None:
    try:
        if not path.is_file() or path.stat().st_size > limit:
            return None
        return path.read_bytes()
    except OSError:
        return None


def _parse_python(
    data: bytes, path: Path | None, name: str | None, is_package: bool, is_stdlib: bool
) -> PyModule:
    tree = parser_for("python").parse(data)
    return PyModule(data, tree, path, name, is_package, is_stdlib)


class StdlibModules:
    """Standard-library modules read from source and cached per module (never imported)."""

    def __init__(self, directory: Path | None = None, max_file_bytes: int = 4_000_000):
        self.directory = (directory or stdlib_dir()).resolve()
        self.max_file_bytes = max_file_bytes
        self._lock = threading.Lock()
        self._modules: dict[str, PyModule | None] = {}

    def module_file(self, dotted: str) -> tuple[Path, bool] | None:
        """(source path, is_package) of a stdlib module name, or None (C extension/absent)."""
        parts = dotted.split(".")
        if not _is_identifier_path(parts) or parts[0] in ("site-packages", "test"):
            return None
        base = self.directory.joinpath(*parts)
        init = base / "__init__.py"
        if init.is_file():
            return init, True
        source = base.with_name(base.name + ".py")
        if source.is_file():
            return source, False
        return None

    def name_of(self, path: Path) -> str | None:
        """The dotted stdlib module name of a source path inside the stdlib directory."""
        try:
            relative = path.resolve().relative_to(self.directory)
        except (ValueError, OSError):
            return None
        parts = list(relative.parts)
        if not parts or parts[0] == "site-packages":
            return None
        if parts[-1] == "__init__.py":
            parts = parts[:-1]
        elif parts[-1].endswith(".py"):
            parts[-1] = parts[-1][:-3]
        else:
            return None
        return ".".join(parts) if _is_identifier_path(parts) else None

    def module(self, dotted: str) -> PyModule | None:
        """The parsed stdlib module ``dotted`` (cached), or None."""
        dotted = STDLIB_ALIASES.get(dotted, dotted)
        with self._lock:
            if dotted in self._modules:
                return self._modules[dotted]
        found = self.module_file(dotted)
        result = None
        if found is not None:
            path, is_package = found
            data = _read_bytes(path, self.max_file_bytes)
            if data is not None:
                result = _parse_python(data, path, dotted, is_package, True)
        with self._lock:
            return self._modules.setdefault(dotted, result)

    # ModuleLoader protocol (for resolving inside the stdlib when there is no workspace)
    def python_module(self, dotted: str, from_path: Path | None, level: int) -> PyModule | None:
        if level > 0:
            if from_path is None:
                return None
            package = self.name_of(from_path)
            if package is None:
                return None
            parts = package.split(".")
            if not from_path.name == "__init__.py":
                parts = parts[:-1]
            if level - 1 > len(parts):
                return None
            parts = parts[: len(parts) - (level - 1)]
            name = ".".join(parts + ([dotted] if dotted else []))
            return self.module(name) if name else None
        return self.module(dotted)

    def python_submodule(self, package: PyModule, name: str) -> PyModule | None:
        if not package.is_package or not package.name or not name.isidentifier():
            return None
        return self.module(f"{package.name}.{name}")

    def python_submodule_names(self, package: PyModule) -> frozenset[str]:
        if not package.is_package or package.path is None:
            return frozenset()
        return _submodule_names(package.path.parent)


def _submodule_names(directory: Path) -> frozenset[str]:
    names: set[str] = set()
    try:
        for entry in os.scandir(directory):
            if entry.name.endswith(".py") and entry.name != "__init__.py":
                stem = entry.name[:-3]
                if stem.isidentifier():
                    names.add(stem)
            elif entry.is_dir(follow_symlinks=False) and entry.name.isidentifier():
                if entry.name != "__pycache__" and (
                    os.path.isfile(os.path.join(entry.path, "__init__.py"))
                    or any(n.endswith(".py") for n in os.listdir(entry.path))
                ):
                    names.add(entry.name)
    except OSError:
        pass
    return frozenset(names)


_STDLIB: StdlibModules | None = None
_STDLIB_LOCK = threading.Lock()


def default_stdlib() -> StdlibModules:
    """The process-wide stdlib module cache."""
    global _STDLIB
    with _STDLIB_LOCK:
        if _STDLIB is None:
            _STDLIB = StdlibModules()
        return _STDLIB


@dataclass(frozen=True)
class FileEntry:
    """An indexed workspace file."""

    path: Path
    language: str
    size: int


class WorkspaceIndex:
    """The workspace's source files, with lazily parsed, cached modules.

    Implements the module-loader protocol of :mod:`analysis.resolution` (Python modules of
    the workspace first, then the standard library) and JS/TS relative module lookup.
    """

    def __init__(
        self,
        root: Path,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        stdlib: StdlibModules | None = None,
        cache_size: int = 256,
    ):
        self.root = Path(os.path.realpath(root))
        self.max_file_bytes = max_file_bytes
        self.stdlib = stdlib or default_stdlib()
        self.cache_size = cache_size
        self._lock = threading.RLock()
        self._files: dict[Path, FileEntry] = {}
        self._overrides: dict[Path, str] = {}
        self._modules: OrderedDict[Path, object] = OrderedDict()
        # bumped by every change to the indexed files: what was resolved before may be stale
        self.generation = 0
        self._changes: dict[Path, int] = {}  # the changes of each file among them

    # -- walking -------------------------------------------------------------------------------

    def _inside_root(self, path: Path) -> bool:
        try:
            Path(os.path.realpath(path)).relative_to(self.root)
            return True
        except ValueError:
            return False

    def _skip_dir(self, path: str, name: str) -> bool:
        if name in SKIPPED_DIRS or name.startswith(".") or name.endswith(".egg-info"):
            return True
        if os.path.isfile(os.path.join(path, "pyvenv.cfg")):
            return True
        if os.path.islink(path) and not self._inside_root(Path(path)):
            return True
        return False

    def iter_source_files(self) -> Iterator[Path]:
        """Source files of the workspace that the index covers (walk order)."""
        seen_dirs: set[str] = set()
        stack = [str(self.root)]
        while stack:
            directory = stack.pop()
            real = os.path.realpath(directory)
            if real in seen_dirs:
                continue
            seen_dirs.add(real)
            try:
                entries = sorted(os.scandir(directory), key=lambda e: e.name)
            except OSError:
                continue
            subdirs = []
            for entry in entries:
                try:
                    if entry.is_dir(follow_symlinks=False):
                        if not self._skip_dir(entry.path, entry.name):
                            subdirs.append(entry.path)
                    elif entry.is_symlink():
                        target = Path(os.path.realpath(entry.path))
                        if not self._inside_root(target):
                            continue
                        if target.is_dir():
                            if not self._skip_dir(entry.path, entry.name):
                                subdirs.append(entry.path)
                        elif self._wanted_file(entry.path, target.stat().st_size):
                            yield Path(entry.path)
                    elif entry.is_file(follow_symlinks=False):
                        if self._wanted_file(entry.path, entry.stat(follow_symlinks=False).st_size):
                            yield Path(entry.path)
                except OSError:
                    continue
            stack.extend(reversed(subdirs))

    def _wanted_file(self, path: str, size: int) -> bool:
        suffix = os.path.splitext(path)[1].lower()
        return suffix in INDEXED_SUFFIXES and size <= self.max_file_bytes

    def build(self, progress: Callable[[int, int], None] | None = None) -> int:
        """Walk the workspace and index its source files; returns the number indexed.

        ``progress(done, total)`` is called once with ``done=0`` and after every file.
        """
        paths = list(self.iter_source_files())
        total = len(paths)
        if progress is not None:
            progress(0, total)
        files: dict[Path, FileEntry] = {}
        for done, path in enumerate(paths, start=1):
            language = language_for(path)
            try:
                size = path.stat().st_size
            except OSError:
                size = 0
            if language is not None:
                files[path] = FileEntry(path, language, size)
            if progress is not None:
                progress(done, total)
        with self._lock:
            self._files = files
            self._modules.clear()
            self.generation += 1
        return len(files)

    def __len__(self) -> int:
        return len(self._files)

    def _count_change(self, path: Path) -> None:
        self.generation += 1
        self._changes[path] = self._changes.get(path, 0) + 1

    def generation_without(self, path: Path | None) -> int:
        """The generation not counting changes to ``path``: what an analysis of that file's
        open buffer depends on (the index's copy of the buffer itself lags behind it)."""
        with self._lock:
            return self.generation - (self._changes.get(path, 0) if path is not None else 0)

    def paths(self) -> list[Path]:
        """Indexed file paths."""
        with self._lock:
            return list(self._files)

    def text_of(self, path: Path) -> str | None:
        """The current text of a workspace file (an open buffer's text when overridden)."""
        path = Path(path)
        with self._lock:
            if path in self._overrides:
                return self._overrides[path]
        data = _read_bytes(path, self.max_file_bytes)
        return None if data is None else data.decode("utf-8", "replace")

    def update_file(self, path: Path, text: str | None = None) -> None:
        """Re-index one file; ``text`` overrides the disk content (an open editor buffer)."""
        path = Path(path)
        if not path.is_absolute():
            path = self.root / path
        language = language_for(path)
        with self._lock:
            self._count_change(path)
            self._modules.pop(path, None)
            if text is not None:
                self._overrides[path] = text
            else:
                self._overrides.pop(path, None)
            if language is not None and self._inside_root(path):
                size = len(text.encode("utf-8", "surrogatepass")) if text is not None else 0
                self._files[path] = FileEntry(path, language, size)

    def remove_file(self, path: Path) -> None:
        """Forget one file (deleted or closed without a disk copy)."""
        path = Path(path)
        if not path.is_absolute():
            path = self.root / path
        with self._lock:
            self._count_change(path)
            self._files.pop(path, None)
            self._overrides.pop(path, None)
            self._modules.pop(path, None)

    # -- module lookup ---------------------------------------------------------------------------

    def _python_roots(self, from_file: Path | None) -> list[Path]:
        roots: list[Path] = []
        if from_file is not None:
            directory = Path(from_file).parent
            top = directory
            while (top / "__init__.py").is_file() and self._inside_root(top.parent):
                top = top.parent
            roots.append(top)
        roots.extend([self.root, self.root / "src"])
        unique: list[Path] = []
        for root in roots:
            if root not in unique:
                unique.append(root)
        return unique

    def _module_file(self, base: Path) -> Path | None:
        init = base / "__init__.py"
        for candidate in (
            init,
            base.with_name(base.name + ".py"),
            base.with_name(base.name + ".pyi"),
        ):
            if candidate.is_file() and self._inside_root(candidate):
                return candidate
        if base.is_dir() and self._inside_root(base) and any(base.glob("*.py")):
            return init  # a namespace package: a virtual, empty __init__.py
        return None

    def module_path(
        self, dotted_name: str, from_file: Path | None = None, level: int = 0
    ) -> Path | None:
        """The source file of a workspace module (``__init__.py`` for packages), or None.

        ``level`` > 0 resolves a relative import (``from ..x import y`` has level 2) from
        ``from_file``. Namespace packages map to a virtual ``__init__.py`` inside their folder.
        """
        parts = dotted_name.split(".") if dotted_name else []
        if parts and not _is_identifier_path(parts):
            return None
        if level > 0:
            if from_file is None:
                return None
            base = Path(from_file).parent
            for _ in range(level - 1):
                base = base.parent
            if not self._inside_root(base):
                return None
            if not parts:
                return (
                    self._module_file(base)
                    if (base / "__init__.py").is_file()
                    else (base / "__init__.py" if base.is_dir() else None)
                )
            return self._module_file(base.joinpath(*parts))
        if not parts:
            return None
        for root in self._python_roots(from_file):
            found = self._module_file(root.joinpath(*parts))
            if found is not None:
                return found
        return None

    def module_at(self, path: Path) -> object | None:
        """The parsed module (PyModule or JsModule) of a workspace file, cached."""
        path = Path(path)
        with self._lock:
            cached = self._modules.get(path)
            if cached is not None:
                self._modules.move_to_end(path)
                return cached
        language = language_for(path)
        if language is None:
            return None
        text = self.text_of(path)
        if text is None:
            if path.name == "__init__.py" and path.parent.is_dir():
                text = ""  # namespace package
            else:
                return None
        data = text.encode("utf-8", "surrogatepass")
        if language == "python":
            name = self._dotted_name(path)
            module: object = _parse_python(data, path, name, path.name == "__init__.py", False)
        else:
            from analysis.js_symbols import JsModule

            module = JsModule(data, parser_for(language).parse(data), path, language)
        with self._lock:
            self._modules[path] = module
            while len(self._modules) > self.cache_size:
                self._modules.popitem(last=False)
        return module

    def _dotted_name(self, path: Path) -> str | None:
        try:
            parts = list(path.relative_to(self.root).parts)
        except ValueError:
            return None
        if parts and parts[-1] == "__init__.py":
            parts = parts[:-1]
        elif parts:
            parts[-1] = parts[-1].rsplit(".", 1)[0]
        return ".".join(parts) if _is_identifier_path(parts) else None

    # ModuleLoader protocol ---------------------------------------------------------------------

    def python_module(self, dotted: str, from_path: Path | None, level: int) -> PyModule | None:
        """A workspace module (relative or absolute), else a stdlib module, else None."""
        if from_path is not None and self.stdlib.name_of(Path(from_path)) is not None:
            return self.stdlib.python_module(dotted, from_path, level)
        path = self.module_path(dotted, from_path, level)
        if path is not None:
            module = self.module_at(path)
            return module if isinstance(module, PyModule) else None
        if level > 0:
            return None
        return self.stdlib.module(dotted)

    def python_submodule(self, package: PyModule, name: str) -> PyModule | None:
        if package.is_stdlib:
            return self.stdlib.python_submodule(package, name)
        if not package.is_package or package.path is None or not name.isidentifier():
            return None
        found = self._module_file(package.path.parent / name)
        if found is None:
            return None
        module = self.module_at(found)
        return module if isinstance(module, PyModule) else None

    def python_submodule_names(self, package: PyModule) -> frozenset[str]:
        if not package.is_package or package.path is None:
            return frozenset()
        return _submodule_names(package.path.parent)

    def js_module_path(self, specifier: str, from_file: Path | None) -> Path | None:
        """The file an ES-module specifier (``./x``, ``../y/z``) refers to, inside the root."""
        if from_file is None or not specifier.startswith((".", "/")):
            return None
        base = (
            (Path(from_file).parent / specifier) if specifier.startswith(".") else Path(specifier)
        )
        base = Path(os.path.normpath(base))
        candidates = [base]
        stem = str(base)
        if stem.endswith((".js", ".mjs", ".cjs", ".jsx")):
            no_ext = stem.rsplit(".", 1)[0]
            candidates += [Path(no_ext + ext) for ext in (".ts", ".tsx", ".mts", ".cts")]
        candidates += [Path(stem + ext) for ext in JS_EXTENSIONS]
        candidates += [base / ("index" + ext) for ext in JS_EXTENSIONS]
        for candidate in candidates:
            if candidate.is_file() and self._inside_root(candidate) and language_for(candidate):
                return candidate
        return None

    def js_module(self, specifier: str, from_file: Path | None) -> object | None:
        """The parsed JS/TS module an import specifier refers to, or None."""
        path = self.js_module_path(specifier, from_file)
        return None if path is None else self.module_at(path)

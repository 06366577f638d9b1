"""Language identification and cached tree-sitter parsers.

Maps LSP language ids, file paths and extensions to the normalised names
``"python"``, ``"javascript"``, ``"typescript"`` and ``"tsx"`` and hands out
parsers built from the per-language grammar wheels (tree-sitter 0.25+ API).
"""

from __future__ import annotations

import threading
from functools import cache
from pathlib import PurePath

import tree_sitter

SUPPORTED_LANGUAGES: tuple[str, ...] = ("python", "javascript", "typescript", "tsx")

_LANGUAGE_IDS: dict[str, str] = {
    "python": "python",
    "py": "python",
    "python3": "python",
    "javascript": "javascript",
    "js": "javascript",
    "javascriptreact": "javascript",
    "jsx": "javascript",
    "typescript": "typescript",
    "ts": "typescript",
    "typescriptreact": "tsx",
    "tsx": "tsx",
}

_EXTENSIONS: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".pyw": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".cjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".mts": "typescript",
    ".cts": "typescript",
    ".tsx": "tsx",
}


def path_of_uri(uri: str) -> str | None:
    """The filesystem path of a ``file://`` URI, or a plain absolute path; None otherwise.

    The one place URIs become paths (percent-decoded).
    """
    from urllib.parse import unquote, urlparse

    if not uri:
        return None
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return unquote(parsed.path)
    if parsed.scheme == "" and uri.startswith("/"):
        return uri
    return None


SOURCE_SUFFIXES: frozenset[str] = frozenset(_EXTENSIONS)  # files the workspace index reads


def language_for(language_id_or_path: str | PurePath | None) -> str | None:
    """The normalised language name for an LSP language id, a path or a URI; None if unsupported."""
    if language_id_or_path is None:
        return None
    text = str(language_id_or_path).strip()
    if not text:
        return None
    by_id = _LANGUAGE_IDS.get(text.lower())
    if by_id is not None:
        return by_id
    suffix = PurePath(text.split("?", 1)[0].split("#", 1)[0]).suffix.lower()
    if not suffix and text.startswith("."):
        suffix = text.lower()
    return _EXTENSIONS.get(suffix)


@cache
def tree_sitter_language(name: str) -> tree_sitter.Language:
    """The (cached) tree-sitter Language object for a normalised language name."""
    if name == "python":
        import tree_sitter_python as grammar

        return tree_sitter.Language(grammar.language())
    if name == "javascript":
        import tree_sitter_javascript as grammar

        return tree_sitter.Language(grammar.language())
    if name == "typescript":
        import tree_sitter_typescript as grammar

        return tree_sitter.Language(grammar.language_typescript())
    if name == "tsx":
        import tree_sitter_typescript as grammar

        return tree_sitter.Language(grammar.language_tsx())
    raise ValueError(f"unsupported language {name!r}; expected one of {SUPPORTED_LANGUAGES}")


_local = threading.local()


def parser_for(name: str) -> tree_sitter.Parser:
    """A tree-sitter Parser for a normalised language name (one per thread, reused).

    Parsers are not thread-safe, so each thread gets its own; Language objects are shared.
    """
    parsers: dict[str, tree_sitter.Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(name)
    if parser is None:
        parser = parsers[name] = tree_sitter.Parser(tree_sitter_language(name))
    return parser

"""Incrementally parsed text documents.

Every edit is applied to a copy of the previous tree with ``Tree.edit`` and the text is
re-parsed with that tree as the old tree, so tree-sitter reuses the unchanged subtrees
(tree-sitter's incremental parsing). A published ``Document.tree`` object is never mutated
afterwards, so readers on other threads may keep using a tree they obtained earlier.
"""

from __future__ import annotations

import threading

import tree_sitter

from analysis.languages import language_for, parser_for
from analysis.positions import byte_point, encode, str_offset_to_byte


def common_prefix_length(a: str, b: str) -> int:
    """Length of the longest common prefix of ``a`` and ``b`` (binary search on slices)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        mid = (low + high + 1) // 2
        if a[low:mid] == b[low:mid]:
            low = mid
        else:
            high = mid - 1
    return low


def common_suffix_length(a: str, b: str, limit: int) -> int:
    """Length of the longest common suffix of ``a`` and ``b``, at most ``limit``."""
    low, high = 0, min(len(a), len(b), limit)
    while low < high:
        mid = (low + high + 1) // 2
        if a[len(a) - mid : len(a) - low] == b[len(b) - mid : len(b) - low]:
            low = mid
        else:
            high = mid - 1
    return low


class Document:
    """A text document with an incrementally maintained tree-sitter tree.

    ``language`` is a language id or name (``"python"``, ``"typescriptreact"``, ...); when it is
    None the language is inferred from ``uri``. ``tree`` is None for unsupported languages.
    Offsets given to :meth:`apply_change` are code-point offsets into :attr:`text`.
    """

    def __init__(self, uri: str, text: str, language: str | None = None, version: int = 0):
        self.uri = uri
        self.language: str | None = (
            language_for(language) if language is not None else language_for(uri)
        )
        self.version = version
        self._lock = threading.Lock()
        self._text = text
        self._bytes = encode(text)
        self._tree: tree_sitter.Tree | None = self._parse(self._bytes, None)

    @property
    def text(self) -> str:
        """The current text."""
        return self._text

    @property
    def bytes(self) -> bytes:
        """The current text as the UTF-8 bytes the tree was parsed from."""
        return self._bytes

    @property
    def tree(self) -> tree_sitter.Tree | None:
        """The current tree (None for an unsupported language); never mutated once published."""
        return self._tree

    def snapshot(self) -> tuple[str, bytes, tree_sitter.Tree | None]:
        """A consistent (text, bytes, tree) triple."""
        with self._lock:
            return self._text, self._bytes, self._tree

    def _parse(self, data: bytes, old_tree: tree_sitter.Tree | None) -> tree_sitter.Tree | None:
        if self.language is None:
            return None
        parser = parser_for(self.language)
        if old_tree is None:
            return parser.parse(data)
        return parser.parse(data, old_tree)

    def apply_change(self, start: int, end: int, new_text: str, version: int | None = None) -> None:
        """Replace code points ``[start, end)`` with ``new_text`` and re-parse incrementally."""
        with self._lock:
            old_text, old_bytes = self._text, self._bytes
            start = max(0, min(start, len(old_text)))
            end = max(start, min(end, len(old_text)))
            text = old_text[:start] + new_text + old_text[end:]
            start_byte = str_offset_to_byte(old_text, start)
            old_end_byte = str_offset_to_byte(old_text, end)
            inserted = encode(new_text)
            data = old_bytes[:start_byte] + inserted + old_bytes[old_end_byte:]
            new_end_byte = start_byte + len(inserted)
            tree = None
            if self._tree is not None:
                old_tree = self._tree.copy()
                old_tree.edit(
                    start_byte=start_byte,
                    old_end_byte=old_end_byte,
                    new_end_byte=new_end_byte,
                    start_point=byte_point(old_bytes, start_byte),
                    old_end_point=byte_point(old_bytes, old_end_byte),
                    new_end_point=byte_point(data, new_end_byte),
                )
                tree = self._parse(data, old_tree)
            self._text, self._bytes, self._tree = text, data, tree
            self.version = self.version + 1 if version is None else version

    def replace_all(self, text: str, version: int | None = None) -> None:
        """Replace the whole text (full sync), re-parsing only around the changed span."""
        old = self._text
        prefix = common_prefix_length(old, text)
        suffix = common_suffix_length(old, text, min(len(old), len(text)) - prefix)
        self.apply_change(prefix, len(old) - suffix, text[prefix : len(text) - suffix], version)

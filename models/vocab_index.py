"""Prefix index over a tokenizer's surface strings, built once per :class:`TokenTable`.

Monitor-guided decoding (Agrawal et al. 2023, "Guiding Language Models of Code
with Global Context using Monitors") masks the vocabulary so that the next
tokens spell a prefix of a valid identifier; token healing (Guidance's "token
healing") masks it so the first tokens re-spell text backed off from the
prompt. Both ask the same two questions of every token's surface:

* identifier queries: which tokens start with a run of identifier characters
  that is a prefix of some string (and nothing else follows), or equals it and
  then continue with a non-identifier character;
* byte-prefix queries: which tokens are a prefix of some bytes, or have those
  bytes as a prefix.

The reference implementation of the paper (microsoft/monitors4codegen) checks
membership token by token at every step; here the vocabulary is grouped once by
leading identifier run ("lead"), so a mask costs one set intersection over the
prefixes of the remaining suffixes plus an index assignment proportional to the
allowed tokens, and no step ever loops over the vocabulary in Python. Masks and
lead sets are kept in a small LRU shared by every request on the same table. Identifier queries work on the
token's *text* (SentencePiece ``▁`` already turned into a space by the table);
tokens that are special, empty or partial UTF-8 never take part in them.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import string
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.token_table import TokenTable, default_cache_dir

log = logging.getLogger(__name__)

_ASCII_IDENT = frozenset(string.ascii_letters + string.digits + "_")
_ASCII_START = frozenset(string.ascii_letters + "_")
_CACHE_ATTR = "_vocab_index"
_BUILD_LOCK = threading.Lock()
_CACHE_LIMIT = 256  # masks/tables kept per index ((V,) bool: 50 kB at V = 50k)


def is_ident_char(c: str) -> bool:
    """Return True when ``c`` may continue a Python identifier (str.isidentifier rules)."""
    if c in _ASCII_IDENT:
        return True
    if c < "\x80":
        return False
    return ("_" + c).isidentifier()


def is_ident_start(c: str) -> bool:
    """Return True when ``c`` may begin a Python identifier."""
    if c in _ASCII_START:
        return True
    if c < "\x80":
        return False
    return c.isidentifier()


def leading_ident_run(text: str) -> str:
    """Return the longest prefix of ``text`` made of identifier characters."""
    i = 0
    n = len(text)
    while i < n and is_ident_char(text[i]):
        i += 1
    return text[:i]


def trailing_ident_run(text: str) -> str:
    """Return the longest suffix of ``text`` made of identifier characters."""
    i = len(text)
    while i > 0 and is_ident_char(text[i - 1]):
        i -= 1
    return text[i:]


def _next_prefix(data: bytes) -> bytes | None:
    """Return the smallest byte string greater than every string starting with ``data``."""
    stripped = data.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


@dataclass(eq=False)
class VocabIndex:
    """Per-token identifier and byte-prefix facts of one vocabulary, as tensors.

    Lead ids number the distinct leading identifier runs of the usable tokens
    (and of the text after a leading ``.``); id 0 is the empty run.
    """

    vocab_size: int
    lead_ids: dict[str, int]
    token_lead: torch.Tensor  # (V,) long: lead id of the token's leading identifier run
    token_pure: torch.Tensor  # (V,) bool: token text is a non-empty identifier run only
    token_tail: torch.Tensor  # (V,) bool: a non-identifier char follows the run (run may be "")
    starts_nonident: torch.Tensor  # (V,) bool: usable token starting with a non-identifier char
    starts_dot: torch.Tensor  # (V,) bool: usable token starting with "."
    dot_ident: torch.Tensor  # (V,) bool: "." followed by an identifier-start char
    dot_lead: torch.Tensor  # (V,) long: lead id of the run after the leading "." (else 0)
    dot_pure: torch.Tensor  # (V,) bool: "." + non-empty identifier run, nothing else
    dot_tail: torch.Tensor  # (V,) bool: "." + non-empty run + a non-identifier char
    usable: torch.Tensor  # (V,) bool: non-special, non-empty, valid UTF-8 text
    max_lead: int
    # byte-prefix queries: non-special non-empty surfaces, sorted
    sorted_surfaces: list[bytes] = field(repr=False, default_factory=list)
    sorted_ids: torch.Tensor = field(repr=False, default_factory=lambda: torch.empty(0))
    ids_by_surface: dict[bytes, list[int]] = field(repr=False, default_factory=dict)
    max_surface: int = 0
    lead_keys: frozenset[str] = field(repr=False, default=frozenset())
    # per lead id: tokens spelling exactly the lead / the lead + a non-identifier char
    # (lead 0's tail tokens are ``starts_nonident``), and the same after a leading "."
    pure_tokens: list[tuple[int, ...]] = field(repr=False, default_factory=list)
    tail_tokens: list[tuple[int, ...]] = field(repr=False, default_factory=list)
    dot_pure_tokens: dict[int, tuple[int, ...]] = field(repr=False, default_factory=dict)
    dot_tail_tokens: dict[int, tuple[int, ...]] = field(repr=False, default_factory=dict)
    dot_ident_ids: torch.Tensor = field(repr=False, default_factory=lambda: torch.empty(0))
    # (V,) bool: "." followed by a non-identifier char (".)", ". ", "..."): never a member access
    dot_other: torch.Tensor = field(repr=False, default_factory=lambda: torch.empty(0))
    # (V,) bool: pure identifier tokens that may start an identifier (not a digit)
    pure_ident_start: torch.Tensor = field(repr=False, default_factory=lambda: torch.empty(0))
    # assignment checks: tokens led (after blanks) by an operator character, or blank,
    # are checked one by one; every other usable token (``operator_others``) acts like "x"
    operator_ids: tuple[int, ...] = field(repr=False, default=())
    operator_texts: tuple[str, ...] = field(repr=False, default=())
    operator_others: torch.Tensor = field(repr=False, default_factory=lambda: torch.empty(0))
    _lru: OrderedDict[tuple[str, frozenset[str]], Any] = field(
        repr=False, default_factory=OrderedDict
    )
    _lock: threading.Lock = field(repr=False, default_factory=threading.Lock)

    @property
    def lead_count(self) -> int:
        return len(self.lead_ids)

    def tokens_with_lead(self, run: str) -> torch.Tensor:
        """Return ids (long) of the usable tokens whose leading identifier run is ``run``."""
        lid = self.lead_ids.get(run)
        if lid is None:
            return torch.zeros(0, dtype=torch.long)
        return torch.nonzero((self.token_lead == lid) & self.usable)[:, 0]

    # ------------------------------------------------------------ identifiers

    def lead_sets(self, suffixes: Iterable[str]) -> tuple[list[int], list[int]]:
        """Return (pure, tail) lead ids for the remaining ``suffixes``.

        pure: leads that are a non-empty prefix of some suffix; tail: leads equal
        to some suffix (lead 0, ``""``, when the identifier may end here).
        Results for frozensets are kept in the index's small LRU.
        """
        key = ("leads", suffixes) if isinstance(suffixes, frozenset) else None
        cached = self._cached(key)
        if cached is not None:
            return cached
        suffixes = suffixes if isinstance(suffixes, (set, frozenset)) else set(suffixes)
        limit = self.max_lead
        prefixes = {r[:i] for r in suffixes for i in range(1, min(len(r), limit) + 1)}
        pure = [self.lead_ids[k] for k in prefixes.intersection(self.lead_keys)]
        tail = [self.lead_ids[k] for k in self.lead_keys.intersection(suffixes)]
        return self._store(key, (pure, tail))

    def identifier_mask(self, suffixes: Iterable[str]) -> torch.Tensor:
        """Return allowed tokens (V,) bool that continue an identifier by one of ``suffixes``.

        Allowed: tokens whose text is a non-empty prefix of a suffix, or a whole
        suffix followed by a non-identifier character (``""`` in ``suffixes``
        allows every token that starts with a non-identifier character). The
        work is proportional to the allowed leads, not to the vocabulary. Masks
        of frozensets are cached in a small LRU shared by every request: never
        modify a returned mask in place.
        """
        key = ("identifier", suffixes) if isinstance(suffixes, frozenset) else None
        cached = self._cached(key)
        if cached is not None:
            return cached
        pure, tail = self.lead_sets(suffixes)
        ids = [t for lid in pure for t in self.pure_tokens[lid]]
        ids += [t for lid in tail for t in self.tail_tokens[lid]]
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)  # (V,)
        if ids:
            mask[torch.tensor(ids, dtype=torch.long)] = True
        if 0 in tail:
            mask |= self.starts_nonident
        return self._store(key, mask)

    def crossing_mask(self, members: Iterable[str]) -> torch.Tensor:
        """Return allowed tokens (V,) bool when a ``.`` may come next and ``members`` follow it.

        Tokens that start with ``.`` + identifier characters cross the trigger:
        they are allowed only if what follows the dot is a prefix of a member, or
        a whole member followed by a non-identifier character; ``.`` followed by a
        non-identifier character (``.)``, ``.'``) is never a valid member access of
        a known receiver. Every other token is allowed. Cached like
        :meth:`identifier_mask`.
        """
        key = ("crossing", members) if isinstance(members, frozenset) else None
        cached = self._cached(key)
        if cached is not None:
            return cached
        mask = torch.ones(self.vocab_size, dtype=torch.bool)  # (V,)
        if len(self.dot_ident_ids):
            pure, tail = self.lead_sets(members)
            ids = [t for lid in pure for t in self.dot_pure_tokens.get(lid, ())]
            ids += [t for lid in tail for t in self.dot_tail_tokens.get(lid, ())]
            mask[self.dot_ident_ids] = False
            if ids:
                mask[torch.tensor(ids, dtype=torch.long)] = True
        if len(self.dot_other):
            mask &= ~self.dot_other
        return self._store(key, mask)

    def clear_caches(self) -> None:
        """Forget cached lead sets and masks (benchmarks measure cold steps with it)."""
        with self._lock:
            self._lru.clear()

    def _cached(self, key: tuple[str, frozenset[str]] | None) -> Any:
        if key is None:
            return None
        with self._lock:
            value = self._lru.get(key)
            if value is not None:
                self._lru.move_to_end(key)
            return value

    def _store(self, key: tuple[str, frozenset[str]] | None, value: Any) -> Any:
        if key is not None:
            with self._lock:
                self._lru[key] = value
                while len(self._lru) > _CACHE_LIMIT:
                    self._lru.popitem(last=False)
        return value

    # ------------------------------------------------------------- byte prefixes

    def prefix_token_ids(self, data: bytes) -> list[int]:
        """Return ids of non-special tokens whose non-empty surface is a prefix of ``data``."""
        out: list[int] = []
        for i in range(1, min(len(data), self.max_surface) + 1):
            out.extend(self.ids_by_surface.get(data[:i], ()))
        return out

    def extension_token_ids(self, data: bytes) -> torch.Tensor:
        """Return ids (long tensor) of non-special tokens whose surface starts with ``data``."""
        lo = bisect.bisect_left(self.sorted_surfaces, data)
        upper = _next_prefix(data)
        hi = (
            len(self.sorted_surfaces)
            if upper is None
            else bisect.bisect_left(self.sorted_surfaces, upper, lo)
        )
        return self.sorted_ids[lo:hi]

    def prefix_compatible_mask(self, data: bytes) -> torch.Tensor:
        """Return tokens (V,) bool whose surface is a prefix of ``data`` or extends it."""
        mask = torch.zeros(self.vocab_size, dtype=torch.bool)
        if not data:
            return mask
        mask[self.extension_token_ids(data)] = True
        prefixes = self.prefix_token_ids(data)
        if prefixes:
            mask[torch.tensor(prefixes, dtype=torch.long)] = True
        return mask


# characters that begin assignment operators (``=``, ``+=``, ``:``, ``,`` ...)
OPERATOR_CHARS = frozenset("=:,+-*/%<>&|^@")


def build_vocab_index(table: TokenTable) -> VocabIndex:
    """Compute the index of ``table`` (one pass over the vocabulary)."""
    n = table.vocab_size
    special = table.special.tolist()
    partial = table.partial_utf8.tolist()
    lead_ids: dict[str, int] = {"": 0}
    token_lead = [0] * n
    token_pure = [False] * n
    token_tail = [False] * n
    starts_nonident = [False] * n
    starts_dot = [False] * n
    dot_ident = [False] * n
    dot_lead = [0] * n
    dot_pure = [False] * n
    dot_tail = [False] * n
    dot_other = [False] * n
    usable = [False] * n
    pure_ident_start = [False] * n
    operator_others = [False] * n
    operator_ids: list[int] = []
    max_lead = 0

    def lead_id(run: str) -> int:
        lid = lead_ids.get(run)
        if lid is None:
            lid = lead_ids[run] = len(lead_ids)
        return lid

    for i, text in enumerate(table.texts):
        if special[i] or partial[i] or not text:
            continue
        usable[i] = True
        run = leading_ident_run(text)
        token_lead[i] = lead_id(run)
        max_lead = max(max_lead, len(run))
        if len(run) == len(text):
            token_pure[i] = True
            pure_ident_start[i] = is_ident_start(text[0])
        else:
            token_tail[i] = True
            starts_nonident[i] = not run
        if text[0] == "." and len(text) > 1 and is_ident_start(text[1]):
            after = leading_ident_run(text[1:])
            dot_ident[i] = True
            dot_lead[i] = lead_id(after)
            max_lead = max(max_lead, len(after))
            dot_pure[i] = len(after) + 1 == len(text)
            dot_tail[i] = not dot_pure[i]
        starts_dot[i] = text[0] == "."
        dot_other[i] = starts_dot[i] and len(text) > 1 and not dot_ident[i]
        lead = text.lstrip(" \t")[:1]
        if not lead or lead in OPERATOR_CHARS:
            operator_ids.append(i)
        else:
            operator_others[i] = True

    pure_tokens: list[list[int]] = [[] for _ in lead_ids]
    tail_tokens: list[list[int]] = [[] for _ in lead_ids]
    dot_pure_tokens: dict[int, list[int]] = {}
    dot_tail_tokens: dict[int, list[int]] = {}
    for i in range(n):
        if token_pure[i]:
            pure_tokens[token_lead[i]].append(i)
        elif token_tail[i] and token_lead[i]:
            tail_tokens[token_lead[i]].append(i)
        if dot_pure[i]:
            dot_pure_tokens.setdefault(dot_lead[i], []).append(i)
        elif dot_tail[i]:
            dot_tail_tokens.setdefault(dot_lead[i], []).append(i)

    surfaces = [(s, i) for i, s in enumerate(table.surfaces) if s and not special[i]]
    surfaces.sort()
    ids_by_surface: dict[bytes, list[int]] = {}
    for s, i in surfaces:
        ids_by_surface.setdefault(s, []).append(i)

    def bools(values: list[bool]) -> torch.Tensor:
        return torch.tensor(values, dtype=torch.bool)

    return VocabIndex(
        vocab_size=n,
        lead_ids=lead_ids,
        token_lead=torch.tensor(token_lead, dtype=torch.long),
        token_pure=bools(token_pure),
        token_tail=bools(token_tail),
        starts_nonident=bools(starts_nonident),
        starts_dot=bools(starts_dot),
        dot_ident=bools(dot_ident),
        dot_lead=torch.tensor(dot_lead, dtype=torch.long),
        dot_pure=bools(dot_pure),
        dot_tail=bools(dot_tail),
        dot_other=bools(dot_other),
        usable=bools(usable),
        max_lead=max_lead,
        sorted_surfaces=[s for s, _ in surfaces],
        sorted_ids=torch.tensor([i for _, i in surfaces], dtype=torch.long),
        ids_by_surface=ids_by_surface,
        max_surface=max((len(s) for s, _ in surfaces), default=0),
        lead_keys=frozenset(lead_ids),
        pure_tokens=[tuple(t) for t in pure_tokens],
        tail_tokens=[tuple(t) for t in tail_tokens],
        dot_pure_tokens={k: tuple(v) for k, v in dot_pure_tokens.items()},
        dot_tail_tokens={k: tuple(v) for k, v in dot_tail_tokens.items()},
        dot_ident_ids=torch.tensor([i for i, d in enumerate(dot_ident) if d], dtype=torch.long),
        pure_ident_start=bools(pure_ident_start),
        operator_ids=tuple(operator_ids),
        operator_texts=tuple(table.texts[i] for i in operator_ids),
        operator_others=bools(operator_others),
    )


def vocab_index(table: TokenTable) -> VocabIndex:
    """Return the index of ``table``, built on first use and cached on the table object."""
    index = table.__dict__.get(_CACHE_ATTR)
    if index is not None and index.vocab_size == table.vocab_size:
        return index
    with _BUILD_LOCK:
        index = table.__dict__.get(_CACHE_ATTR)
        if index is None or index.vocab_size != table.vocab_size:
            index = build_vocab_index(table)
            table.__dict__[_CACHE_ATTR] = index
    return index


# ------------------------------------------------------------- on-disk cache

_INDEX_FORMAT = 1
_TENSOR_FIELDS = (
    "token_lead",
    "token_pure",
    "token_tail",
    "starts_nonident",
    "starts_dot",
    "dot_ident",
    "dot_lead",
    "dot_pure",
    "dot_tail",
    "usable",
    "sorted_ids",
    "dot_ident_ids",
    "dot_other",
    "pure_ident_start",
    "operator_others",
)


def _groups(ids: np.ndarray, keys: np.ndarray) -> dict[int, tuple[int, ...]]:
    """Return ``{key: ascending ids with that key}`` for parallel arrays ``ids``/``keys``."""
    if ids.size == 0:
        return {}
    order = np.lexsort((ids, keys))
    ids, keys = ids[order], keys[order]
    bounds = [0, *(np.flatnonzero(np.diff(keys)) + 1).tolist(), int(ids.size)]
    flat, key_list = ids.tolist(), keys.tolist()
    return {key_list[a]: tuple(flat[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)}


def save_vocab_index(index: VocabIndex, path: Path) -> None:
    """Write the per-token facts of ``index`` (``.npz``, no pickle); groupings are derived."""
    leads = sorted(index.lead_ids, key=index.lead_ids.get)
    arrays = {name: getattr(index, name).numpy() for name in _TENSOR_FIELDS}
    arrays["meta"] = np.array(
        [_INDEX_FORMAT, index.vocab_size, index.max_lead, index.max_surface], dtype=np.int64
    )
    arrays["leads"] = np.frombuffer(json.dumps(leads).encode("utf-8"), dtype=np.uint8)
    arrays["operator_ids"] = np.array(index.operator_ids, dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)  # readers never see a half-written file


def load_vocab_index(path: Path, table: TokenTable) -> VocabIndex:
    """Read an index written by :func:`save_vocab_index` for ``table``; rebuild the groupings."""
    with np.load(path, allow_pickle=False) as data:
        meta = data["meta"].tolist()
        if meta[0] != _INDEX_FORMAT or meta[1] != table.vocab_size:
            raise ValueError(f"{path} does not hold an index of this vocabulary")
        tensors = {name: torch.from_numpy(data[name].copy()) for name in _TENSOR_FIELDS}
        leads = json.loads(data["leads"].tobytes().decode("utf-8"))
        operator_ids = tuple(data["operator_ids"].tolist())
    lead_ids = {lead: i for i, lead in enumerate(leads)}
    lead = tensors["token_lead"].numpy()
    dot_lead = tensors["dot_lead"].numpy()
    pure = tensors["token_pure"].numpy()
    tail = tensors["token_tail"].numpy() & ~pure & (lead != 0)
    dot_pure = tensors["dot_pure"].numpy()
    dot_tail = tensors["dot_tail"].numpy() & ~dot_pure
    every = np.arange(table.vocab_size, dtype=np.int64)
    pure_by, tail_by = _groups(every[pure], lead[pure]), _groups(every[tail], lead[tail])
    sorted_ids = tensors["sorted_ids"].tolist()
    sorted_surfaces = [table.surfaces[i] for i in sorted_ids]
    ids_by_surface: dict[bytes, list[int]] = {}
    for s, i in zip(sorted_surfaces, sorted_ids, strict=True):
        ids_by_surface.setdefault(s, []).append(i)
    return VocabIndex(
        vocab_size=table.vocab_size,
        lead_ids=lead_ids,
        max_lead=meta[2],
        max_surface=meta[3],
        sorted_surfaces=sorted_surfaces,
        ids_by_surface=ids_by_surface,
        lead_keys=frozenset(lead_ids),
        pure_tokens=[pure_by.get(k, ()) for k in range(len(leads))],
        tail_tokens=[tail_by.get(k, ()) for k in range(len(leads))],
        dot_pure_tokens=_groups(every[dot_pure], dot_lead[dot_pure]),
        dot_tail_tokens=_groups(every[dot_tail], dot_lead[dot_tail]),
        operator_ids=operator_ids,
        operator_texts=tuple(table.texts[i] for i in operator_ids),
        **tensors,
    )


def cached_vocab_index(table: TokenTable, cache_dir: Path | None = None) -> VocabIndex:
    """Return the index of ``table``: attached, else read from disk, else built and written.

    The file is keyed by :meth:`TokenTable.digest` (the tokenizer's surfaces and special
    tokens), so a 151k vocabulary is indexed once per machine, at load time, never on
    the request path. An unreadable file is rebuilt.
    """
    index = table.__dict__.get(_CACHE_ATTR)
    if index is not None and index.vocab_size == table.vocab_size:
        return index
    path = (cache_dir or default_cache_dir()) / f"vocab-index-{table.digest()}.npz"
    with _BUILD_LOCK:
        index = None
        if path.is_file():
            try:
                index = load_vocab_index(path, table)
            except (OSError, ValueError, KeyError) as exc:
                log.warning("rebuilding vocabulary index (%s)", exc)
        if index is None:
            index = build_vocab_index(table)
            try:
                save_vocab_index(index, path)
            except OSError as exc:  # a read-only home still serves
                log.warning("cannot cache the vocabulary index at %s: %s", path, exc)
        table.__dict__[_CACHE_ATTR] = index
    return index

"""Surface strings of every vocabulary entry, computed once per tokenizer.

Decoders, monitors, healing and repetition constraints reason about the text a
token spells, not its id. This table maps each id to the exact bytes it adds to
the output, for byte-level BPE (GPT-2 style, ``Ġ`` = space) and SentencePiece
(``▁`` = space, ``<0xNN>`` byte fallback) vocabularies, with a generic fallback
that decodes tokens one at a time. Special tokens spell nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

_BYTE_FALLBACK = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


def default_cache_dir() -> Path:
    """Return where per-tokenizer tables are cached (``SUPERPOSE_CACHE_DIR`` overrides)."""
    env = os.environ.get("SUPERPOSE_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "superpose-ls"


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """Inverse of GPT-2's bytes_to_unicode: printable stand-in char -> byte."""
    bs = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


def _tokenizer_kind(tokenizer: Any) -> str:
    """Return 'bytelevel', 'sentencepiece' or 'generic' for a HF tokenizer."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        try:
            spec = json.loads(backend.to_str())
        except Exception:  # noqa: BLE001 - exotic backends fall back to generic
            spec = {}
        text = json.dumps(spec.get("decoder")) + json.dumps(spec.get("pre_tokenizer"))
        if "ByteLevel" in text:
            return "bytelevel"
        if "Metaspace" in text or "\u2581" in text or "Replace" in text:
            return "sentencepiece"
    if getattr(tokenizer, "sp_model", None) is not None:
        return "sentencepiece"
    return "generic"


@dataclass
class TokenTable:
    """Per-token surface bytes and derived flags, indexed by token id."""

    surfaces: list[bytes]
    special: torch.Tensor  # (V,) bool
    texts: list[str]  # surface decoded as UTF-8 ('' for partial UTF-8 tokens)
    partial_utf8: torch.Tensor  # (V,) bool: bytes that are not valid UTF-8 alone
    has_newline: torch.Tensor  # (V,) bool

    @property
    def vocab_size(self) -> int:
        return len(self.surfaces)

    def decode(self, ids: list[int] | tuple[int, ...]) -> str:
        """Return the text spelled by ``ids`` (invalid UTF-8 replaced)."""
        return b"".join(self.surfaces[i] for i in ids).decode("utf-8", errors="replace")

    def decode_bytes(self, ids: list[int] | tuple[int, ...]) -> bytes:
        return b"".join(self.surfaces[i] for i in ids)

    def digest(self) -> str:
        """Return a hash of every surface and special flag (keys on-disk caches)."""
        cached = self.__dict__.get("_digest")
        if cached is None:
            h = hashlib.sha256()
            h.update(np.array([len(s) for s in self.surfaces], dtype=np.int64).tobytes())
            h.update(b"".join(self.surfaces))
            h.update(self.special.numpy().tobytes())
            cached = self.__dict__["_digest"] = h.hexdigest()[:24]
        return cached

    def save(self, path: Path) -> None:
        """Write the surfaces and special flags (``.npz``, no pickle; atomic)."""
        lengths = np.array([len(s) for s in self.surfaces], dtype=np.int64)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                lengths=lengths,
                data=np.frombuffer(b"".join(self.surfaces), dtype=np.uint8),
                special=self.special.numpy(),
            )
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> TokenTable:
        """Read a table written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as data:
            lengths, blob = data["lengths"], data["data"].tobytes()
            special = np.flatnonzero(data["special"]).tolist()
        ends = np.cumsum(lengths).tolist()
        starts = [0, *ends[:-1]]
        surfaces = [blob[a:b] for a, b in zip(starts, ends, strict=True)]
        return cls.from_surfaces(surfaces, set(special))

    @classmethod
    def cached(
        cls,
        tokenizer: Any,
        vocab_size: int | None = None,
        extra_special: Iterable[int] = (),
        cache_dir: Path | None = None,
    ) -> TokenTable:
        """Return :meth:`from_tokenizer`'s table, read from ``cache_dir`` when built before.

        Keyed by a hash of the whole tokenizer (its serialised backend: vocabulary,
        merges, added tokens, normalisation), the vocabulary size and the extra special
        ids. A 151k vocabulary takes seconds to tabulate; a cached one a fraction of that.
        """
        extra = sorted(int(i) for i in extra_special)
        backend = getattr(tokenizer, "backend_tokenizer", None)
        spec = (
            backend.to_str() if backend is not None else repr(sorted(tokenizer.get_vocab().items()))
        )
        key = hashlib.sha256(
            f"{spec}|{vocab_size}|{extra}|{type(tokenizer).__name__}".encode()
        ).hexdigest()[:24]
        path = (cache_dir or default_cache_dir()) / f"token-table-{key}.npz"
        if path.is_file():
            try:
                return cls.load(path)
            except (OSError, ValueError, KeyError):
                pass  # rebuilt below
        table = cls.from_tokenizer(tokenizer, vocab_size, extra)
        try:
            table.save(path)
        except OSError:
            pass  # a read-only cache still serves
        return table

    @classmethod
    def from_surfaces(cls, surfaces: list[bytes], special: set[int] | None = None) -> TokenTable:
        """Build the table from raw surfaces (tests use hand-built vocabularies)."""
        special = special or set()
        texts: list[str] = []
        partial = []
        for s in surfaces:
            try:
                texts.append(s.decode("utf-8"))
                partial.append(False)
            except UnicodeDecodeError:
                texts.append("")
                partial.append(True)
        return cls(
            surfaces=surfaces,
            special=torch.tensor([i in special for i in range(len(surfaces))], dtype=torch.bool),
            texts=texts,
            partial_utf8=torch.tensor(partial, dtype=torch.bool),
            has_newline=torch.tensor([b"\n" in s for s in surfaces], dtype=torch.bool),
        )

    @classmethod
    def from_tokenizer(
        cls, tokenizer: Any, vocab_size: int | None = None, extra_special: Iterable[int] = ()
    ) -> TokenTable:
        """Build the table of a HF tokenizer; ids past its vocabulary spell nothing.

        ``extra_special`` ids (FIM sentinels that a vocabulary lists as ordinary pieces,
        e.g. Code Llama's ``▁<PRE>``) spell nothing either. Added tokens that are not
        special (CodeGen's runs of spaces, DeepSeek's sentinels) spell their literal
        content: they are matched in the raw text, never byte-level mapped.
        """
        n = vocab_size or len(tokenizer)
        kind = _tokenizer_kind(tokenizer)
        special_ids = set(getattr(tokenizer, "all_special_ids", []) or [])
        added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        special_ids |= {i for i, t in added.items() if getattr(t, "special", False)}
        special_ids |= {int(i) for i in extra_special}
        literal = {
            i: str(getattr(t, "content", t)) for i, t in added.items() if i not in special_ids
        }
        pieces = tokenizer.convert_ids_to_tokens(list(range(min(n, len(tokenizer)))))
        surfaces: list[bytes] = []
        decoder = _byte_decoder()
        for i in range(n):
            piece = pieces[i] if i < len(pieces) else None
            if piece is None or i in special_ids:
                surfaces.append(b"")
                special_ids.add(i)
            elif i in literal:
                text = literal[i]
                if kind == "sentencepiece":
                    text = text.replace("\u2581", " ")
                surfaces.append(text.encode("utf-8"))
            elif kind == "bytelevel":
                try:
                    surfaces.append(bytes(decoder[c] for c in piece))
                except KeyError:  # an added non-special token spelled literally
                    surfaces.append(piece.encode("utf-8"))
            elif kind == "sentencepiece":
                m = _BYTE_FALLBACK.match(piece)
                if m:
                    surfaces.append(bytes([int(m.group(1), 16)]))
                else:
                    surfaces.append(piece.replace("\u2581", " ").encode("utf-8"))
            else:
                surfaces.append(tokenizer.decode([i]).encode("utf-8"))
        return cls.from_surfaces(surfaces, special_ids)

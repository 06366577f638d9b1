"""N-gram tables on the served model's token ids (background corpus + workspace).

Superposed Decoding (Shen et al. 2024, "Superposed Decoding: Multiple Generations
from a Single Autoregressive Inference Pass", section 3) scores every (draft,
token) candidate as ``(1-a)·log p_LM + a·log p_ngram(token | draft context)``:
the shared LM distribution cannot tell drafts apart, the n-gram term can. The
paper interpolates 2- to 6-gram models built on a text corpus; here the tables
are built on the served model's *token ids* so that look-ups need no
detokenisation, and they combine

* a **background** table built once from the training corpus (shipped next to
  the default model as ``ngram.npz``, or built on first use for a user's model
  and cached on disk), and
* a **workspace** table updated incrementally as documents open, change and
  close (a document's old counts are subtracted and its new counts added), so
  the project's own identifiers become reachable.

Smoothing: *interpolated absolute discounting* (Ney, Essen & Kneser 1994) over
the configured orders, on top of an add-one unigram, so every candidate of
every context (seen or not) gets a finite log-probability::

    P_1(w)    = (c(w) + 1) / (N + V)
    P_n(w|h)  = (max(c(h,w) - D_n, 0) + (D_n · T(h) + R(h)) · P_{n-1}(w|h')) / c(h)  if c(h) > 0
              = P_{n-1}(w|h')                                                     otherwise

with ``c(h) = Σ_w c(h,w)`` over *all* n-grams, ``T(h)`` the number of distinct
kept continuations and ``R(h)`` the count mass of continuations pruned away
(pruning by count moves their mass to the back-off term, so every distribution
stays normalised and pruning costs little). The discount ``D_n`` of each order
is fixed at 0.9 (on 30k held-out stdlib tokens: perplexity 107.6, against 114.4
with Ney's estimate ``n1 / (n1 + 2 n2)``, which stays available with
``discount=None``).

Storage: an n-gram ``t_1 … t_n`` becomes one ``uint64`` key, the base-V number
of its tokens (exact whenever ``V ** max_order <= 2 ** 64``, e.g. 8192 or 50257
tokens with 4-grams; otherwise a polynomial hash with an odd 64-bit base, whose
collisions are negligible at these table sizes). Keys live in sorted arrays with
their counts; a look-up of all ``rows × N`` candidates of a decoding step is a
handful of ``np.searchsorted`` calls. Files are ``.npz`` (``allow_pickle=False``),
never pickle.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.loader import DEFAULT_MODEL_DIR

log = logging.getLogger(__name__)

MISSING = -1  # context padding: "no token at this position"
DEFAULT_ORDERS = (2, 3, 4)
DEFAULT_DISCOUNT = 0.9
DEFAULT_NGRAM_PATH = DEFAULT_MODEL_DIR / "ngram.npz"
_HASH_BASE = 0x9E3779B97F4A7C15  # odd 64-bit constant (golden ratio), base of the hash mode
_FORMAT_VERSION = 1

ArrayLike = Any  # np.ndarray | torch.Tensor | nested sequences


def _as_int64(x: ArrayLike) -> np.ndarray:
    """Return ``x`` (ndarray, tensor or sequence) as an int64 ndarray."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.int64)


# ------------------------------------------------------------- sorted counts


def _sorted_lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return (position, found) of ``keys`` (m,) in unique ``sorted_keys``."""
    idx = np.searchsorted(sorted_keys, keys)  # (m,)
    if sorted_keys.shape[0] == 0:
        return idx, np.zeros(keys.shape[0], dtype=bool)
    found = sorted_keys[np.minimum(idx, sorted_keys.shape[0] - 1)] == keys
    return idx, found


class SortedCounts:
    """Sorted unique ``uint64`` keys with int64 value columns, cheap to update.

    Two levels: the main sorted arrays and a small pending buffer for keys the
    main arrays lack, merged in when it outgrows 1/32 of the main part. A row whose
    counts reach 0 stays until the next merge (it reads as absent), so a small
    edit never rewrites the whole table. Every key lives in exactly one level.
    """

    def __init__(self, keys: np.ndarray, values: np.ndarray) -> None:
        self.keys = keys.astype(np.uint64)  # main level, sorted
        self.values = values.astype(np.int64)  # (n, columns)
        self._pkeys = np.zeros(0, dtype=np.uint64)  # pending level, sorted
        self._pvalues = np.zeros((0, self.values.shape[1]), dtype=np.int64)

    @classmethod
    def empty(cls, columns: int) -> SortedCounts:
        return cls(np.zeros(0, dtype=np.uint64), np.zeros((0, columns), dtype=np.int64))

    def __len__(self) -> int:
        """Return the number of keys with a non-zero count."""
        return int((self.values[:, 0] != 0).sum() + (self._pvalues[:, 0] != 0).sum())

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """Return the value rows of ``keys`` (any shape) -> (*shape, columns); 0 when absent."""
        flat = keys.reshape(-1)
        out = np.zeros((flat.shape[0], self.values.shape[1]), dtype=np.int64)
        for level_keys, level_values in ((self.keys, self.values), (self._pkeys, self._pvalues)):
            if level_keys.shape[0] and flat.shape[0]:
                idx, hit = _sorted_lookup(level_keys, flat)
                out[hit] = level_values[idx[hit]]
        return out.reshape(*keys.shape, self.values.shape[1])

    def add(self, keys: np.ndarray, deltas: np.ndarray) -> None:
        """Add ``deltas`` (m, columns) at unique sorted ``keys`` (m,)."""
        if keys.shape[0] == 0:
            return
        idx, in_main = _sorted_lookup(self.keys, keys)
        pidx, in_pending = _sorted_lookup(self._pkeys, keys)
        in_pending &= ~in_main
        new = ~(in_main | in_pending)
        if (
            (deltas[new] < 0).any()
            or (self.values[idx[in_main]] + deltas[in_main] < 0).any()
            or (self._pvalues[pidx[in_pending]] + deltas[in_pending] < 0).any()
        ):
            raise ValueError("n-gram count went negative (document removed twice?)")
        # keys already stored: update in place, O(m)
        self.values[idx[in_main]] += deltas[in_main]
        self._pvalues[pidx[in_pending]] += deltas[in_pending]
        # new keys: into the small pending level
        if new.any():
            self._pkeys = np.insert(self._pkeys, pidx[new], keys[new])
            self._pvalues = np.insert(self._pvalues, pidx[new], deltas[new], axis=0)
        if self._pkeys.shape[0] > max(1024, self.keys.shape[0] // 32):
            self.compact()

    def compact(self) -> None:
        """Merge the pending level into the main arrays and drop zero rows."""
        if self._pkeys.shape[0]:
            at = np.searchsorted(self.keys, self._pkeys)
            self.keys = np.insert(self.keys, at, self._pkeys)
            self.values = np.insert(self.values, at, self._pvalues, axis=0)
            self._pkeys = self._pkeys[:0]
            self._pvalues = self._pvalues[:0]
        keep = self.values[:, 0] != 0
        if not keep.all():
            self.keys, self.values = self.keys[keep], self.values[keep]


# ------------------------------------------------------------------- table


@dataclass
class NgramCounts:
    """Counts of one order n: n-gram keys -> c(h,w); context keys -> (c(h), T(h), R(h))."""

    order: int
    ngrams: SortedCounts = field(default_factory=lambda: SortedCounts.empty(1))
    contexts: SortedCounts = field(default_factory=lambda: SortedCounts.empty(3))


@dataclass
class NgramStats:
    """Raw n-gram counts of one token sequence: per order (keys, context keys, counts)."""

    unigram_ids: np.ndarray
    unigram_counts: np.ndarray
    orders: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]

    def negated(self) -> NgramStats:
        return NgramStats(
            self.unigram_ids,
            -self.unigram_counts,
            {n: (k, c, -v) for n, (k, c, v) in self.orders.items()},
        )


def net_stats(table: NgramTable, old: NgramStats, new: NgramStats) -> NgramStats:
    """Return ``new - old`` with unchanged n-grams left out."""
    uni = np.zeros(table.vocab_size, dtype=np.int64)
    np.add.at(uni, new.unigram_ids, new.unigram_counts)
    np.add.at(uni, old.unigram_ids, -old.unigram_counts)
    changed = np.nonzero(uni)[0]
    orders: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for n in table.orders:
        keys = np.concatenate([new.orders[n][0], old.orders[n][0]])
        ctx = np.concatenate([new.orders[n][1], old.orders[n][1]])
        counts = np.concatenate([new.orders[n][2], -old.orders[n][2]])
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        summed = np.zeros(uniq.shape[0], dtype=np.int64)
        np.add.at(summed, inverse.reshape(-1), counts)
        moved = summed != 0
        orders[n] = (uniq[moved], ctx[first][moved], summed[moved])
    return NgramStats(changed, uni[changed], orders)


class NgramTable:
    """Interpolated absolute-discounting n-gram model over token ids (orders e.g. 2..4)."""

    def __init__(
        self,
        vocab_size: int,
        orders: Sequence[int] = DEFAULT_ORDERS,
        discount: float | Mapping[int, float] = DEFAULT_DISCOUNT,
    ) -> None:
        orders = tuple(sorted(set(int(n) for n in orders)))
        if not orders or orders[0] < 2:
            raise ValueError(f"orders must be >= 2, got {orders}")
        if vocab_size < 1:
            raise ValueError("vocab_size must be >= 1")
        if isinstance(discount, Mapping):
            discounts = {n: float(discount[n]) for n in orders}
        else:
            discounts = {n: float(discount) for n in orders}
        if not all(0.0 < d < 1.0 for d in discounts.values()):
            raise ValueError("discounts must be in (0, 1)")
        self.vocab_size = int(vocab_size)
        self.orders = orders
        self.discounts = discounts
        exact = self.vocab_size ** orders[-1] <= 2**64
        self.hashed = not exact
        self.base = np.uint64(self.vocab_size if exact else _HASH_BASE)
        self._offset = np.uint64(1 if self.hashed else 0)
        self.unigram = np.zeros(self.vocab_size, dtype=np.int64)
        self.counts: dict[int, NgramCounts] = {n: NgramCounts(n) for n in orders}

    # -- keys

    @property
    def context_length(self) -> int:
        """Number of context tokens the highest order looks at."""
        return self.orders[-1] - 1

    def pack(self, ids: np.ndarray) -> np.ndarray:
        """Return the uint64 key of each row of ``ids`` (rows, m) (tokens must be valid)."""
        key = np.zeros(ids.shape[0], dtype=np.uint64)
        cols = ids.astype(np.uint64)
        for j in range(ids.shape[1]):
            key = key * self.base + cols[:, j] + self._offset
        return key

    def extend(self, context_keys: np.ndarray, tokens: np.ndarray) -> np.ndarray:
        """Return keys of (context, token): ``context_keys`` (...,) or broadcastable to tokens."""
        return context_keys * self.base + tokens.astype(np.uint64) + self._offset

    # -- counting

    def stats_of(self, ids: ArrayLike) -> NgramStats:
        """Return the raw n-gram counts of one token sequence (n-grams never cross it)."""
        seq = _as_int64(ids).reshape(-1)
        if seq.size and (seq.min() < 0 or seq.max() >= self.vocab_size):
            raise ValueError("token id outside the table's vocabulary")
        uni_ids, uni_counts = np.unique(seq, return_counts=True)
        per_order: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for n in self.orders:
            windows = seq.shape[0] - n + 1
            if windows <= 0:
                empty = np.zeros(0, dtype=np.uint64)
                per_order[n] = (empty, empty, np.zeros(0, dtype=np.int64))
                continue
            ctx = np.zeros(windows, dtype=np.uint64)  # (windows,)
            useq = seq.astype(np.uint64)
            for j in range(n - 1):
                ctx = ctx * self.base + useq[j : j + windows] + self._offset
            keys = self.extend(ctx, seq[n - 1 : n - 1 + windows])  # (windows,)
            uniq, first, counts = np.unique(keys, return_index=True, return_counts=True)
            per_order[n] = (uniq, ctx[first], counts.astype(np.int64))
        return NgramStats(uni_ids, uni_counts.astype(np.int64), per_order)

    def add_stats(self, stats: NgramStats) -> None:
        """Add (or, with negated stats, subtract) raw counts; keeps c(h) and T(h) exact."""
        np.add.at(self.unigram, stats.unigram_ids, stats.unigram_counts)
        if (self.unigram < 0).any():
            raise ValueError("unigram count went negative (document removed twice?)")
        for n, (keys, ctx_keys, deltas) in stats.orders.items():
            if keys.shape[0] == 0:
                continue
            table = self.counts[n]
            old = table.ngrams.lookup(keys)[:, 0]  # (m,)
            new = old + deltas
            type_delta = (new > 0).astype(np.int64) - (old > 0).astype(np.int64)
            uctx, inverse = np.unique(ctx_keys, return_inverse=True)
            ctx_delta = np.zeros((uctx.shape[0], 3), dtype=np.int64)
            np.add.at(ctx_delta[:, 0], inverse, deltas)
            np.add.at(ctx_delta[:, 1], inverse, type_delta)
            table.ngrams.add(keys, deltas[:, None])
            table.contexts.add(uctx, ctx_delta)

    # -- look-up

    def log_probs_with_support(
        self, contexts: ArrayLike, candidates: ArrayLike
    ) -> tuple[np.ndarray, np.ndarray]:
        """Return (log P(candidate | context) (rows, N), c(h) of the longest seen context (rows,)).

        ``contexts`` (rows, L): the last L tokens before each row's next token, left-padded
        with ``MISSING`` (-1) when shorter; ``candidates`` (rows, N) token ids.
        """
        ctx = _as_int64(contexts)
        cand = _as_int64(candidates)
        rows, n_cand = cand.shape
        if ctx.ndim != 2 or ctx.shape[0] != rows:
            raise ValueError("contexts must be (rows, L) with the candidates' rows")
        in_vocab = (cand >= 0) & (cand < self.vocab_size)  # (rows, N)
        cand_c = np.where(in_vocab, cand, 0)
        total = float(self.unigram.sum())
        prob = (np.where(in_vocab, self.unigram[cand_c], 0) + 1.0) / (total + self.vocab_size)
        support = np.zeros(rows, dtype=np.int64)
        for n in self.orders:
            d = self.discounts[n]
            m = n - 1
            if ctx.shape[1] < m:
                break
            hist = ctx[:, ctx.shape[1] - m :]  # (rows, m)
            valid = ((hist >= 0) & (hist < self.vocab_size)).all(axis=1)  # (rows,)
            hkeys = self.pack(np.where(valid[:, None], hist, 0))  # (rows,)
            table = self.counts[n]
            c_h, types, rest = table.contexts.lookup(hkeys).T  # (rows,) each
            c_h = np.where(valid, c_h, 0)
            keys = self.extend(hkeys[:, None], cand_c)  # (rows, N)
            c_hw = np.where(in_vocab, table.ngrams.lookup(keys)[..., 0], 0)  # (rows, N)
            seen = c_h > 0  # (rows,)
            denom = np.where(seen, c_h, 1).astype(np.float64)[:, None]
            backoff = (d * types + rest)[:, None]  # (rows, 1)
            interp = (np.maximum(c_hw - d, 0.0) + backoff * prob) / denom
            prob = np.where(seen[:, None], interp, prob)
            support = np.where(seen, c_h, support)
        assert prob.shape == (rows, n_cand)
        return np.log(prob), support

    def log_probs(self, contexts: ArrayLike, candidates: ArrayLike) -> np.ndarray:
        """Return log P(candidate | context), shape (rows, N); finite for every input."""
        return self.log_probs_with_support(contexts, candidates)[0]

    # -- persistence

    def save(self, path: str | Path) -> None:
        """Write the table as compressed ``.npz`` (sorted keys delta-encoded; no pickle)."""
        arrays: dict[str, np.ndarray] = {
            "meta": np.array(
                [_FORMAT_VERSION, self.vocab_size, int(self.hashed)] + list(self.orders),
                dtype=np.int64,
            ),
            "discounts": np.array([self.discounts[n] for n in self.orders], dtype=np.float64),
            "unigram": self.unigram,
        }
        for n, table in self.counts.items():
            table.ngrams.compact()
            table.contexts.compact()
            arrays[f"ngram_keys_{n}"] = _delta_encode(table.ngrams.keys)
            arrays[f"ngram_counts_{n}"] = _narrow(table.ngrams.values[:, 0])
            arrays[f"ctx_keys_{n}"] = _delta_encode(table.contexts.keys)
            arrays[f"ctx_totals_{n}"] = _narrow(table.contexts.values[:, 0])
            arrays[f"ctx_types_{n}"] = _narrow(table.contexts.values[:, 1])
            arrays[f"ctx_pruned_{n}"] = _narrow(table.contexts.values[:, 2])
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> NgramTable:
        """Read a table written by :meth:`save` (``allow_pickle=False``)."""
        with np.load(Path(path), allow_pickle=False) as data:
            meta = data["meta"].tolist()
            if meta[0] != _FORMAT_VERSION:
                raise ValueError(f"unsupported n-gram file version {meta[0]}")
            orders = meta[3:]
            discounts = dict(zip(orders, data["discounts"].tolist(), strict=True))
            table = cls(meta[1], orders=orders, discount=discounts)
            if table.hashed != bool(meta[2]):
                raise ValueError("n-gram file key mode does not match its vocabulary")
            table.unigram = data["unigram"].astype(np.int64)
            for n in table.orders:
                ngrams = SortedCounts(
                    _delta_decode(data[f"ngram_keys_{n}"]),
                    data[f"ngram_counts_{n}"].astype(np.int64)[:, None],
                )
                contexts = SortedCounts(
                    _delta_decode(data[f"ctx_keys_{n}"]),
                    np.stack(
                        [data[f"ctx_{c}_{n}"] for c in ("totals", "types", "pruned")], axis=1
                    ).astype(np.int64),
                )
                table.counts[n] = NgramCounts(n, ngrams, contexts)
        return table

    def entries(self) -> int:
        """Return the number of stored n-grams over all orders."""
        return sum(len(t.ngrams) for t in self.counts.values())

    def same_counts(self, other: NgramTable) -> bool:
        """Return True when both tables hold exactly the same counts (compacts both)."""
        if (self.vocab_size, self.orders, self.hashed) != (
            other.vocab_size,
            other.orders,
            other.hashed,
        ):
            return False
        if not np.array_equal(self.unigram, other.unigram):
            return False
        for n in self.orders:
            a, b = self.counts[n], other.counts[n]
            for x, y in ((a.ngrams, b.ngrams), (a.contexts, b.contexts)):
                x.compact()
                y.compact()
                if not (np.array_equal(x.keys, y.keys) and np.array_equal(x.values, y.values)):
                    return False
        return True


def _counts_from(
    order: int, keys: np.ndarray, ctx_keys: np.ndarray, counts: np.ndarray, min_count: int
) -> NgramCounts:
    """Return the counts of one order from unique sorted n-gram keys with their contexts.

    N-grams seen fewer than ``min_count`` times are dropped; their mass stays in c(h) as
    R(h). Contexts left without any kept continuation are dropped (they back off anyway).
    """
    keep = counts >= min_count
    uctx, inverse = np.unique(ctx_keys, return_inverse=True)
    ctx_values = np.zeros((uctx.shape[0], 3), dtype=np.int64)
    np.add.at(ctx_values[:, 0], inverse, counts)
    np.add.at(ctx_values[:, 1], inverse, keep.astype(np.int64))
    np.add.at(ctx_values[:, 2], inverse, np.where(keep, 0, counts))
    has_kept = ctx_values[:, 1] > 0
    return NgramCounts(
        order,
        SortedCounts(keys[keep], counts[keep].astype(np.int64)[:, None]),
        SortedCounts(uctx[has_kept], ctx_values[has_kept]),
    )


def estimated_discount(counts: np.ndarray) -> float:
    """Return Ney's absolute discount ``n1 / (n1 + 2 n2)`` (clipped to [0.1, 0.95])."""
    n1 = float((counts == 1).sum())
    n2 = float((counts == 2).sum())
    if n1 + 2 * n2 == 0:
        return DEFAULT_DISCOUNT
    return min(0.95, max(0.1, n1 / (n1 + 2 * n2)))


def _delta_encode(keys: np.ndarray) -> np.ndarray:
    """Sorted uint64 keys -> first key then differences (compresses far better)."""
    if keys.shape[0] == 0:
        return keys.astype(np.uint64)
    return np.concatenate([keys[:1], np.diff(keys)]).astype(np.uint64)


def _delta_decode(deltas: np.ndarray) -> np.ndarray:
    return np.cumsum(deltas.astype(np.uint64), dtype=np.uint64)


def _narrow(values: np.ndarray) -> np.ndarray:
    """Return non-negative counts in the smallest unsigned dtype that holds them."""
    top = int(values.max()) if values.size else 0
    for dtype in (np.uint8, np.uint16, np.uint32):
        if top <= np.iinfo(dtype).max:
            return values.astype(dtype)
    return values.astype(np.uint64)


# ---------------------------------------------------------------- builders


def merged_stats(table: NgramTable, documents: Iterable[ArrayLike]) -> NgramStats:
    """Return the summed raw counts of several documents (n-grams never cross documents)."""
    parts = [table.stats_of(doc) for doc in documents]
    if len(parts) == 1:
        return parts[0]
    uni = np.zeros(table.vocab_size, dtype=np.int64)
    orders: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for part in parts:
        np.add.at(uni, part.unigram_ids, part.unigram_counts)
    for n in table.orders:
        keys = np.concatenate([p.orders[n][0] for p in parts] or [np.zeros(0, np.uint64)])
        ctx = np.concatenate([p.orders[n][1] for p in parts] or [np.zeros(0, np.uint64)])
        counts = np.concatenate([p.orders[n][2] for p in parts] or [np.zeros(0, np.int64)])
        uniq, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        summed = np.zeros(uniq.shape[0], dtype=np.int64)
        np.add.at(summed, inverse.reshape(-1), counts)
        orders[n] = (uniq, ctx[first], summed)
    present = np.nonzero(uni)[0]
    return NgramStats(present, uni[present], orders)


def build_table(
    documents: Iterable[ArrayLike],
    vocab_size: int,
    orders: Sequence[int] = DEFAULT_ORDERS,
    min_count: int = 1,
    discount: float | None = DEFAULT_DISCOUNT,
) -> NgramTable:
    """Return a table counting every document; n-grams seen < ``min_count`` times are pruned.

    The unigram keeps every token. ``discount=None`` estimates one discount per order.
    """
    table = NgramTable(vocab_size, orders)
    stats = merged_stats(table, documents)
    table.unigram[stats.unigram_ids] = stats.unigram_counts
    for n, (keys, ctx_keys, counts) in stats.orders.items():
        table.discounts[n] = estimated_discount(counts) if discount is None else float(discount)
        table.counts[n] = _counts_from(n, keys, ctx_keys, counts, min_count)
    return table


def build_background(
    stream: ArrayLike,
    orders: Sequence[int] = DEFAULT_ORDERS,
    min_count: int = 2,
    vocab_size: int | None = None,
    discount: float | None = DEFAULT_DISCOUNT,
) -> NgramTable:
    """Return the background table of a packed training stream (files separated by EOS).

    The stream is counted as one sequence: n-grams spanning an EOS keep the "start of
    file" signal. N-grams seen fewer than ``min_count`` times are pruned.
    """
    seq = _as_int64(stream).reshape(-1)
    vocab = int(vocab_size if vocab_size is not None else (seq.max() + 1 if seq.size else 1))
    return build_table([seq], vocab, orders, min_count, discount)


def write_default_background(
    checkpoint_dir: str | Path = "checkpoints/default",
    out_path: str | Path = DEFAULT_NGRAM_PATH,
    orders: Sequence[int] = DEFAULT_ORDERS,
    min_count: int = 2,
) -> dict[str, float]:
    """Build the shipped background table from a training checkpoint; return size and time.

    Reads ``train_ids.npy`` (the packed uint16 stream) and the tokenizer's vocabulary size
    from ``tokenizer.json`` in ``checkpoint_dir``.
    """
    import json

    ckpt = Path(checkpoint_dir)
    started = time.perf_counter()
    stream = np.load(ckpt / "train_ids.npy", allow_pickle=False)
    spec = json.loads((ckpt / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = len(spec["model"]["vocab"])
    vocab = max(vocab, max((t["id"] + 1 for t in spec.get("added_tokens", [])), default=0))
    table = build_background(stream, orders=orders, min_count=min_count, vocab_size=vocab)
    table.save(out_path)
    seconds = time.perf_counter() - started
    size = Path(out_path).stat().st_size
    log.info("wrote %s (%d bytes, %d n-grams) in %.1fs", out_path, size, table.entries(), seconds)
    return {"bytes": float(size), "seconds": seconds, "entries": float(table.entries())}


def background_for(
    model_dir: str | Path,
    tokenizer: Any,
    vocab_size: int,
    cache_dir: str | Path | None = None,
    orders: Sequence[int] = DEFAULT_ORDERS,
    min_count: int = 2,
) -> NgramTable:
    """Return the background table of a model: shipped ``ngram.npz`` or built and cached.

    A model directory holding ``ngram.npz`` (the default model) is read as is. For any
    other model the standard-library corpus is tokenised with its tokenizer on first use
    and the table cached under ``cache_dir`` (default ``~/.cache/superpose-ls``), keyed by
    a hash of the tokenizer's vocabulary.
    """
    shipped = Path(model_dir) / "ngram.npz"
    if shipped.is_file():
        return NgramTable.load(shipped)
    vocab_items = sorted(tokenizer.get_vocab().items(), key=lambda kv: kv[1])
    digest = hashlib.sha1(repr((vocab_items, tuple(orders), min_count)).encode()).hexdigest()[:16]
    cache = Path(cache_dir or Path.home() / ".cache" / "superpose-ls") / f"ngram-{digest}.npz"
    if cache.is_file():
        return NgramTable.load(cache)
    from models.corpus import split_files

    eos = tokenizer.eos_token_id
    chunks: list[np.ndarray] = []
    for f in split_files()[0]:
        ids = tokenizer(f.read(), add_special_tokens=False)["input_ids"]
        chunks.append(np.asarray(ids + ([eos] if eos is not None else []), dtype=np.int64))
    stream = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)
    table = build_background(stream, orders=orders, min_count=min_count, vocab_size=vocab_size)
    table.save(cache)
    return table


# --------------------------------------------------------------- workspace


class WorkspaceNgrams:
    """N-gram counts of the open/indexed documents, updated incrementally per document."""

    def __init__(
        self,
        vocab_size: int,
        orders: Sequence[int] = DEFAULT_ORDERS,
        discount: float = DEFAULT_DISCOUNT,
    ) -> None:
        self.table = NgramTable(vocab_size, orders, discount)
        self._documents: dict[str, NgramStats] = {}
        # documents are recounted on a background thread while decoding reads the table
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._documents)

    def __contains__(self, key: str) -> bool:
        return key in self._documents

    def set_document(self, key: str, ids: Sequence[int] | np.ndarray) -> None:
        """Count (or recount) one document: subtract its old counts, add its new ones."""
        ids = _as_int64(ids).reshape(-1)
        ids = ids[(ids >= 0) & (ids < self.table.vocab_size)]
        new = self.table.stats_of(ids)
        with self._lock:
            old = self._documents.get(key)
            # only the difference touches the table: a small edit costs little
            self.table.add_stats(new if old is None else net_stats(self.table, old, new))
            self._documents[key] = new

    def remove_document(self, key: str) -> None:
        """Forget one document's counts (no-op for unknown keys)."""
        with self._lock:
            old = self._documents.pop(key, None)
            if old is not None:
                self.table.add_stats(old.negated())

    def log_probs_with_support(
        self, contexts: ArrayLike, candidates: ArrayLike
    ) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            return self.table.log_probs_with_support(contexts, candidates)

    def log_probs(self, contexts: ArrayLike, candidates: ArrayLike) -> np.ndarray:
        with self._lock:
            return self.table.log_probs(contexts, candidates)

    @property
    def context_length(self) -> int:
        return self.table.context_length


# ------------------------------------------------------------------ mixture


class NgramModel:
    """Background and workspace tables mixed per context.

    ``P = (1-λ)·P_background + λ·P_workspace`` with ``λ = λ_max · c / (c + κ)``, where
    ``c`` is how often the workspace has seen the row's longest known context. Where the
    project has its own habits (its identifiers after ``self.``, its call patterns) the
    workspace table dominates; where it has no evidence the background corpus decides.
    """

    def __init__(
        self,
        background: NgramTable | None,
        workspace: WorkspaceNgrams | None = None,
        max_workspace_weight: float = 0.8,
        workspace_strength: float = 2.0,
    ) -> None:
        if background is None and workspace is None:
            raise ValueError("NgramModel needs a background table, a workspace, or both")
        if not 0.0 <= max_workspace_weight <= 1.0:
            raise ValueError("max_workspace_weight must be in [0, 1]")
        if workspace_strength <= 0:
            raise ValueError("workspace_strength must be > 0")
        if background is not None and workspace is not None:
            if background.vocab_size != workspace.table.vocab_size:
                raise ValueError("background and workspace tables use different vocabularies")
        self.background = background
        self.workspace = workspace
        self.max_workspace_weight = max_workspace_weight
        self.workspace_strength = workspace_strength

    @property
    def context_length(self) -> int:
        tables = [t for t in (self.background, self.workspace) if t is not None]
        return max(t.context_length for t in tables)

    def workspace_weights(self, contexts: ArrayLike, candidates: ArrayLike) -> np.ndarray:
        """Return λ per row (rows,) for these contexts."""
        if self.workspace is None:
            return np.zeros(_as_int64(candidates).shape[0])
        _, support = self.workspace.log_probs_with_support(contexts, candidates)
        return self.max_workspace_weight * support / (support + self.workspace_strength)

    def log_probs(self, contexts: ArrayLike, candidates: ArrayLike) -> np.ndarray:
        """Return log P(candidate | context) of the mixture, shape (rows, N)."""
        if self.background is None:
            return self.workspace.log_probs(contexts, candidates)  # type: ignore[union-attr]
        lp_bg = self.background.log_probs(contexts, candidates)  # (rows, N)
        if self.workspace is None or len(self.workspace) == 0:
            return lp_bg
        lp_ws, support = self.workspace.log_probs_with_support(contexts, candidates)
        lam = self.max_workspace_weight * support / (support + self.workspace_strength)  # (rows,)
        with np.errstate(divide="ignore"):
            log_lam = np.log(lam)[:, None]
            log_rest = np.log1p(-lam)[:, None]
        return np.logaddexp(log_rest + lp_bg, log_lam + lp_ws)

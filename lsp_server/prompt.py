"""Prompt building for any causal LM: token-budgeted prefix/suffix windows, FIM, healing.

Windows are trimmed by tokens, not characters, keeping the lines nearest the
cursor; when trimming cuts away the header of the enclosing class/function, the
header lines are put back in front. Models whose tokenizer defines
fill-in-the-middle sentinels get a FIM prompt (Bavarian et al. 2022, "Efficient
Training of Language Models to Fill in the Middle"), PSM or SPM as the model was
trained; others get the prefix only. Token healing (the trailing partial word is
backed off and re-spelled under a prefix constraint) is applied to the prefix part.

While a person types, consecutive prompts should share as many leading tokens as
possible (the KV cache of the last prompt is reused, ``models.prompt_cache``): the
suffix window depends on the suffix alone, and the prefix window starts on a grid of
document characters, moving a step at a time instead of a line per keystroke. Only a
few budgets' worth of characters around the cursor are tokenised per request, and the
last few tokenisations are remembered per tokenizer: while a person types in one place
the suffix window is not tokenised again, and no text twice within one request. A text
sharing a long run with a recent one (the prefix window a keystroke later, the window
inside the tail it was cut from) reuses that one's tokens and tokenises only the ends
around the run, cut where the tokenisation provably splits (:func:`_spliced`; byte-level
BPE tokenizers with the GPT-2 pre-tokenizer, the others tokenise whole texts).

Definitions the code around the cursor refers to (``analysis.definitions``: signatures,
fields and docstring lines of classes and functions defined out of the window's sight)
may take a share of the prefix budget (:data:`DEFINITIONS_SHARE`); they are placed in
front of the prefix window, as repository-level completion puts retrieved context in
front of the in-file code (RepoCoder, Zhang et al. 2023; CrossCodeEval, Ding et al. 2023;
De-Hallucinator's API references, Eghbali & Pradel 2024). Those of the enclosing function
come first and do not depend on the statement being typed (their tokens stay the same
while a person types in one function); the receiver's and the statement's come last,
nearest the code.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from models.healing import heal_prompt
from models.loader import LoadedModel

# Characters looked at before tokenising (bounds work on huge documents).
MAX_PREFIX_CHARS = 24_000
MAX_SUFFIX_CHARS = 6_000
SUFFIX_SHARE = 0.25
CHARS_PER_TOKEN = 6  # a first guess of the characters a token budget spans (then doubled)
WINDOW_QUANTUM = 64  # the prefix window starts on this grid of document characters
DEFINITIONS_SHARE = 0.25  # of the prefix budget, at most, for referenced definitions
STABLE_SHARE = 0.6  # of that, at most, for the enclosing function's (tier-2) definitions
MIN_DEFINITIONS_TOKENS = 16  # a smaller share is not worth a summary
# incremental tokenisation (:func:`_spliced`)
REUSE_MIN_CHARS = 256  # shorter texts are tokenised whole
REMEMBER_MAX_CHARS = 4 * MAX_PREFIX_CHARS  # longer texts are not kept for reuse
RECENT_TOKENISATIONS = 8  # per tokenizer: the texts a new one may reuse the tokens of
RESYNC_CHECK_CHARS = 16  # each end re-tokenised this far into the shared run, compared
PROBE_CHARS = 32  # the piece of the new text looked up in the old one
SCAN_CHARS = 4096  # how far a cut is looked for
_CUT_AFTER = frozenset(" \t\n\r")


@dataclass(frozen=True)
class Prompt:
    """Token ids for the model plus what constraints need to know about them."""

    ids: list[int]
    prefix_text: str  # the document text the generation continues (after healing)
    removed_text: str  # healed text the draft re-spells first ("" when none)
    fim: bool
    prefix_tokens: int
    suffix_tokens: int
    definitions_tokens: int = 0  # the referenced definitions in front of the prefix
    definitions_text: str = ""


class ContextDefinition(Protocol):
    """A summary of a referenced definition (``analysis.definitions.Definition``)."""

    key: str
    text: str
    tier: int  # 0: the receiver, 1: the statement being typed, 2: the enclosing function


# (visible start, visible end) of the document -> the definitions, ranked
DefinitionsSource = Callable[[int, int], Sequence[ContextDefinition]]


class _Tokens(NamedTuple):
    """One text's token ids and the character offset where each token starts."""

    ids: tuple[int, ...]
    starts: tuple[int, ...]


@dataclass(frozen=True)
class _Profile:
    """What incremental tokenisation needs to know about a supported tokenizer."""

    added: tuple[str, ...]  # the added tokens' texts: a text spelling one is not spliced

    def spells_added(self, text: str) -> bool:
        """Return whether ``text`` contains an added (special) token's text."""
        return any(added in text for added in self.added)


class _Table:
    """What the memo holds for one tokenizer."""

    def __init__(self) -> None:
        self.values: OrderedDict[tuple[str, str], Any] = OrderedDict()
        self.recent: deque[tuple[str, _Tokens]] = deque(maxlen=RECENT_TOKENISATIONS)
        self.profile: _Profile | None = None
        self.profiled = False


class _Memo:
    """The last few tokenisations of each tokenizer, by text.

    Consecutive keystrokes tokenise the same strings again: the suffix window (it
    depends on the suffix alone), the summaries of referenced definitions, and within
    one request the window whose tokens were just counted. A hit costs a dictionary
    lookup instead of a tokenizer call. The longest recent tokenisations are kept apart
    too (:data:`RECENT_TOKENISATIONS`): a new text sharing a long run with one of them
    reuses its tokens (:func:`_spliced`).
    """

    SIZE = 256

    def __init__(self) -> None:
        self._tables: weakref.WeakKeyDictionary[Any, _Table] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _table(self, tokenizer: Any) -> _Table | None:
        """Return the table of ``tokenizer`` (call with the lock held; None if it cannot
        be weakly referenced or hashed)."""
        try:
            table = self._tables.get(tokenizer)
            if table is None:
                table = self._tables[tokenizer] = _Table()
            return table
        except TypeError:
            return None

    def get(self, tokenizer: Any, kind: str, text: str, compute: Callable[[], Any]) -> Any:
        """Return the remembered ``compute()`` for (``kind``, ``text``), computing it once."""
        key = (kind, text)
        with self._lock:
            table = self._table(tokenizer)
            if table is None:
                return compute()
            if key in table.values:
                table.values.move_to_end(key)
                return table.values[key]
        value = compute()
        with self._lock:
            table.values[key] = value
            while len(table.values) > self.SIZE:
                table.values.popitem(last=False)
        return value

    def profile(self, tokenizer: Any) -> _Profile | None:
        """Return the incremental-tokenisation profile of ``tokenizer`` (None: unsupported)."""
        with self._lock:
            table = self._table(tokenizer)
            if table is None:
                return None
            if table.profiled:
                return table.profile
        profile = _profile(tokenizer)
        with self._lock:
            if not table.profiled:
                table.profile, table.profiled = profile, True
            return table.profile

    def distrust(self, tokenizer: Any) -> None:
        """Turn incremental tokenisation off for ``tokenizer`` (a splice failed its check)."""
        with self._lock:
            table = self._table(tokenizer)
            if table is not None:
                table.profile, table.profiled = None, True

    def recent(self, tokenizer: Any) -> list[tuple[str, _Tokens]]:
        """Return the recent long tokenisations of ``tokenizer``, newest first."""
        with self._lock:
            table = self._table(tokenizer)
            return [] if table is None else list(reversed(table.recent))

    def remember(self, tokenizer: Any, text: str, tokens: _Tokens) -> None:
        """Keep ``tokens`` of ``text`` for later texts to reuse."""
        with self._lock:
            table = self._table(tokenizer)
            if table is not None and all(old != text for old, _ in table.recent):
                table.recent.append((text, tokens))


_MEMO = _Memo()


def _profile(tokenizer: Any) -> _Profile | None:
    """Return the profile of a tokenizer whose tokens can be spliced, None for any other.

    Supported: a fast (Rust) tokenizer without normaliser whose pre-tokenizer is the
    byte-level GPT-2 regex without a prefix space, with a deterministic BPE model (no
    dropout), and a post-processor that adds nothing without special tokens; its added
    tokens must not strip their neighbours. Their tokens split at every :func:`_is_cut`.
    """
    try:
        from tokenizers import Tokenizer, models, pre_tokenizers, processors

        backend = tokenizer.backend_tokenizer
        if not isinstance(backend, Tokenizer) or backend.normalizer is not None:
            return None
        pre = backend.pre_tokenizer
        if not isinstance(pre, pre_tokenizers.ByteLevel) or pre.add_prefix_space:
            return None
        if not pre.use_regex or not isinstance(backend.model, models.BPE):
            return None
        if backend.model.dropout:
            return None
        post = backend.post_processor
        if post is not None and not isinstance(post, processors.TemplateProcessing):
            if not isinstance(post, processors.ByteLevel) or post.add_prefix_space:
                return None
        added = list(backend.get_added_tokens_decoder().values())
        added += list(getattr(tokenizer, "added_tokens_decoder", {}).values())
    except Exception:  # noqa: BLE001 - anything unexpected: tokenise whole texts
        return None
    if any(token.lstrip or token.rstrip or token.single_word for token in added):
        return None
    return _Profile(tuple(sorted({str(token.content) for token in added if token.content})))


def _call(lm: LoadedModel, text: str) -> _Tokens:
    """Return the ids and token starts of ``text`` from one tokenizer call."""
    enc = lm.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return _Tokens(tuple(enc["input_ids"]), tuple(start for start, _ in enc["offset_mapping"]))


def _tokens(lm: LoadedModel, text: str) -> _Tokens | None:
    """Return the ids and token starts of ``text``, remembered, reusing the tokens of a
    recent text it shares a long run with (None: the tokenizer is not supported)."""
    profile = _MEMO.profile(lm.tokenizer)
    if profile is None:
        return None

    def compute() -> _Tokens:
        """Return the tokens of ``text``, spliced from a recent text's when possible."""
        if len(text) < REUSE_MIN_CHARS or profile.spells_added(text):
            return _call(lm, text)
        best: tuple[int, str, _Tokens, tuple[int, int, int]] | None = None
        for old_text, old in _MEMO.recent(lm.tokenizer):  # newest first
            run = _alignment(text, old_text)
            if run is not None and (best is None or run[2] > best[0]):
                best = (run[2], old_text, old, run)
                if 10 * run[2] >= 9 * len(text):  # good enough: look no further
                    break
        tokens = None
        if best is not None:
            tokens = _spliced(lm, text, best[1], best[2], *best[3])
        if tokens is None:
            tokens = _call(lm, text)
        if len(text) <= REMEMBER_MAX_CHARS:
            _MEMO.remember(lm.tokenizer, text, tokens)
        return tokens

    return _MEMO.get(lm.tokenizer, "tokens", text, compute)


def _encode(lm: LoadedModel, text: str) -> list[int]:
    """Return ``lm.encode(text)``, remembered for the next few requests."""
    tokens = _tokens(lm, text)
    if tokens is not None:
        return list(tokens.ids)
    return list(_MEMO.get(lm.tokenizer, "ids", text, lambda: tuple(lm.encode(text))))


def _count(lm: LoadedModel, text: str) -> int:
    """Return the number of tokens of ``text``."""
    return len(_encode(lm, text)) if text else 0


def _token_starts(lm: LoadedModel, text: str) -> list[int] | None:
    """Return the character offset where each token of ``text`` starts (None if unknown)."""
    tokens = _tokens(lm, text)
    if tokens is not None:
        return list(tokens.starts)

    def compute() -> tuple[int, ...] | None:
        try:
            enc = lm.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        except (NotImplementedError, TypeError, ValueError):  # slow tokenizers: no offsets
            return None
        return tuple(start for start, _ in enc["offset_mapping"])

    starts = _MEMO.get(lm.tokenizer, "starts", text, compute)
    return None if starts is None else list(starts)


# Incremental tokenisation (issue 21 item 2). While a person types, the text to tokenise
# shares all but a few characters with one tokenised a keystroke ago (or is a part of
# one tokenised a moment ago: the window inside the tail it was cut from). Its tokens
# are the old ones over the shared run, with only the ends around it tokenised again,
# cut where the tokenisation provably splits:
#
# A *cut* of a text T is a position r with T[r-1] not whitespace (not str.isspace, hence
# not the regex's \s) and T[r] one of " \t\n\r". The GPT-2 byte-level pre-tokenizer
# splits T with  's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# (leftmost match, then on from its end; no look-behind, no anchors). At a cut r:
# (1) a piece ends at r: a piece holding T[r-1] (not whitespace) is not one of the
#     whitespace alternatives, and the others hold whitespace only as their first
#     character (the optional space), so it cannot go on to T[r];
# (2) the pieces before r are those of T[:r]: the piece at s is decided by T[s:s+3]
#     (the alternatives tried first fail within three characters) and by T up to the
#     character stopping its run (a whitespace piece: the one after the whitespace run,
#     which \s+(?!\S) backs off from). No whitespace run reaches past T[r-1], so nothing
#     past T[r] is read, and where T[r] is read it stops a letter, digit or punctuation
#     run or fails a contraction, as the end of T[:r] does;
# (3) the pieces from r are those of T[r:] (matching from r reads T[r:] alone).
# BPE encodes each piece on its own, so tokens(T) = tokens(T[:r]) + tokens(T[r:]), the
# latter's offsets moved by r. With N[p:p+m] == O[q:q+m], a position strictly inside the
# run that is a cut of N is one of O (the same two characters; an end of the run serves
# where each text ends or is cut there), so cutting N at a < b and O at a-p+q < b-p+q,
# the tokens of N[a:b] are the old tokens of O between those cuts.
# Added (special) tokens are split off before pre-tokenising: texts spelling one are
# tokenised whole. Each splice is also checked: the ends are tokenised from a cut
# :data:`RESYNC_CHECK_CHARS` into the run, and the tokens over that overlap must be the
# old ones, re-joining the old token boundaries at the splice; else the whole text is
# tokenised and the tokenizer is no longer spliced.


def _is_cut(text: str, i: int) -> bool:
    """Return whether the tokens of ``text`` provably split at ``i`` (see above)."""
    return 0 < i < len(text) and text[i] in _CUT_AFTER and not text[i - 1].isspace()


def _first_cut(text: str, lo: int, hi: int) -> int | None:
    """Return the first cut of ``text`` in [lo, hi) (None if none within SCAN_CHARS)."""
    for i in range(max(lo, 1), min(hi, lo + SCAN_CHARS, len(text))):
        if _is_cut(text, i):
            return i
    return None


def _last_cut(text: str, lo: int, hi: int) -> int | None:
    """Return the last cut of ``text`` in [lo, hi) (None if none within SCAN_CHARS)."""
    for i in range(min(hi, len(text)) - 1, max(lo, hi - SCAN_CHARS, 1) - 1, -1):
        if _is_cut(text, i):
            return i
    return None


def _galloped(n: int, same: Callable[[int, int], bool]) -> int:
    """Return how many of ``n`` characters match, where ``same(done, step)`` compares the
    ``step`` characters after the first ``done`` (galloping: chunks double while they
    match and halve when they do not)."""
    done, size = 0, 64
    while done < n:
        step = min(size, n - done)
        if same(done, step):
            done, size = done + step, size * 2
        elif step == 1:
            break
        else:
            size = step // 2
    return done


def _common_prefix(a: str, i: int, b: str, j: int) -> int:
    """Return how many characters ``a[i:]`` and ``b[j:]`` share at their start."""
    return _galloped(
        min(len(a) - i, len(b) - j),
        lambda done, step: a[i + done : i + done + step] == b[j + done : j + done + step],
    )


def _common_suffix(a: str, i: int, b: str, j: int) -> int:
    """Return how many characters ``a[:i]`` and ``b[:j]`` share at their end."""
    return _galloped(
        min(i, j), lambda done, step: a[i - done - step : i - done] == b[j - done - step : j - done]
    )


def _alignment(new: str, old: str) -> tuple[int, int, int] | None:
    """Return (p, q, m): the longest run ``new[p:p+m] == old[q:q+m]`` found through a
    probe of ``new`` (its middle, else a quarter in from either end), or None."""
    shared = _common_prefix(new, 0, old, 0)
    if 2 * shared >= len(new):  # typing at the end: the texts share their start
        return 0, 0, shared
    best: tuple[int, int, int] | None = None
    for at in (len(new) // 2, len(new) // 4, len(new) * 3 // 4):
        probe = new[at : at + PROBE_CHARS]
        q = old.find(probe)
        for _ in range(3):  # a few occurrences: the probe may repeat in the old text
            if q < 0:
                break
            back = _common_suffix(new, at, old, q)
            run = (at - back, q - back, back + _common_prefix(new, at, old, q))
            if best is None or run[2] > best[2]:
                best = run
            q = old.find(probe, q + 1)
        if best is not None and 2 * best[2] >= len(new):
            break
    return best


def _rejoins(part: _Tokens, lo: int, hi: int, old: _Tokens, shift: int) -> bool:
    """Return whether ``part``'s tokens of [lo, hi) are the old tokens of [lo+shift,
    hi+shift), ``part`` and ``old`` both starting a token at each end (or ending there)."""
    first, end = bisect.bisect_left(part.starts, lo), bisect.bisect_left(part.starts, hi)
    old_first = bisect.bisect_left(old.starts, lo + shift)
    old_end = bisect.bisect_left(old.starts, hi + shift)
    if end - first != old_end - old_first or end == first:
        return False
    if part.ids[first:end] != old.ids[old_first:old_end]:
        return False
    if any(
        s != o - shift
        for s, o in zip(part.starts[first:end], old.starts[old_first:old_end], strict=True)
    ):
        return False
    if part.starts[first] != lo or (end < len(part.starts) and part.starts[end] != hi):
        return False
    if old_end < len(old.starts) and old.starts[old_end] != hi + shift:
        return False
    return True


def _spliced(
    lm: LoadedModel, new: str, old_text: str, old: _Tokens, p: int, q: int, m: int
) -> _Tokens | None:
    """Return the tokens of ``new``: those of ``old`` over most of the shared run
    ``new[p:p+m] == old_text[q:q+m]``, the rest tokenised; None when not worth it or a
    check fails (see the comment above)."""
    shift = q - p  # old position = new position + shift

    def bound(i: int, j: int) -> bool:
        """Return whether new[i:] and old_text[j:] both split there (an end counts)."""
        return (i in (0, len(new)) or _is_cut(new, i)) and (
            j in (0, len(old_text)) or _is_cut(old_text, j)
        )

    a = p if bound(p, q) else _first_cut(new, p + 1, p + m)
    b = p + m if bound(p + m, q + m) else _last_cut(new, p + 1, p + m)
    if a is None or b is None or b - a < REUSE_MIN_CHARS:
        return None
    head_end = 0 if a == 0 else _first_cut(new, a + RESYNC_CHECK_CHARS, b)
    tail_start = len(new) if b == len(new) else _last_cut(new, a, b - RESYNC_CHECK_CHARS + 1)
    if head_end is None or tail_start is None or tail_start - head_end < REUSE_MIN_CHARS // 2:
        return None
    ids: list[int] = []
    starts: list[int] = []
    if head_end:
        head = _MEMO.get(lm.tokenizer, "tokens", new[:head_end], lambda: _call(lm, new[:head_end]))
        if not _rejoins(head, a, head_end, old, shift):
            _MEMO.distrust(lm.tokenizer)
            return None
        ids += head.ids
        starts += head.starts
    first = bisect.bisect_left(old.starts, head_end + shift)
    end = bisect.bisect_left(old.starts, tail_start + shift)
    ids += old.ids[first:end]
    starts += [start - shift for start in old.starts[first:end]] if shift else old.starts[first:end]
    if tail_start < len(new):
        text = new[tail_start:]
        tail = _MEMO.get(lm.tokenizer, "tokens", text, lambda: _call(lm, text))
        if not _rejoins(tail, 0, b - tail_start, old, tail_start + shift):
            _MEMO.distrust(lm.tokenizer)
            return None
        ids += tail.ids
        starts += [start + tail_start for start in tail.starts]
    return _Tokens(tuple(ids), tuple(starts))


def _after_newlines(text: str) -> list[int]:
    """Return the index after each newline of ``text``, in order."""
    after: list[int] = []
    i = text.find("\n")
    while i >= 0:
        after.append(i + 1)
        i = text.find("\n", i + 1)
    return after


def _tail_with_tokens(
    lm: LoadedModel, prefix: str, budget: int
) -> tuple[int, str, list[int] | None]:
    """Return (base, prefix[base:], token starts) for the shortest whole-line tail of
    ``prefix`` holding more than ``budget`` tokens (or all of it, at most MAX_PREFIX_CHARS).

    Only that tail is tokenised: a few times the budget in characters, not the whole file.
    """
    span = max(256, budget * CHARS_PER_TOKEN)
    while True:
        base = max(0, len(prefix) - min(span, MAX_PREFIX_CHARS))
        if base:
            base = prefix.find("\n", base) + 1 or base
        tail = prefix[base:]
        starts = _token_starts(lm, tail)
        enough = starts is None or len(starts) > budget
        if base == 0 or enough or span >= MAX_PREFIX_CHARS:
            return base, tail, starts
        span *= 2


def prefix_window(
    lm: LoadedModel, prefix: str, budget: int, headers: list[tuple[int, int]] | None = None
) -> str:
    """Return the tail of ``prefix`` that fits ``budget`` tokens, whole lines first.

    ``headers`` are (start, end) code-point ranges of enclosing header lines within
    ``prefix``; the ones cut away are prepended so the model still sees them. The
    window starts at a line start on a grid of :data:`WINDOW_QUANTUM` characters of the
    document, so while a person types it keeps its start (and consecutive prompts share
    their tokens, which the KV-cache reuse needs) and moves a step at a time.
    """
    return _prefix_window(lm, prefix, budget, headers)[0]


def _prefix_window(
    lm: LoadedModel, prefix: str, budget: int, headers: list[tuple[int, int]] | None = None
) -> tuple[str, int]:
    """:func:`prefix_window` and where its tail starts in ``prefix`` (code points)."""
    if budget <= 0:
        return "", len(prefix)
    base, tail, starts = _tail_with_tokens(lm, prefix, budget)
    line_starts = [0] + [i for i in _after_newlines(tail) if i < len(tail)]
    header_counts: dict[tuple[int, int], int] = {}

    def candidate(start: int) -> str:
        kept = [
            prefix[s:e].rstrip("\n") + "\n"
            for s, e in (headers or [])
            if s < base + start and e <= len(prefix)
        ]
        return "".join(kept) + tail[start:]

    def estimate(start: int) -> int:
        count = len(starts) - bisect.bisect_left(starts, start) if starts is not None else None
        if count is None:
            return _count(lm, candidate(start))
        for s, e in headers or []:
            if s < base + start and e <= len(prefix):
                if (s, e) not in header_counts:
                    header_counts[(s, e)] = _count(lm, prefix[s:e].rstrip("\n") + "\n")
                count += header_counts[(s, e)]
        return count

    for index, start in enumerate(line_starts):  # nearest lines kept: drop from the top
        if estimate(start) <= budget:
            # on the grid: the first line start at or after the next grid point
            grid = -(-(base + start) // WINDOW_QUANTUM) * WINDOW_QUANTUM - base
            for later in line_starts[index:]:
                if later >= grid:
                    start = later
                    break
            window = candidate(start)
            if _count(lm, window) <= budget:  # exact check of the estimate
                return window, base + start
    ids = lm.encode(tail[line_starts[-1] :])[-budget:]  # one huge line: keep its end
    window = lm.table.decode(ids)
    return window, max(0, len(prefix) - len(window))


def suffix_window(lm: LoadedModel, suffix: str, budget: int) -> str:
    """Return the head of ``suffix`` that fits ``budget`` tokens, whole lines first.

    The head is tokenised once; token offsets give each line end's token count.
    """
    if budget <= 0 or not suffix:
        return ""
    head = suffix[: min(MAX_SUFFIX_CHARS, max(256, budget * CHARS_PER_TOKEN * 2))]
    starts = _token_starts(lm, head)
    ends = _after_newlines(head)
    if len(head) == len(suffix) and not head.endswith("\n"):
        ends.append(len(head))  # the document's last line
    for end in reversed(ends):  # the longest window of whole lines that fits
        count = bisect.bisect_left(starts, end) if starts is not None else None
        if count is not None and count > budget + 1:
            continue  # clearly too long: no need to tokenise this window
        if _count(lm, head[:end]) <= budget:  # exact check of the estimate
            return head[:end]
    return ""


def _fit(
    lm: LoadedModel, found: Sequence[ContextDefinition], budget: int, taken: set[str]
) -> tuple[list[str], int]:
    """The summaries of ``found`` that fit ``budget`` tokens in rank order (one that does
    not fit is cut after its last whole line that does, keeping at least two lines or a
    one-line summary), and the tokens they take."""
    chosen: list[str] = []
    used = 0
    for definition in found:
        if definition.key in taken or budget - used < 4:
            continue
        text = definition.text + "\n"  # a blank line after each summary
        count = _count(lm, text)
        if used + count > budget:
            lines = definition.text.splitlines(keepends=True)
            text, count = "", 0
            for end in range(len(lines) - 1, 1, -1):
                cut = "".join(lines[:end]) + "\n"
                cut_count = _count(lm, cut)
                if used + cut_count <= budget:
                    text, count = cut, cut_count
                    break
            if not text:
                continue
        taken.add(definition.key)
        chosen.append(text)
        used += count
    return chosen, used


def definitions_block(lm: LoadedModel, found: Sequence[ContextDefinition], budget: int) -> str:
    """The text put in front of the prefix window: at most ``budget`` tokens of summaries.

    The enclosing function's definitions (tier 2) are chosen first, within
    :data:`STABLE_SHARE` of the budget and independently of the statement being typed;
    then the receiver's and the statement's (tiers 0-1) not chosen yet, in the rest. Each
    part is written least relevant first, so the most relevant summaries sit next to the
    code, and the statement's part (which changes more often) comes last.
    """
    if budget <= 0 or not found:
        return ""
    taken: set[str] = set()
    stable, used = _fit(lm, [d for d in found if d.tier >= 2], int(budget * STABLE_SHARE), taken)
    current, _ = _fit(lm, [d for d in found if d.tier < 2], budget - used, taken)
    return "".join(reversed(stable)) + "".join(reversed(current))


def build_prompt(
    lm: LoadedModel,
    text: str,
    offset: int,
    max_new_tokens: int,
    headers: list[tuple[int, int]] | None = None,
    use_fim: bool = True,
    heal: bool = True,
    max_prompt_tokens: int | None = None,
    definitions: DefinitionsSource | None = None,
    definitions_share: float = DEFINITIONS_SHARE,
) -> Prompt:
    """Return the prompt for a completion at ``offset`` of ``text``.

    ``max_prompt_tokens`` caps the prompt below what the context allows (automatic
    requests trade context for a shorter prefill). ``definitions`` (given the document
    range the windows show) returns summaries of referenced definitions; up to
    ``definitions_share`` of the prefix budget of them go in front of the prefix window
    (:func:`definitions_block`), which gets the tokens they leave.
    """
    budget = max(8, lm.context_length - max_new_tokens - 4)
    if max_prompt_tokens is not None:
        budget = max(8, min(budget, max_prompt_tokens))
    fim = lm.fim if use_fim else None
    suffix = text[offset:]
    # the suffix window depends on the suffix only (with SPM it leads the prompt: while
    # a person types, consecutive prompts then share it), the prefix takes the rest
    suffix_budget = int(budget * SUFFIX_SHARE) if fim is not None and suffix.strip() else 0
    suffix_text = suffix_window(lm, suffix, suffix_budget) if suffix_budget else ""
    suffix_ids = _encode(lm, suffix_text) if suffix_text else []
    prefix_budget = budget - len(suffix_ids)
    block, block_ids, prefix = "", [], None
    share = int(prefix_budget * definitions_share) if definitions is not None else 0
    if definitions is not None and share >= MIN_DEFINITIONS_TOKENS:
        # what the window shows needs no summary: ask with the smallest window it may get
        prefix, start = _prefix_window(lm, text[:offset], prefix_budget - share, headers)
        block = definitions_block(lm, definitions(start, offset + len(suffix_text)), share)
        block_ids = lm.encode(block) if block else []
        if len(block_ids) > share:  # merges across summaries: never over the share
            block, block_ids = "", []
        if len(block_ids) < share:  # the window takes what the summaries leave
            prefix = None
    if prefix is None:
        prefix = prefix_window(lm, text[:offset], prefix_budget - len(block_ids), headers)
    prefix_ids = _encode(lm, prefix) if prefix else []
    removed = ""
    if heal and prefix_ids:
        healed, removed = heal_prompt(lm.table, prefix_ids)
        # a backed-off "." would let the first token straddle the monitor's trigger
        # (").", ".(" ...): keep member accesses at the prompt's token boundary
        if "." in removed:
            removed = ""
        else:
            prefix_ids = healed
    prefix_text = prefix[: len(prefix) - len(removed)] if removed else prefix
    n_block = len(block_ids)
    if fim is not None:
        if lm.fim_mode == "spm":  # StarCoder's SPM: the middle continues the prefix
            ids = [fim.prefix, fim.suffix, *suffix_ids, fim.middle, *block_ids, *prefix_ids]
        else:
            ids = [fim.prefix, *block_ids, *prefix_ids, fim.suffix, *suffix_ids, fim.middle]
        counts = (len(prefix_ids), len(suffix_ids), n_block)
        return Prompt(ids, prefix_text, removed, True, *counts, block)
    if not prefix_ids and not block_ids:  # an empty document still needs one token
        prefix_ids = [next(iter(lm.eos_ids))] if lm.eos_ids else lm.encode("\n")
    ids = [*block_ids, *prefix_ids]
    return Prompt(ids, prefix_text, removed, False, len(prefix_ids), 0, n_block, block)

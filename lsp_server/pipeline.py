"""The completion pipeline: one path from a document snapshot and a cursor to ranked drafts.

Every completion the server gives, and every benchmark that measures one, runs
:meth:`CompletionPipeline.run` (benchmarks flip :class:`PipelineOptions` flags instead
of re-implementing steps). The steps, top to bottom:

1. **cursor facts**: what surrounds the cursor (analysis, once per request) decides
   single or multi-line and the stop rule;
2. **prompt**: token-budgeted prefix/suffix windows, FIM when the model has it, token
   healing (``lsp_server.prompt``);
3. **constraints** as plain-data objects: healing, the member monitor (Agrawal et al.
   2023) over the analysis' member oracle, the grammar-based repetition penalty (RPG,
   Dong et al. 2025) over statement signatures;
4. **decoding**: one pass of the chosen decoder (superposed decoding, Shen et al. 2024,
   by default), with the corpus + workspace n-grams;
5. **cleaning**: the healed prefix stripped, drafts fitted to the code after the cursor
   (``lsp_server.drafts``);
6. **ranking**: :func:`rank_drafts`, the one place drafts are ordered, by the typed
   ranking score of :class:`models.decoding.Draft`.

See docs/architecture.md for the picture.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from analysis.context import ShiftedOracle, member_oracle
from analysis.cursor import CursorFacts, cursor_facts
from analysis.definitions import referenced_definitions
from analysis.document import Document
from analysis.statements import StatementRepetition
from analysis.workspace import WorkspaceIndex
from lsp_server.backend import DecodeContext, LocalBackend
from lsp_server.drafts import (
    DraftContext,
    clean_draft,
    clean_drafts,
    draft_context,
    stop_index,
    wants_multiline,
)
from lsp_server.prompt import ContextDefinition, DefinitionsSource, Prompt, build_prompt
from lsp_server.settings import Settings
from models.confidence import ConfidenceModel, CursorEvidence
from models.decoding import DecodeRequest, DecodeResult, Draft, LogitsConstraint
from models.healing import HealingConstraint
from models.loader import LoadedModel
from models.monitor import MemberMonitor
from models.prompt_cache import PromptCache
from models.repetition import RepetitionPenalty
from models.suppress import SuppressSpecialTokens

_LEADING_IDENTIFIER = re.compile(r"\w*")
MAX_DOCUMENT_CHARS = 2_000_000  # larger documents are served with plain drafts
AUTOMATIC_DRAFTS = 2
AUTOMATIC_MAX_TOKENS = 16
AUTOMATIC_PROMPT_TOKENS = 256  # ghost text: half the default context, half the prefill
PROMPT_TAIL_CHARS = 256  # prompt text the monitor looks back over


@dataclass(frozen=True)
class PipelineOptions:
    """What one request asks of the pipeline (the settings, resolved for its kind)."""

    k: int = 4
    max_new_tokens: int = 48
    decoder: str = "superposed"
    monitor: bool = True
    repetition_penalty: bool = True
    ngram: bool = True
    verify: bool = True
    multiline: str = "auto"  # auto | never | always
    # drafts end after this many lines, the cursor's line the first (a benchmark's "a
    # newline and the next line" is 2); None: the stop rules alone
    max_lines: int | None = None
    healing: bool = True
    fim: bool = True
    # referenced definitions in front of the prefix window (the contextDefinitions setting)
    definitions: bool = Settings.contextDefinitions
    automatic: bool = False  # ghost text while typing: fewer, shorter drafts, one line
    max_prompt_tokens: int | None = None
    # ghost text: drafts cut where their calibrated confidence falls below the threshold
    confidence: ConfidenceModel | None = None
    confidence_threshold: float | None = None  # None: the model's calibrated threshold
    # keystrokes one wrong ghost text costs (None: the model's calibrated value, if any)
    confidence_wrong_cost: float | None = None

    @classmethod
    def for_request(
        cls,
        settings: Settings,
        automatic: bool = False,
        drafts: int | None = None,
        confidence: ConfidenceModel | None = None,
    ) -> PipelineOptions:
        """Return the options of a request of ``settings`` (automatic ones are cheaper and
        cut by ``confidence``, the model's calibration)."""
        k = 1 if settings.decoder == "greedy" else (drafts or settings.drafts)
        max_new = settings.maxNewTokens
        if automatic:
            k, max_new = min(k, AUTOMATIC_DRAFTS), min(max_new, AUTOMATIC_MAX_TOKENS)
        return cls(
            k=k,
            max_new_tokens=max_new,
            decoder=settings.decoder,
            monitor=settings.monitor,
            repetition_penalty=settings.repetitionPenalty,
            ngram=settings.ngram,
            verify=settings.verify and not automatic,  # ghost text: latency first
            multiline=settings.multiline,
            healing=settings.healing,
            fim=settings.fim,
            definitions=settings.contextDefinitions,
            automatic=automatic,
            max_prompt_tokens=AUTOMATIC_PROMPT_TOKENS if automatic else None,
            confidence=confidence if automatic else None,
            confidence_threshold=settings.ghostConfidence,
            confidence_wrong_cost=settings.ghostWrongCost,
        )


@dataclass
class RankedDraft:
    """A cleaned draft in rank order: insert ``text`` replacing ``document[start:end]``."""

    rank: int
    text: str
    score: float  # the ranking score (mean log-probability per token; higher is better)
    start: int
    end: int
    finish: str
    source: Draft  # the decoder's draft it was cleaned from
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class PipelineResult:
    """Ranked drafts plus what produced them (prompt, timings, the raw decoding result)."""

    drafts: list[RankedDraft]
    timings: dict[str, float]
    prompt: Prompt | None = None
    decoded: DecodeResult | None = None
    cancelled: bool = False


def rank_drafts(cleaned: list[tuple[Draft, str, int]], start: int) -> list[RankedDraft]:
    """Return cleaned drafts ``(source, text, replace_end)`` ordered by their ranking score.

    The one place drafts are ranked: by :attr:`models.decoding.Draft.ranking_score`
    (exact mean log-probability when verified, else the decoder's mean score), ties in
    the decoder's order. The shown score is the ranked score.
    """
    order = sorted(range(len(cleaned)), key=lambda i: -cleaned[i][0].ranking_score)
    return [
        RankedDraft(
            rank=rank,
            text=cleaned[i][1],
            score=round(cleaned[i][0].ranking_score, 4),
            start=start,
            end=cleaned[i][2],
            finish=cleaned[i][0].finish,
            source=cleaned[i][0],
            stats=dict(cleaned[i][0].stats),
        )
        for rank, i in enumerate(order)
    ]


class CompletionPipeline:
    """Model + n-grams + workspace knowledge: ``run(document, offset, options)`` -> drafts."""

    def __init__(
        self,
        lm: LoadedModel,
        ngrams: Any = None,
        workspace: WorkspaceIndex | None = None,
        prompt_cache: PromptCache | None = None,
        backend: Any = None,
    ) -> None:
        self.lm = lm
        self.ngrams = ngrams
        self.workspace = workspace
        self.prompt_cache = prompt_cache  # KV caches of each document's last prompt
        self.backend = backend or LocalBackend()  # decodes here, or on a model service

    def run(
        self,
        doc: Document,
        offset: int,
        options: PipelineOptions,
        cancel: threading.Event | None = None,
        on_progress: Callable[[list[str]], None] | None = None,
    ) -> PipelineResult:
        """Return ranked, cleaned drafts for the cursor at code-point ``offset`` of ``doc``."""
        lm = self.lm
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        text = doc.text
        offset = max(0, min(offset, len(text)))
        language = doc.language if len(text) <= MAX_DOCUMENT_CHARS else None
        analysed = doc if language is not None else Document(doc.uri, text, None)
        # 1. what surrounds the cursor decides single/multi-line and the stop rule
        facts = cursor_facts(analysed, offset, self.workspace)
        timings["facts_ms"] = _ms(t0)
        dctx = self.draft_shape(text, offset, language, options, facts.restart)
        # 2. the prompt: token-budgeted windows, FIM when the model has it, healing
        prompt = build_prompt(
            lm,
            text,
            offset,
            options.max_new_tokens,
            headers=facts.enclosing_headers,
            use_fim=options.fim and (lm.fim_policy != "mid-line" or facts.mid_line),
            heal=options.healing,
            max_prompt_tokens=options.max_prompt_tokens,
            definitions=self.definitions(analysed, facts, timings) if options.definitions else None,
        )
        timings["prompt_ms"] = _ms(t0)
        # 3. constraints as plain-data objects
        gen_offset = offset - len(prompt.removed_text)
        oracle = self.member_oracle(analysed, facts, prompt.removed_text)
        constraints = self.constraints(analysed, gen_offset, prompt, language, options, oracle)
        # 4. one decoding pass (ghost text: no token past where confidence is lost)
        evidence = cursor_evidence(facts)
        request = DecodeRequest(
            prompt_ids=prompt.ids,
            max_new_tokens=options.max_new_tokens + len(prompt.removed_text),
            k=options.k,
            constraints=constraints,
            stop=healed_stop(prompt.removed_text, dctx, options.max_lines),
            cancel=cancel,
            ngram=self.ngrams if options.ngram else None,
            ngram_weight=lm.ngram_weights.for_request(options.automatic),
            verify=options.verify,
            extend_while=confidence_rule(options, evidence),
            prompt_cache=self.prompt_cache,
            cache_key=doc.uri,
            on_step=_after_healing(prompt.removed_text, on_progress),
        )
        t1 = time.perf_counter()
        context = DecodeContext(
            analysed, offset, gen_offset, prompt, dctx, language, options, oracle, evidence
        )
        decoded = self.backend.decode(lm, request, context)  # lsp_server/backend.py
        timings["decode_ms"] = _ms(t1)
        timings.update({name: round(v, 2) for name, v in decoded.timings.items()})
        timings["forward_calls"] = decoded.forward_calls
        timings["generated_tokens"] = decoded.generated_tokens
        timings["ms_per_token"] = round(timings["decode_ms"] / max(1, decoded.generated_tokens), 3)
        if decoded.cancelled:
            return PipelineResult([], timings, prompt, decoded, cancelled=True)
        # 5. clean: strip the healed prefix, cut unassigned new attributes, fit the code
        #    after the cursor, dedupe
        removed = prompt.removed_text
        monitor = next((c for c in constraints if isinstance(c, MemberMonitor)), None)
        raw = [without_unfinished_attribute(d.text, monitor, removed) for d in decoded.drafts]
        # a draft stopped before it re-spelled the healed text says nothing after the cursor
        raw = [r[len(removed) :] if r.startswith(removed) else "" for r in raw]
        if options.max_lines is not None:  # also where a remote decoder had no such rule
            raw = [within_lines(r, options.max_lines) for r in raw]
        cleaned = [
            (decoded.drafts[index], clean.text, clean.replace_end)
            for index, clean in clean_drafts(raw, dctx)
        ]
        # 6. rank
        ranked = rank_drafts(cleaned, offset)
        # 7. ghost text: show each draft only as far as it is likely to be right
        if options.confidence is not None:
            shown = confident_drafts(ranked, removed, dctx, options, evidence, lm.table, monitor)
            # 8. ... but never less than the identifier the model and the analysis agree on
            ranked = identifier_floor(shown, ranked, facts, facts.oracle)
        return PipelineResult(ranked, timings, prompt, decoded)

    # ------------------------------------------------------------ steps

    @staticmethod
    def draft_shape(
        text: str,
        offset: int,
        language: str | None,
        options: PipelineOptions,
        restart: int | None = None,
    ) -> DraftContext:
        """Return the draft context: multi-line only where the cursor asks for a block
        (``restart``: where the cursor facts' lexing began, see :class:`DraftContext`)."""
        dctx = draft_context(text, offset, language, options.multiline, restart)
        multiline = wants_multiline(dctx) and not options.automatic
        if not multiline and dctx.multiline != "never":
            dctx = draft_context(text, offset, language, "never", restart)
        return dctx

    def definitions(
        self, doc: Document, facts: CursorFacts, timings: dict[str, float]
    ) -> DefinitionsSource | None:
        """Return the prompt's source of referenced definitions (``analysis.definitions``;
        Python only): given the document range the windows show, the summaries of what the
        code around the cursor refers to, ranked; the time it takes goes to ``timings``."""
        if doc.language != "python":
            return None
        oracle = facts.oracle
        statement_start = oracle.base(0).statement_start if oracle is not None else None

        def find(start: int, end: int) -> list[ContextDefinition]:
            started = time.perf_counter()
            found = referenced_definitions(
                doc, facts.offset, self.workspace, (start, end), statement_start
            )
            timings["definitions_ms"] = _ms(started)
            return list(found)

        return find

    def member_oracle(self, doc: Document, facts: CursorFacts, removed: str) -> Any:
        """Return the member oracle the monitor asks, at the generation point (healing
        moves it back over ``removed``); benchmarks wrap it to time it."""
        if facts.oracle is None or doc.language is None:
            return None
        if "\n" in removed:  # the generation point is on an earlier line
            return member_oracle(doc, facts.offset - len(removed), self.workspace)
        return ShiftedOracle(facts.oracle, len(removed)) if removed else facts.oracle

    def constraints(
        self,
        doc: Document,
        gen_offset: int,
        prompt: Prompt,
        language: str | None,
        options: PipelineOptions,
        oracle: Any = None,
    ) -> list[LogitsConstraint]:
        """Return the request's constraints: no control tokens, healing, member monitor,
        repetition penalty."""
        lm = self.lm
        constraints: list[LogitsConstraint] = [SuppressSpecialTokens(lm.table, lm.eos_ids)]
        if prompt.removed_text:
            constraints.append(HealingConstraint(lm.table, prompt.removed_text))
        if options.monitor and language is not None:
            if oracle is None:
                oracle = member_oracle(doc, gen_offset, self.workspace)
            tail = prompt.prefix_text[-PROMPT_TAIL_CHARS:]
            constraints.append(request_monitor(lm, oracle, tail, options.automatic))
        if options.repetition_penalty:
            oracle = (
                StatementRepetition.for_document(doc, gen_offset) if language is not None else None
            )
            constraints.append(RepetitionPenalty(lm.table, oracle, lm.eos_ids))
        return constraints


def request_monitor(
    lm: LoadedModel, oracle: Any, prompt_tail: str, automatic: bool
) -> MemberMonitor:
    """Return the member monitor of a request (here or on a model service): asked-for
    drafts (not ``automatic``), read as a list, are steered to members where a new
    attribute may be assigned (:class:`MemberMonitor`'s ``steer_new_names``)."""
    return MemberMonitor(lm.table, oracle, prompt_tail, lm.eos_ids, steer_new_names=not automatic)


def cursor_evidence(facts: CursorFacts) -> CursorEvidence:
    """Return the cursor facts the confidence model reads."""
    before = facts.text[facts.offset - 1] if facts.offset > 0 else ""
    return CursorEvidence(prose=facts.prose, mid_word=facts.mid_word, after_dot=before == ".")


def identifier_floor(
    shown: list[RankedDraft], ranked: list[RankedDraft], facts: CursorFacts, oracle: Any
) -> list[RankedDraft]:
    """Return ``shown`` extended to at least the identifier being typed, where known.

    Inside an identifier or right after a ``.``, the candidates are the receiver's members
    (when the analysis knows them) or the names written near the cursor. The first draft
    (in rank order, uncut) that completes the word to a candidate names the identifier
    the model ranks first; without one, a word with a single candidate completion gets
    that one. The ghost text then shows at least that identifier, even where the rest of
    the line is too uncertain to show: no static completer should save more keystrokes.
    """
    if facts.prose or not (facts.mid_word or facts.after_dot):
        return shown
    word = facts.word
    candidates = _candidates(facts, oracle)
    if not candidates:
        return shown
    floor = None
    for d in ranked:
        match = _LEADING_IDENTIFIER.match(d.text)
        rest = match.group(0) if match else ""
        complete = len(rest) < len(d.text) or d.finish in ("eos", "stop")
        if rest and complete and word + rest in candidates:
            floor = (rest, d)
            break
    if floor is None and not facts.after_dot and len(word) >= 2:
        completions = [c for c in candidates if c.startswith(word) and c != word]
        if len(completions) == 1 and ranked:
            floor = (completions[0][len(word) :], ranked[0])
    if floor is None or len(floor[0]) < 2:
        return shown
    rest, source = floor
    top = shown[0].text if shown else ""
    if top.startswith(rest) or (top and not rest.startswith(top)):
        return shown  # the shown text already holds it, or confidently says otherwise
    end = facts.offset
    extra = RankedDraft(0, rest, source.score, end, end, "floor", source.source, dict(source.stats))
    others = [d for d in shown if d.text != rest and not rest.startswith(d.text)]
    return [extra] + [
        RankedDraft(i + 1, d.text, d.score, d.start, d.end, d.finish, d.source, d.stats)
        for i, d in enumerate(others)
    ]


def _candidates(facts: CursorFacts, oracle: Any) -> frozenset[str]:
    """Return the names the word at the cursor may become (empty when unknown)."""
    if facts.after_dot:
        if oracle is None:
            return frozenset()
        try:
            members = oracle.members("", len(facts.word) + 1)  # the code before the "."
        except Exception:  # noqa: BLE001 - analysis never breaks a completion
            return frozenset()
        return frozenset(members or ())
    return facts.nearby_identifiers()


def confidence_rule(options: PipelineOptions, evidence: CursorEvidence):
    """Return the decoder's rule to stop extending a draft whose newest token is already
    below the confidence threshold (it would be cut there anyway), or None."""
    model = options.confidence
    if model is None:
        return None
    threshold = model.floor(options.confidence_threshold, options.confidence_wrong_cost)

    def worth_extending(lm: Sequence[float], ngram: Sequence[float] | None) -> bool:
        return not lm or model.prefix_confidences(lm, ngram, evidence)[-1] >= threshold

    return worth_extending


def confident_drafts(
    ranked: list[RankedDraft],
    removed: str,
    dctx: DraftContext,
    options: PipelineOptions,
    evidence: CursorEvidence,
    table: Any,
    monitor: MemberMonitor | None = None,
) -> list[RankedDraft]:
    """Return the drafts cut to the prefix their calibrated confidence says to show
    (:meth:`models.confidence.ConfidenceModel.keep`).

    A draft left with fewer than two visible characters is dropped (accepting it would
    save nothing); drafts that become equal are merged; the order is kept.
    """
    model = options.confidence
    assert model is not None
    threshold, wrong_cost = options.confidence_threshold, options.confidence_wrong_cost
    by_cost = model.rule(threshold, wrong_cost)[0] == "cost"  # it weighs prefix lengths
    out: list[RankedDraft] = []
    seen: set[tuple[str, int]] = set()
    for d in ranked:
        source = d.source
        chars = visible_chars(table, source, removed) if by_cost else None
        keep = model.keep(
            source.token_logprobs,
            source.token_ngram_logprobs,
            evidence,
            threshold,
            chars,
            wrong_cost,
        )
        text, end, finish = d.text, d.end, d.finish
        if keep < len(source.token_ids):
            raw = table.decode(source.token_ids[:keep])[: len(source.text)]
            raw = without_unfinished_attribute(raw, monitor, removed)
            raw = raw[len(removed) :] if raw.startswith(removed) else ""
            clean = clean_draft(raw, dctx) if raw.strip() else None
            if clean is None:
                continue
            text, end, finish = clean.text, clean.replace_end, "confidence"
        if len(text.strip()) < 2 or (text, end) in seen:
            continue
        seen.add((text, end))
        out.append(
            RankedDraft(len(out), text, d.score, d.start, end, finish, source, dict(d.stats))
        )
    return out


def visible_chars(table: Any, draft: Draft, removed: str) -> list[int]:
    """Return, for j = 1..n, how many characters the first ``j`` tokens of ``draft`` show
    after the healed text ``removed`` (trailing whitespace is not shown)."""
    limit = len(draft.text)
    out = []
    for j in range(1, len(draft.token_ids) + 1):
        raw = table.decode(draft.token_ids[:j])[:limit]
        out.append(len(raw[len(removed) :].rstrip()) if raw.startswith(removed) else 0)
    return out


def without_unfinished_attribute(text: str, monitor: MemberMonitor | None, removed: str) -> str:
    """Return ``text`` cut before a new attribute name it never assigns (Agrawal et al.'s
    monitor lets ``self.<new name>`` through only as an assignment target)."""
    if monitor is None:
        return text
    cut = monitor.unfinished_attribute(text)
    return text if cut is None else text[: max(cut, len(removed))]


def healed_stop(removed: str, dctx: DraftContext, max_lines: int | None = None):
    """Return the stop rule for drafts that first re-spell the healed text ``removed``
    (and end after ``max_lines`` lines, when given)."""

    def stop(draft: str) -> int | None:
        if removed and len(draft) <= len(removed):
            return None
        body = draft[len(removed) :]
        cut = stop_index(body, dctx)
        if max_lines is not None:
            end = lines_end(body, max_lines)
            if end is not None and (cut is None or end < cut):
                cut = end
        return None if cut is None else cut + len(removed)

    return stop


def lines_end(text: str, max_lines: int) -> int | None:
    """Return the index of the newline ending line ``max_lines`` (at least 1) of ``text``,
    or None when ``text`` has no more lines than that."""
    at = -1
    for _ in range(max(1, max_lines)):
        at = text.find("\n", at + 1)
        if at < 0:
            return None
    return at


def within_lines(text: str, max_lines: int) -> str:
    """Return ``text`` cut to its first ``max_lines`` lines."""
    end = lines_end(text, max_lines)
    return text if end is None else text[:end]


def _after_healing(
    removed: str, report: Callable[[list[str]], None] | None
) -> Callable[[list[str]], None] | None:
    """Return the decoder's per-step callback reporting draft texts after the cursor."""
    if report is None:
        return None

    def on_step(texts: list[str]) -> None:
        report([t[len(removed) :] for t in texts if t.startswith(removed)])

    return on_step


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 2)

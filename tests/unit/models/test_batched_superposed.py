"""Superposed decoding batched across users (models/batched_superposed.py, issue 19).

The golden property: N users decoded together — joining, leaving and cancelling while
others decode — get the drafts each would get alone from the reference decoder
(:func:`models.superposed.superposed_decode`), token for token, on the shipped model.
Where the batch changes the shape of the model's matrix products the logits differ by
float rounding: that difference is measured here and bounded.
"""

from __future__ import annotations

import copy
import glob
import sysconfig
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from models.baselines import sampling_decode
from models.batched_superposed import SAMPLING, BatchedSuperposed, batched_ngram_log_probs
from models.decoding import DecodeRequest, forward
from models.monitor import MemberMonitor
from models.ngram import NgramModel, WorkspaceNgrams, background_for, build_table
from models.repetition import RepetitionPenalty
from models.superposed import superposed_decode
from models.suppress import SuppressSpecialTokens

LOGIT_BOUND = 1e-3  # max |batched - single-row| logit difference tolerated (measured ~1e-5)


class _Members:
    """A member oracle knowing one receiver (``os``) — plain data, like the service's."""

    def members(self, extra: str, trim: int = 0):
        return frozenset({"path", "sep", "getcwd", "environ"}) if extra.endswith("os") else None


def _key(result):
    return [(d.text, d.token_ids, d.finish, d.logprob) for d in result.drafts]


def _run_alone(lm, req) -> object:
    engine = BatchedSuperposed(lm)
    ticket = engine.submit(req)
    while not engine.idle:
        engine.step()
    return ticket.result


def _requests(lm, prompts, ngram, variant: int = 0):
    """Requests of different shapes: k 1..4, lengths, constraints, n-grams, verify, stops."""
    out = []
    for i, ids in enumerate(prompts):
        j = i + variant
        constraints = []
        if j % 2:
            constraints = [
                SuppressSpecialTokens(lm.table, lm.eos_ids),
                MemberMonitor(lm.table, _Members(), "import os\n", lm.eos_ids),
                RepetitionPenalty(lm.table, None, lm.eos_ids),
            ]
        out.append(
            DecodeRequest(
                prompt_ids=ids,
                max_new_tokens=6 + 4 * (j % 4),
                k=1 + j % 4,
                constraints=constraints,
                stop=(lambda s: s.find("\n\n") if "\n\n" in s else None) if j % 3 == 1 else None,
                ngram=ngram if j % 3 else None,
                verify=bool(j % 2),
                cancel=threading.Event(),
            )
        )
    return out


# ------------------------------------------------------------------ one user alone


@pytest.mark.parametrize("variant", range(4))
def test_one_request_alone_equals_the_reference_decoder(tiny_lm, variant):
    lm = tiny_lm
    ngram = build_table([lm.encode(t) for t in ("def add(a, b):\n    return a + b\n",) * 3], 300)
    prompts = [lm.encode(p) for p in ("def add(a, b):\n", "import os\nos.", "x = ", "class A:\n")]
    for req_a, req_b in zip(
        _requests(lm, prompts, ngram, variant),
        _requests(lm, prompts, ngram, variant),
        strict=True,
    ):
        ref = superposed_decode(lm, req_a)
        got = _run_alone(lm, req_b)
        assert _key(got) == _key(ref)
        assert got.forward_calls == ref.forward_calls  # one forward per generated token
        assert got.generated_tokens == ref.generated_tokens


def test_sampling_mode_alone_equals_sampling_decode(tiny_lm):
    lm = tiny_lm
    for seed in (0, 1, 2):
        req = dict(prompt_ids=lm.encode("def add(a, b):\n"), max_new_tokens=10, k=3, seed=seed)
        ref = sampling_decode(lm, DecodeRequest(**req))
        engine = BatchedSuperposed(lm)
        ticket = engine.submit(DecodeRequest(**req), mode=SAMPLING)
        rows = []
        while not engine.idle:
            engine.step()
            rows.append(engine.rows)
        assert _key(ticket.result) == _key(ref)
        assert max(rows) == 3  # k rows of the batch, where superposed decoding takes one


# ------------------------------------------------------------------ many users


@pytest.fixture(scope="module")
def shipped():
    from models.loader import load_model

    lm = load_model("default", "cpu")
    workspace = WorkspaceNgrams(lm.vocab_size)
    workspace.set_document("engine", lm.encode(Path("lsp_server/engine.py").read_text()))
    ngram = NgramModel(background_for(lm.path, lm.tokenizer, lm.vocab_size), workspace)
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = sorted(glob.glob(str(stdlib / "json" / "*.py")))[:3]
    files += sorted(glob.glob("models/*.py"))[:7]
    prompts = []
    for name in files:
        text = Path(name).read_text()
        cut = text.index("\n", len(text) // 3) + 1
        prompts.append(lm.encode(text[:cut])[-160:])
    return lm, ngram, prompts


def test_concurrent_users_joining_leaving_and_cancelling_get_their_own_drafts(shipped):
    lm, ngram, prompts = shipped
    reference = [superposed_decode(lm, r) for r in _requests(lm, prompts, ngram)]
    requests = _requests(lm, prompts, ngram)
    engine = BatchedSuperposed(lm)
    tickets = [engine.submit(r) for r in requests[:4]]  # four users start together
    cancelled = engine.submit(_requests(lm, prompts[:1], ngram, variant=3)[0])
    dropped = engine.submit(_requests(lm, prompts[:1], ngram)[0])
    dropped.req.cancel.set()  # cancelled while waiting: never prefilled
    steps, widest, freed = 0, 0, None
    while not engine.idle:
        engine.step()
        steps += 1
        widest = max(widest, engine.rows)
        if steps == 3:  # a user leaves mid-stream: its row is free after the next step
            cancelled.req.cancel.set()
            rows_before = engine.rows
        if steps == 4:
            freed = rows_before - engine.rows
        if steps % 2 == 0 and len(tickets) < len(requests):  # others join between steps
            tickets.append(engine.submit(requests[len(tickets)]))
    assert len(tickets) == len(requests)
    for i, (ticket, ref) in enumerate(zip(tickets, reference, strict=True)):
        assert _key(ticket.result) == _key(ref), f"user {i}"
        assert ticket.result.forward_calls == ref.forward_calls
    assert cancelled.result.cancelled and freed is not None and freed >= 1
    assert all(d.finish == "cancelled" for d in cancelled.result.drafts)
    assert dropped.result.cancelled and dropped.result.drafts == []
    assert engine.stats["prefill_calls"] == len(requests) + 1  # the dropped one never ran
    # batching happened: fewer forward calls than the users' own counts summed
    assert widest >= 4
    assert engine.stats["forward_calls"] < sum(t.result.forward_calls - 1 for t in tickets)
    assert engine.rows == 0 and engine.cache is None  # every row freed


@torch.no_grad()
def test_batched_logits_differ_from_single_row_logits_by_rounding_only(shipped):
    """Measure |batched - alone| on every row of a batch of 8 users (bounded, not hidden)."""
    lm, ngram, prompts = shipped
    worst = 0.0
    engine = BatchedSuperposed(lm)
    tickets = [engine.submit(r) for r in _requests(lm, prompts[:8], ngram)]
    engine.step()  # prefill all, select, one batched forward of 8 rows
    assert engine.rows == len([t for t in tickets if not t.done]) >= 6
    for t in engine.active:
        weights = torch.softmax(torch.tensor([h.score for h in t.live], dtype=torch.float64), 0)
        emb = engine.embeddings(torch.tensor([h.ids[-1] for h in t.live]))  # (k, d)
        mixed = (weights.to(emb.dtype)[:, None] * emb).sum(0)  # (d,)
        cache = copy.deepcopy(t.prefix_cache)
        alone, _ = forward(lm, cache, inputs_embeds=mixed.view(1, 1, -1))  # (1, V)
        worst = max(worst, float((alone[0] - t.logits[0]).abs().max()))
    print(f"max |batched - alone| logit difference over 8 rows: {worst:.2e}")
    assert worst < LOGIT_BOUND


# ------------------------------------------------------------------ host work, rows


def test_batched_ngram_look_ups_equal_each_users_own():
    rng = np.random.default_rng(0)
    background = build_table([rng.integers(0, 300, 400) for _ in range(3)], 300)
    workspaces = [WorkspaceNgrams(300), WorkspaceNgrams(300), WorkspaceNgrams(300)]
    workspaces[0].set_document("a", rng.integers(0, 300, 300))
    workspaces[1].set_document("b", rng.integers(0, 300, 300))  # [2] stays empty
    models = [NgramModel(background, ws) for ws in workspaces] + [NgramModel(background)]
    items = []
    for i in range(8):
        rows, n = 1 + i % 4, 3 + i % 5
        contexts = rng.integers(-1, 300, (rows, 3))
        items.append((models[i % 4], contexts, rng.integers(0, 300, (rows, n))))
    items.append((background, rng.integers(0, 300, (2, 3)), rng.integers(0, 300, (2, 4))))
    got = batched_ngram_log_probs(items)
    for (model, contexts, candidates), lp in zip(items, got, strict=True):
        np.testing.assert_array_equal(lp, model.log_probs(contexts, candidates))


def test_admission_keeps_the_batch_within_max_rows(tiny_lm):
    lm = tiny_lm
    engine = BatchedSuperposed(lm, max_rows=2)
    reqs = [DecodeRequest(prompt_ids=lm.encode(p), max_new_tokens=5, k=3) for p in "abcde"]
    tickets = [engine.submit(r) for r in reqs]
    while not engine.idle:
        engine.step()
        assert engine.rows <= 2
    assert all(t.done and not t.result.cancelled for t in tickets)


def test_the_padded_cache_is_compacted_when_a_long_row_leaves(tiny_lm):
    lm = tiny_lm
    engine = BatchedSuperposed(lm, compact_slack=8)
    long_prompt = lm.encode("def add(a, b):\n    return a + b\n" * 6)
    short = engine.submit(DecodeRequest(prompt_ids=lm.encode("x = "), max_new_tokens=40, k=2))
    long = engine.submit(DecodeRequest(prompt_ids=long_prompt, max_new_tokens=2, k=2))
    engine.step()
    wide = engine.mask.shape[1]
    while not long.done:
        engine.step()
    if short.done:
        pytest.skip("the short request ended before the long one left")
    engine.step()
    assert wide >= len(long_prompt)
    # the rows left need far fewer columns: the cache was compacted
    assert engine.mask.shape[1] < wide
    assert int(engine.mask.sum()) == int(engine.positions.sum())
    while not engine.idle:
        engine.step()
    alone = superposed_decode(
        lm, DecodeRequest(prompt_ids=lm.encode("x = "), max_new_tokens=40, k=2)
    )
    assert _key(short.result) == _key(alone)


class _Explodes:
    """A constraint that raises at its ``at``-th call (a bug in one user's constraints)."""

    def __init__(self, at: int) -> None:
        self.calls, self.at = 0, at

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.at:
            raise RuntimeError("constraint bug")
        return scores


def test_a_request_whose_constraint_raises_fails_alone(tiny_lm):
    lm = tiny_lm
    prompts = [lm.encode(p) for p in ("def add(a, b):\n", "x = ", "class A:\n")]
    make = [
        lambda p: DecodeRequest(prompt_ids=p, max_new_tokens=8, k=3, verify=False) for _ in prompts
    ]
    engine = BatchedSuperposed(lm)
    tickets = [engine.submit(f(p)) for f, p in zip(make, prompts, strict=True)]
    bad = engine.submit(
        DecodeRequest(prompt_ids=prompts[0], max_new_tokens=8, k=3, constraints=[_Explodes(3)])
    )
    while not engine.idle:
        engine.step()
    assert bad.error == "RuntimeError: constraint bug" and bad.result.drafts == []
    for ticket, f, p in zip(tickets, make, prompts, strict=True):
        assert ticket.error is None
        assert _key(ticket.result) == _key(superposed_decode(lm, f(p)))
    assert engine.rows == 0


def test_each_step_reports_the_same_draft_texts_as_the_reference(tiny_lm):
    lm = tiny_lm
    seen: dict[str, list[list[str]]] = {"reference": [], "batched": []}

    def make(name: str) -> DecodeRequest:
        return DecodeRequest(
            prompt_ids=lm.encode("def add(a, b):\n"),
            max_new_tokens=8,
            k=3,
            on_step=seen[name].append,
        )

    superposed_decode(lm, make("reference"))
    _run_alone(lm, make("batched"))
    assert seen["batched"] == seen["reference"] and len(seen["batched"]) >= 2

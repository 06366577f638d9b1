"""N-gram tables: counts, smoothing, pruning, incremental workspace updates, persistence."""

from __future__ import annotations

import numpy as np
import pytest

from models.ngram import (
    MISSING,
    NgramModel,
    NgramTable,
    WorkspaceNgrams,
    background_for,
    build_background,
    build_table,
)

DOC = [1, 2, 3, 1, 2, 4, 1, 2, 3]


def all_tokens(table_vocab: int, rows: int) -> np.ndarray:
    return np.tile(np.arange(table_vocab), (rows, 1))


def test_counts_of_a_hand_built_table():
    table = build_table([DOC], vocab_size=6, orders=(2, 3), discount=0.5)
    assert table.unigram.tolist() == [0, 3, 3, 2, 1, 0]
    bigrams = table.counts[2]
    # (1,2) x3, (2,3) x2, (3,1) x1, (2,4) x1, (4,1) x1
    lookup = bigrams.ngrams.lookup(table.pack(np.array([[1, 2], [2, 3], [3, 1], [2, 4], [4, 1]])))
    assert lookup[:, 0].tolist() == [3, 2, 1, 1, 1]
    ctx = bigrams.contexts.lookup(table.pack(np.array([[2], [1], [5]])))
    assert ctx.tolist() == [[3, 2, 0], [3, 1, 0], [0, 0, 0]]  # c(h), T(h), pruned R(h)
    assert table.counts[3].ngrams.lookup(table.pack(np.array([[1, 2, 3]])))[0, 0] == 2


def test_seen_context_probability_follows_the_formula():
    table = build_table([DOC], vocab_size=6, orders=(2,), discount=0.5)
    p_uni = (np.array([0, 3, 3, 2, 1, 0]) + 1) / (9 + 6)
    # context (2,): c=3, continuations 3 (x2) and 4 (x1), T=2
    expected = (max(2 - 0.5, 0) + 0.5 * 2 * p_uni[3]) / 3
    got = np.exp(table.log_probs(np.array([[2]]), np.array([[3]])))[0, 0]
    assert got == pytest.approx(expected)


def test_unseen_contexts_get_finite_normalised_probabilities():
    table = build_table([DOC], vocab_size=6, orders=(2, 3, 4))
    contexts = np.array(
        [[1, 2, 3], [5, 5, 5], [MISSING, MISSING, MISSING], [MISSING, 1, 2], [0, 0, 99]]
    )
    logp = table.log_probs(contexts, all_tokens(6, 5))
    assert np.isfinite(logp).all()
    assert np.exp(logp).sum(axis=1) == pytest.approx(np.ones(5))
    # unseen / missing context backs off to the add-one unigram
    unigram = (table.unigram + 1) / (table.unigram.sum() + 6)
    assert np.exp(logp[1]) == pytest.approx(unigram)
    assert np.exp(logp[2]) == pytest.approx(unigram)
    # candidates outside the vocabulary are finite too
    assert np.isfinite(table.log_probs(np.array([[1, 2, 3]]), np.array([[1000, -1]]))).all()


def test_vectorised_lookup_matches_row_by_row():
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, 20, size=200) for _ in range(3)]
    table = build_table(docs, vocab_size=20, orders=(2, 3, 4))
    contexts = rng.integers(-1, 20, size=(8, 3))
    cands = rng.integers(0, 20, size=(8, 12))
    batched = table.log_probs(contexts, cands)
    assert batched.shape == (8, 12)
    for r in range(8):
        assert table.log_probs(contexts[r : r + 1], cands[r : r + 1])[0] == pytest.approx(
            batched[r]
        )


def test_pruning_keeps_distributions_normalised_and_moves_mass_to_backoff():
    rng = np.random.default_rng(1)
    stream = rng.integers(0, 12, size=3000)
    full = build_background(stream, orders=(2, 3, 4), min_count=1, vocab_size=12)
    pruned = build_background(stream, orders=(2, 3, 4), min_count=3, vocab_size=12)
    assert pruned.entries() < full.entries()
    contexts = rng.integers(0, 12, size=(6, 3))
    probs = np.exp(pruned.log_probs(contexts, all_tokens(12, 6)))
    assert probs.sum(axis=1) == pytest.approx(np.ones(6))
    # a context's total count still includes its pruned continuations
    h = pruned.pack(contexts[:, 1:])
    assert (
        pruned.counts[3].contexts.lookup(h)[:, 0] == full.counts[3].contexts.lookup(h)[:, 0]
    ).all()


def random_docs(seed: int, n: int, vocab: int = 30) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"doc{i}.py": rng.integers(0, vocab, size=rng.integers(0, 120)) for i in range(n)}


def test_incremental_workspace_update_equals_a_rebuild():
    docs = random_docs(0, 5)
    docs["big.py"] = np.random.default_rng(8).integers(0, 30, size=3000)  # forces merges
    ws = WorkspaceNgrams(30, orders=(2, 3, 4))
    for key, ids in docs.items():
        ws.set_document(key, ids)
    # edit two documents, close one, reopen one with new text
    rng = np.random.default_rng(9)
    docs["doc1.py"] = np.concatenate([docs["doc1.py"][:40], rng.integers(0, 30, size=25)])
    ws.set_document("doc1.py", docs["doc1.py"])
    docs["doc3.py"] = docs["doc3.py"][::-1].copy()
    ws.set_document("doc3.py", docs["doc3.py"])
    ws.remove_document("doc2.py")
    del docs["doc2.py"]
    ws.set_document("doc0.py", docs["doc0.py"])  # unchanged text: no change
    docs["big.py"] = docs["big.py"][500:]
    ws.set_document("big.py", docs["big.py"])
    rebuilt = WorkspaceNgrams(30, orders=(2, 3, 4))
    for key, ids in docs.items():
        rebuilt.set_document(key, ids)
    assert ws.table.same_counts(rebuilt.table)
    assert ws.table.same_counts(build_table(docs.values(), 30, orders=(2, 3, 4)))
    contexts = np.random.default_rng(2).integers(0, 30, size=(4, 3))
    cands = all_tokens(30, 4)
    assert ws.log_probs(contexts, cands) == pytest.approx(rebuilt.log_probs(contexts, cands))


def test_many_random_edits_match_a_rebuild():
    rng = np.random.default_rng(5)
    vocab = 6  # tiny vocabulary: counts often drop to zero and come back
    ws = WorkspaceNgrams(vocab, orders=(2, 3))
    docs: dict[str, np.ndarray] = {}
    for _ in range(60):
        key = f"d{rng.integers(0, 4)}"
        if key in docs and rng.random() < 0.2:
            ws.remove_document(key)
            del docs[key]
            continue
        old = docs.get(key, rng.integers(0, vocab, size=20))
        cut = rng.integers(0, len(old) + 1)
        docs[key] = np.concatenate([old[:cut], rng.integers(0, vocab, size=3), old[cut + 2 :]])
        ws.set_document(key, docs[key])
        rebuilt = build_table(docs.values(), vocab, orders=(2, 3))
        assert ws.table.same_counts(rebuilt)


def test_removing_every_document_empties_the_workspace():
    ws = WorkspaceNgrams(30)
    for key, ids in random_docs(3, 4).items():
        ws.set_document(key, ids)
    for key in list(random_docs(3, 4)):
        ws.remove_document(key)
    ws.remove_document("never-opened.py")
    assert len(ws) == 0 and ws.table.entries() == 0 and ws.table.unigram.sum() == 0
    assert ws.table.same_counts(WorkspaceNgrams(30).table)


@pytest.mark.parametrize("vocab", [40, 100_000])  # exact keys and hashed keys
def test_save_load_round_trip(tmp_path, vocab):
    rng = np.random.default_rng(4)
    stream = rng.integers(0, 40, size=2000)
    table = build_background(stream, orders=(2, 3, 4), min_count=2, vocab_size=vocab)
    assert table.hashed == (vocab == 100_000)
    path = tmp_path / "ngram.npz"
    table.save(path)
    with np.load(path, allow_pickle=False) as data:  # plain arrays only
        assert all(data[name].dtype != object for name in data.files)
    loaded = NgramTable.load(path)
    assert loaded.same_counts(table)
    assert loaded.discounts == table.discounts
    contexts = rng.integers(0, 40, size=(5, 3))
    cands = rng.integers(0, 40, size=(5, 7))
    assert loaded.log_probs(contexts, cands) == pytest.approx(table.log_probs(contexts, cands))


def test_workspace_identifiers_become_reachable_in_the_mixture():
    # background never saw token 9 after (1, 2); the workspace uses it there repeatedly
    background = build_background(np.array([1, 2, 3, 4] * 50), vocab_size=12, min_count=1)
    ws = WorkspaceNgrams(12)
    ws.set_document("a.py", [1, 2, 9, 5] * 6)
    mixed = NgramModel(background, ws)
    ctx = np.array([[0, 1, 2]])
    cands = np.array([[9, 3]])
    p_bg = np.exp(background.log_probs(ctx, cands))[0]
    p_mix = np.exp(mixed.log_probs(ctx, cands))[0]
    assert p_bg[0] < 0.01 and p_mix[0] > 0.3  # the project's own continuation is in reach
    assert p_mix[0] > 30 * p_bg[0]
    assert np.exp(mixed.log_probs(ctx, all_tokens(12, 1))).sum() == pytest.approx(1.0)
    # where the workspace has no evidence, the background decides
    far = np.array([[7, 7, 7]])
    assert mixed.log_probs(far, cands) == pytest.approx(background.log_probs(far, cands))
    # an empty workspace leaves the background unchanged
    empty = NgramModel(background, WorkspaceNgrams(12))
    assert empty.log_probs(ctx, cands) == pytest.approx(background.log_probs(ctx, cands))


def test_mixture_rejects_mismatched_vocabularies():
    with pytest.raises(ValueError):
        NgramModel(NgramTable(10), WorkspaceNgrams(11))
    with pytest.raises(ValueError):
        NgramModel(None, None)


def test_background_for_reads_the_table_shipped_with_a_model(tmp_path, tiny_tokenizer):
    table = build_background(np.arange(50) % 7, vocab_size=len(tiny_tokenizer), min_count=1)
    table.save(tmp_path / "ngram.npz")
    loaded = background_for(tmp_path, tiny_tokenizer, len(tiny_tokenizer), cache_dir=tmp_path)
    assert loaded.same_counts(table)

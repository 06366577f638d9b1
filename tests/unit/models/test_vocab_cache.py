"""Per-tokenizer tables are built once and cached on disk, keyed by the tokenizer (issue 18)."""

from __future__ import annotations

import pytest
import torch
from model_families_testing import byte_bpe_tokenizer, family_lm, sentencepiece_tokenizer

import models.token_table as token_table_module
import models.vocab_index as vocab_index_module
from models.loader import load_model
from models.token_table import TokenTable
from models.vocab_index import build_vocab_index, cached_vocab_index


def assert_same_index(a, b) -> None:
    for name in a.__dataclass_fields__:
        if name in ("_lru", "_lock"):
            continue
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, torch.Tensor):
            assert torch.equal(x, y), name
        else:
            assert x == y, name


def refuse(*args, **kwargs):
    raise AssertionError("rebuilt although a cached copy exists")


@pytest.mark.parametrize("make", [lambda: byte_bpe_tokenizer("qwen"), sentencepiece_tokenizer])
def test_index_and_table_are_read_back_identical_without_rebuilding(make, tmp_path, monkeypatch):
    tokenizer = make()
    table = TokenTable.cached(tokenizer, len(tokenizer), (), tmp_path)
    built = cached_vocab_index(table, tmp_path)
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["token", "vocab"]
    fresh = build_vocab_index(TokenTable.from_tokenizer(tokenizer, len(tokenizer)))
    assert_same_index(built, fresh)
    # a new process: nothing attached, both read from disk
    monkeypatch.setattr(vocab_index_module, "build_vocab_index", refuse)
    monkeypatch.setattr(TokenTable, "from_tokenizer", classmethod(refuse))
    again = TokenTable.cached(tokenizer, len(tokenizer), (), tmp_path)
    assert again.surfaces == table.surfaces and torch.equal(again.special, table.special)
    assert again.digest() == table.digest()
    assert_same_index(cached_vocab_index(again, tmp_path), fresh)


def test_cache_files_are_keyed_by_the_tokenizer_and_corrupt_files_are_rebuilt(tmp_path):
    a, b = byte_bpe_tokenizer("starcoder"), byte_bpe_tokenizer("deepseek")
    table_a = TokenTable.cached(a, len(a), (), tmp_path)
    table_b = TokenTable.cached(b, len(b), (), tmp_path)
    assert table_a.digest() != table_b.digest()
    cached_vocab_index(table_a, tmp_path)
    cached_vocab_index(table_b, tmp_path)
    files = sorted(tmp_path.glob("vocab-index-*.npz"))
    assert len(files) == 2 and len(list(tmp_path.glob("token-table-*.npz"))) == 2
    target = tmp_path / f"vocab-index-{table_a.digest()}.npz"
    target.write_bytes(b"not an npz")
    rebuilt = cached_vocab_index(TokenTable.cached(a, len(a), (), tmp_path), tmp_path)
    assert_same_index(rebuilt, build_vocab_index(table_a))
    assert target.stat().st_size > 100  # rewritten


def test_load_model_reads_the_tables_from_the_cache(tmp_path, monkeypatch):
    lm = family_lm("qwen2")
    directory = tmp_path / "model"
    lm.model.save_pretrained(str(directory), safe_serialization=True)
    lm.tokenizer.save_pretrained(str(directory))
    monkeypatch.setenv("SUPERPOSE_CACHE_DIR", str(tmp_path / "cache"))
    first = load_model(directory, "cpu")
    assert first.fim is not None and first.fim.family == "qwen2.5-coder"
    monkeypatch.setattr(vocab_index_module, "build_vocab_index", refuse)
    monkeypatch.setattr(token_table_module.TokenTable, "from_tokenizer", classmethod(refuse))
    second = load_model(directory, "cpu")
    assert second.table.surfaces == first.table.surfaces
    assert "_vocab_index" in second.table.__dict__  # attached before any request

"""Both tokenizer conventions through the token table, vocabulary index, healing and n-grams.

Byte-level BPE (``Ġ`` = space, GPT-2/StarCoder/Qwen/DeepSeek) and SentencePiece-style
BPE (``▁`` word starts, ``<0xNN>`` byte-fallback pieces, Llama/Code Llama/Gemma), both
trained locally (model_families_testing.py).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from model_families_testing import byte_bpe_tokenizer, sentencepiece_tokenizer

from models.healing import HealingConstraint, heal_prompt
from models.loader import fim_tokens
from models.ngram import build_table
from models.token_table import TokenTable
from models.vocab_index import vocab_index

TEXT = "def total(items):\n    return self.alpha + café('☃')\n"


def table_of(tokenizer) -> TokenTable:
    fim = fim_tokens(tokenizer)
    return TokenTable.from_tokenizer(tokenizer, len(tokenizer), fim.ids if fim else ())


@pytest.fixture(params=["byte", "sp"])
def tok(request):
    return byte_bpe_tokenizer("starcoder") if request.param == "byte" else sentencepiece_tokenizer()


def test_surfaces_spell_the_text_exactly():
    byte, sp = byte_bpe_tokenizer("starcoder"), sentencepiece_tokenizer()
    ids = byte(TEXT, add_special_tokens=False)["input_ids"]
    assert table_of(byte).decode(ids) == TEXT
    sp_ids = sp(TEXT, add_special_tokens=False)["input_ids"]
    pieces = sp.convert_ids_to_tokens(sp_ids)
    assert "<0xE2>" in pieces  # the snowman is spelled by byte-fallback pieces
    # SentencePiece marks the first word as a word start: the table keeps that space
    assert table_of(sp).decode(sp_ids) == " " + TEXT
    table = table_of(sp)
    assert table.surfaces[sp.convert_tokens_to_ids("<0xE2>")] == b"\xe2"
    assert bool(table.partial_utf8[sp.convert_tokens_to_ids("<0xE2>")])
    assert table.surfaces[sp.convert_tokens_to_ids("\u2581return")] == b" return"
    for special in ("<s>", "</s>", "<unk>", "\u2581<PRE>", "\u2581<EOT>"):
        i = sp.convert_tokens_to_ids(special)
        assert table.surfaces[i] == b"" and bool(table.special[i])


def test_added_tokens_spell_their_literal_text():
    from tokenizers import AddedToken

    tokenizer = byte_bpe_tokenizer("none")
    extended = type(tokenizer)(
        tokenizer_object=tokenizer.backend_tokenizer.__class__.from_str(
            tokenizer.backend_tokenizer.to_str()
        ),
        eos_token="<|endoftext|>",
    )
    extended.add_tokens([AddedToken("        ", normalized=False), AddedToken("é!", special=False)])
    table = table_of(extended)
    assert table.surfaces[extended.convert_tokens_to_ids("        ")] == b" " * 8
    assert table.surfaces[extended.convert_tokens_to_ids("é!")] == "é!".encode()
    ids = extended("x =        é!", add_special_tokens=False)["input_ids"]
    assert table.decode(ids) == "x =        é!"


def test_identifier_masks_follow_the_spelling_rule(tok):
    table = table_of(tok)
    index = vocab_index(table)
    suffixes = frozenset({"alpha", "al"})
    mask = index.identifier_mask(suffixes)
    for i in range(table.vocab_size):
        text = table.texts[i]
        usable = text and not bool(table.special[i]) and not bool(table.partial_utf8[i])
        run = text[: len(text) - len(text.lstrip("abcdefghijklmnopqrstuvwxyz_0123456789"))]
        rest = text[len(run) :]
        expected = bool(usable) and (
            (rest == "" and run != "" and any(s.startswith(run) for s in suffixes))
            or (rest != "" and not (rest[0].isalnum() or rest[0] == "_") and run in suffixes)
        )
        if text and not text.isascii():
            continue  # non-ASCII identifier characters: covered by the index's own tests
        assert bool(mask[i]) == expected, (i, text)
    # a word-start piece (" alpha", "▁al") never continues an identifier after "self."
    assert not any(bool(mask[i]) for i in range(table.vocab_size) if table.texts[i][:1] == " ")
    assert any(bool(mask[i]) for i in range(table.vocab_size) if table.texts[i] == "al")


def test_healing_respells_a_split_identifier(tok):
    table = table_of(tok)
    ids = tok("result = self.alp", add_special_tokens=False)["input_ids"]
    healed, removed = heal_prompt(table, ids)
    assert removed and "alp".endswith(removed.strip()) and len(healed) < len(ids)
    assert table.decode(healed) + removed == table.decode(ids)
    constraint = HealingConstraint(table, removed)
    scores = torch.zeros(1, table.vocab_size)
    out = constraint(torch.zeros(1, 0, dtype=torch.long), scores)
    target = removed.encode()
    for i in range(table.vocab_size):
        surface = table.surfaces[i]
        allowed = bool(surface) and not bool(table.special[i])
        allowed = allowed and (target.startswith(surface) or surface.startswith(target))
        assert bool(torch.isfinite(out[0, i])) == allowed, (i, surface)


def test_ngrams_continue_identifiers_split_across_tokens(tok):
    table = table_of(tok)
    docs = [tok(TEXT * 3, add_special_tokens=False)["input_ids"]]
    ngrams = build_table(docs, table.vocab_size, orders=(2, 3, 4))
    ids = docs[0]
    # after the tokens before "alpha"'s last token, the n-grams predict that token
    end = next(i for i in range(len(ids)) if table.decode(ids[: i + 1]).endswith("self.alpha"))
    context = np.array([ids[end - 3 : end]])
    candidates = np.arange(table.vocab_size)[None]
    logp = ngrams.log_probs(context, candidates)[0]
    assert int(np.argmax(logp)) == ids[end]

"""Vocabulary index: identifier leads, dot tokens and byte-prefix queries vs brute force."""

from __future__ import annotations

import random

import pytest
import torch

from models.token_table import TokenTable
from models.vocab_index import (
    _next_prefix,
    build_vocab_index,
    is_ident_char,
    is_ident_start,
    leading_ident_run,
    trailing_ident_run,
    vocab_index,
)

SURFACES = [
    b"",  # 0 special
    b"get",
    b"get(",
    b" get",
    b".",
    b".get",
    b".get(",
    b".5",
    b"..",
    b"\xc3",  # partial UTF-8
    "naïve".encode(),
    b"x",
    b"(",
    b"",  # 13: empty non-special surface
    b"_a1",
    b"1a",
]


@pytest.fixture(scope="module")
def table() -> TokenTable:
    return TokenTable.from_surfaces(SURFACES, special={0})


def ids_of(mask: torch.Tensor) -> set[int]:
    return set(torch.nonzero(mask).flatten().tolist())


def test_identifier_characters_follow_str_isidentifier():
    assert all(is_ident_char(c) for c in "aZ_09ïé中")
    assert not any(is_ident_char(c) for c in " .()+\n-'\"")
    assert is_ident_char("·") and not is_ident_start("·")  # U+00B7 continues, never starts
    assert is_ident_start("_") and is_ident_start("é") and not is_ident_start("1")
    assert leading_ident_run("get(x)") == "get" and leading_ident_run(" get") == ""
    assert trailing_ident_run("obj.naïve") == "naïve" and trailing_ident_run("f(") == ""


def test_per_token_facts(table):
    index = build_vocab_index(table)
    lead = {i: k for k, i in index.lead_ids.items()}
    assert lead[int(index.token_lead[2])] == "get" and bool(index.token_tail[2])
    assert bool(index.token_pure[1]) and not bool(index.token_tail[1])
    assert ids_of(index.usable) == set(range(len(SURFACES))) - {0, 9, 13}
    assert ids_of(index.starts_nonident) == {3, 4, 5, 6, 7, 8, 12}
    assert ids_of(index.starts_dot) == {4, 5, 6, 7, 8}
    assert ids_of(index.dot_ident) == {5, 6}  # ".5" and ".." select no member
    assert ids_of(index.dot_pure) == {5} and ids_of(index.dot_tail) == {6}
    assert ids_of(index.dot_other) == {7, 8}  # "." itself stays allowed
    assert lead[int(index.dot_lead[6])] == "get"
    assert bool(index.token_pure[10]) and bool(index.token_pure[14])
    assert set(index.tokens_with_lead("get").tolist()) == {1, 2}


def test_index_is_cached_on_the_table(table):
    assert vocab_index(table) is vocab_index(table)


def test_identifier_and_crossing_masks(table):
    index = vocab_index(table)
    # prefixes of "get"/"getattr" with nothing after, or "get" + non-identifier
    assert ids_of(index.identifier_mask({"get", "getattr"})) == {1, 2}
    assert ids_of(index.identifier_mask({"ge"})) == set()
    # "" = the identifier may end here: tokens starting with a non-identifier char
    assert ids_of(index.identifier_mask({""})) == {3, 4, 5, 6, 7, 8, 12}
    assert ids_of(index.identifier_mask({"aïve"})) == set()
    assert ids_of(index.identifier_mask({"naïve", "x"})) == {10, 11}
    crossing = index.crossing_mask({"set"})
    # ".get" tokens select no member; ".5" and ".." are never a member access
    assert ids_of(~crossing) == {5, 6, 7, 8}
    assert bool(index.crossing_mask({"getter"}).all()) is False
    assert ids_of(~index.crossing_mask({"getter"})) == {6, 7, 8}  # ".get(" needs "get" exactly


def test_cached_masks_equal_fresh_ones_and_survive_monitor_use(tiny_tokenizer):
    from models.monitor import MemberMonitor

    table = TokenTable.from_tokenizer(tiny_tokenizer)
    index = vocab_index(table)
    members = frozenset({"alpha", "beta", "append"})
    fresh = index.identifier_mask(set(members)).clone()
    crossing = index.crossing_mask(set(members)).clone()

    class Oracle:
        def members(self, extra, trim=0):
            return members

    monitor = MemberMonitor(table, Oracle(), "x.", frozenset({tiny_tokenizer.eos_token_id}))
    monitor(torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, table.vocab_size))
    assert index.identifier_mask(members) is index.identifier_mask(members)  # LRU hit
    assert torch.equal(index.identifier_mask(members), fresh)
    assert torch.equal(index.crossing_mask(members), crossing)
    index.clear_caches()
    assert torch.equal(index.identifier_mask(members), fresh)


def test_next_prefix_bounds_every_extension():
    assert _next_prefix(b"ab") == b"ac"
    assert _next_prefix(b"a\xff") == b"b"
    assert _next_prefix(b"\xff\xff") is None


def test_byte_prefix_queries_match_brute_force(tiny_tokenizer):
    table = TokenTable.from_tokenizer(tiny_tokenizer)
    index = vocab_index(table)
    rng = random.Random(0)
    probes = [b"", b"\xff", b"\xc3\xa9", b" te", b"def add", b"self.alpha", b"\n    "]
    probes += [rng.choice(table.surfaces) + rng.choice(table.surfaces) for _ in range(30)]
    for data in probes:
        usable = [i for i, s in enumerate(table.surfaces) if s and not bool(table.special[i])]
        want_prefix = {i for i in usable if data.startswith(table.surfaces[i])}
        want_ext = {i for i in usable if table.surfaces[i].startswith(data)}
        assert set(index.prefix_token_ids(data)) == want_prefix, data
        assert set(index.extension_token_ids(data).tolist()) == want_ext, data
        if data:
            assert ids_of(index.prefix_compatible_mask(data)) == want_prefix | want_ext
        else:
            assert not bool(index.prefix_compatible_mask(data).any())

"""Token healing: which prompt tails are backed off, the re-spelling constraint's exact
allowed sets, bit-exact pass-through once healed, and greedy decoding with it."""

from __future__ import annotations

import pytest
import torch

from models.decoding import DecodeRequest, greedy_decode
from models.healing import HealingConstraint, heal_prompt
from models.token_table import TokenTable

EOS = "<eos>"
SURFACES = [
    EOS,  # 0 special
    "def",
    " ",
    "t",
    "e",
    "te",
    " te",
    " t",
    "test",
    " test",
    "\n",
    "x",
    " ==",
    "=",
    " x",
    "\nte",
    "na",
    b"\xc3",  # first byte of "ï"
    b"\xaf",  # second byte of "ï"
    "ïve",
    "st",
    "(",
    "e(",
]
ID = {s: i for i, s in enumerate(SURFACES) if isinstance(s, str)}


def make_table() -> TokenTable:
    raw = [b"" if s == EOS else (s if isinstance(s, bytes) else s.encode()) for s in SURFACES]
    return TokenTable.from_surfaces(raw, special={0})


TABLE = make_table()


def ids(*names) -> list[int]:
    return [ID[n] if isinstance(n, str) else SURFACES.index(n) for n in names]


def allowed(constraint: HealingConstraint, generated: list[int]) -> set | None:
    scores = torch.randn(1, TABLE.vocab_size)
    t = len(generated)
    out = constraint(torch.tensor([generated], dtype=torch.long).reshape(1, t), scores)
    if out is scores:
        return None
    kept = out > float("-inf")
    assert torch.equal(out[kept], scores[kept]) and torch.isneginf(out[~kept]).all()
    return {SURFACES[i] for i in torch.nonzero(kept[0]).flatten().tolist()}


# ------------------------------------------------------------------ heal_prompt


@pytest.mark.parametrize(
    "prompt, max_backoff, kept, removed",
    [
        (("def", " te"), 2, ("def",), " te"),  # partial word in one token
        (("def", " ", "t", "e"), 2, ("def", " "), "te"),  # word split in two tokens
        (("def", " ", "t", "e"), 1, ("def", " ", "t"), "e"),
        (("x", " =="), 2, ("x",), " =="),  # partial operator
        (("x", " ", "=", "="), 2, ("x", " "), "=="),
        (("def", " ", "test"), 2, ("def", " "), "test"),  # a word and the space stay
        (("x", "\n"), 2, ("x",), "\n"),  # a bare newline: the next token may indent
        (("na", b"\xc3", b"\xaf"), 1, ("na",), "ï"),  # never split a UTF-8 character
        (("na", b"\xc3", b"\xaf"), 2, ("na",), "ï"),
    ],
)
def test_heal_prompt_backs_off_partial_words(prompt, max_backoff, kept, removed):
    got_ids, got_removed = heal_prompt(TABLE, ids(*prompt), max_backoff)
    assert (got_ids, got_removed) == (ids(*kept), removed)
    assert TABLE.decode(got_ids) + got_removed == TABLE.decode(ids(*prompt))


@pytest.mark.parametrize(
    "prompt",
    [
        ("x", "\nte"),  # the partial word shares its token with a newline
        ("x", EOS),  # special token
        ("test",),  # never empties the prompt
        ("x", "("),  # an opening bracket is not a partial operator
    ],
)
def test_heal_prompt_leaves_other_prompts_alone(prompt):
    assert heal_prompt(TABLE, ids(*prompt)) == (ids(*prompt), "")


def test_heal_prompt_on_a_real_tokenizer(tiny_lm):
    prompt = tiny_lm.encode("def te")
    healed, removed = heal_prompt(tiny_lm.table, prompt)
    assert removed.endswith("e") and len(removed) >= 1
    assert tiny_lm.table.decode(healed) + removed == "def te"
    assert heal_prompt(tiny_lm.table, prompt, max_backoff_tokens=0) == (prompt, "")


# ------------------------------------------------------------------ constraint


def test_constraint_forces_the_removed_text():
    constraint = HealingConstraint(TABLE, " te")
    assert allowed(constraint, []) == {" ", " t", " te", " test"}
    assert allowed(constraint, ids(" ")) == {"t", "te", "test"}
    assert allowed(constraint, ids(" ", "t")) == {"e", "e("}
    assert allowed(constraint, ids(" te")) is None  # re-spelled: unchanged
    assert allowed(constraint, ids(" test")) is None
    assert allowed(constraint, ids("x")) is None  # off track (another fallback): hands off


def test_constraint_handles_bytes_of_split_characters():
    constraint = HealingConstraint(TABLE, "ï")
    assert allowed(constraint, []) == {b"\xc3", "ïve"}
    assert allowed(constraint, ids(b"\xc3")) == {b"\xaf"}


def test_constraint_rows_and_stats():
    constraint = HealingConstraint(TABLE, "te")
    scores = torch.randn(2, TABLE.vocab_size)
    generated = torch.tensor([[ID["t"]], [ID["x"]]])
    out = constraint(generated, scores)
    assert torch.equal(out[1], scores[1])
    assert {SURFACES[i] for i in torch.nonzero(out[0] > float("-inf")).flatten().tolist()} == {
        "e",
        "e(",
    }
    constraint(torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, TABLE.vocab_size))
    assert constraint.stats((ID["t"], ID["e"])) == {"healing_constrained_steps": 2}
    assert constraint.stats((ID["x"],)) == {"healing_constrained_steps": 1}
    # a long enough draft is past healing without decoding anything
    first = scores[:1]
    assert constraint(torch.tensor([[ID["te"], ID["x"]]]), first) is first
    assert HealingConstraint(TABLE, "")(generated, scores) is scores


def test_constraint_never_masks_every_token():
    constraint = HealingConstraint(TABLE, "zz")  # nothing spells "z"
    scores = torch.randn(1, TABLE.vocab_size)
    assert constraint(torch.zeros(1, 0, dtype=torch.long), scores) is scores
    constraint = HealingConstraint(TABLE, " te")
    scores = torch.full((1, TABLE.vocab_size), float("-inf"))
    scores[0, ID["x"]] = 0.0
    assert torch.equal(constraint(torch.zeros(1, 0, dtype=torch.long), scores), scores)


def test_constructor_validates():
    with pytest.raises(TypeError):
        HealingConstraint(TABLE, b"te")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        HealingConstraint(TABLE, "te")(torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, 3))


def test_greedy_decode_re_spells_the_removed_text(tiny_lm):
    for text in ("def te", "class Foo:\n    def __init__(self):\n        self.al"):
        healed, removed = heal_prompt(tiny_lm.table, tiny_lm.encode(text))
        assert removed and text.endswith(removed)
        constraint = HealingConstraint(tiny_lm.table, removed)
        req = DecodeRequest(prompt_ids=healed, max_new_tokens=8, constraints=[constraint])
        draft = greedy_decode(tiny_lm, req).drafts[0]
        assert draft.text.startswith(removed), (removed, draft.text)
        assert draft.stats["healing_constrained_steps"] >= 1


def test_trailing_indentation_is_healed(tiny_lm):
    from models.healing import heal_prompt

    ids = tiny_lm.encode("for x in y:\n        ")
    trimmed, removed = heal_prompt(tiny_lm.table, ids)
    assert removed.strip(" \t\n") == "" and removed.endswith(" ")
    assert tiny_lm.table.decode(trimmed) + removed == "for x in y:\n        "
    # a bare newline merges with the next line's indentation too: backed off alone
    ids = tiny_lm.encode("if x:\n")
    trimmed, removed = heal_prompt(tiny_lm.table, ids)
    assert removed == "\n" and tiny_lm.table.decode(trimmed) == "if x:"

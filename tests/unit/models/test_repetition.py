"""Repetition penalty: exact tokens touched on a hand-built vocabulary, bit-exact pass-through,
scale-free strength, per-draft state, content loops, in-line nesting and operand loops (with
the real statement oracle), and stub models looping under greedy decoding."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from analysis.statements import StatementRepetition
from models.decoding import DecodeRequest, apply_constraints, greedy_decode
from models.loader import wrap_model
from models.repetition import (
    RepetitionPenalty,
    RepetitionReport,
    anchor_of,
    is_wordish,
    logit_spread,
    logit_spreads,
    min_tandem_copies,
    tandem_repeat,
)
from models.token_table import TokenTable

SURFACES = [
    "<eos>",  # 0 special
    "def",  # 1
    " def",  # 2
    "d",  # 3
    "de",  # 4
    "=",  # 5
    "(",  # 6
    ",",  # 7
    " 67",  # 8
    "_color",  # 9
    "\n",  # 10
    "    ",  # 11
    "assert",  # 12
    " assert",  # 13
    "x",  # 14
    " =",  # 15
    " 1",  # 16
    "del",  # 17
    "\n    ",  # 18
    "name",  # 19
    " [",  # 20
    "_",  # 21
    "color",  # 22
    "defs",  # 23
    "def(",  # 24
    "path",  # 25
    ".",  # 26
    "join",  # 27
    "os",  # 28
    ")",  # 29
    " or",  # 30
    " and",  # 31
    "_len",  # 32
    " _len",  # 33
    "result",  # 34
]
IDS = {s: i for i, s in enumerate(SURFACES)}
V = len(SURFACES)


@pytest.fixture()
def table() -> TokenTable:
    return TokenTable.from_surfaces([s.encode() for s in SURFACES], special={0})


class FixedOracle:
    """Oracle answering the same report for every draft (records what it was asked)."""

    def __init__(self, report: RepetitionReport | None) -> None:
        self.fixed = report
        self.asked: list[str] = []

    def report(self, draft_text: str) -> RepetitionReport | None:
        self.asked.append(draft_text)
        return self.fixed


def report(
    excess: int = 1, at_unit_start: bool = True, anchors=("def",), kind: str = "statement"
) -> RepetitionReport:
    return RepetitionReport(
        period=1,
        copies=excess + 1,
        excess=excess,
        anchors=anchors,
        at_unit_start=at_unit_start,
        kind=kind,
    )


def ids_of(*surfaces: str) -> list[int]:
    return [IDS[s] for s in surfaces]


def random_scores(rows: int = 1, seed: int = 0) -> torch.Tensor:
    return torch.randn(rows, V, generator=torch.Generator().manual_seed(seed)) * 3


def test_no_repetition_returns_the_same_tensor(table):
    scores = random_scores(2)
    for oracle in (None, FixedOracle(None), FixedOracle(report(at_unit_start=False))):
        penalty = RepetitionPenalty(table, oracle, eos_ids=[0])
        out = penalty(torch.tensor([ids_of("def", "x"), ids_of("x", " =")]), scores)
        assert out is scores
    one_row = scores[:1]
    zero_excess = RepetitionPenalty(table, FixedOracle(report(excess=0)), eos_ids=[0])
    assert zero_excess(torch.zeros(1, 0, dtype=torch.long), one_row) is one_row


def test_anchor_tokens_lowered_eos_raised_punctuation_untouched(table):
    scores = random_scores()
    original = scores.clone()
    penalty = RepetitionPenalty(table, FixedOracle(report()), eos_ids=[0])
    out = penalty(torch.tensor([ids_of("x")]), scores)
    assert torch.equal(scores, original)  # input never mutated
    lowered = {i for i in range(V) if out[0, i] < scores[0, i]}
    raised = {i for i in range(V) if out[0, i] > scores[0, i]}
    # prefixes of "def" with or without leading whitespace, and "def" + non-word
    assert lowered == set(ids_of("def", " def", "d", "de", "def("))
    assert raised == {0}
    for untouched in ("=", "(", ",", "del", "defs", "\n", "    ", "\n    ", "x"):
        assert out[0, IDS[untouched]] == scores[0, IDS[untouched]]


def test_penalty_grows_with_excess_and_is_scale_free(table):
    scores = random_scores()
    drops = []
    for excess in (1, 2, 3):
        penalty = RepetitionPenalty(table, FixedOracle(report(excess=excess)), eos_ids=[0])
        out = penalty(torch.zeros(1, 0, dtype=torch.long), scores)
        drops.append(float(scores[0, IDS["def"]] - out[0, IDS["def"]]))
    assert drops[0] > 0 and drops[1] == pytest.approx(2 * drops[0])
    assert drops[2] == pytest.approx(3 * drops[0])
    # same distribution at a sharper temperature: the penalty scales with the logits
    penalty = RepetitionPenalty(table, FixedOracle(report()), eos_ids=[0])
    out1 = penalty(torch.zeros(1, 0, dtype=torch.long), scores)
    out2 = penalty(torch.zeros(1, 0, dtype=torch.long), scores * 2)
    assert torch.allclose(out2, out1 * 2, atol=1e-5)


def test_masked_entries_stay_masked_and_rows_are_independent(table):
    scores = random_scores(2)
    scores[0, IDS["def"]] = float("-inf")
    penalty = RepetitionPenalty(table, FixedOracle(report()), eos_ids=[0])
    out = penalty(torch.tensor([ids_of("x"), ids_of("x")]), scores)
    assert torch.isneginf(out[0, IDS["def"]])
    assert out[1, IDS["def"]] < scores[1, IDS["def"]]
    assert torch.isfinite(out[1]).all()


def test_constructor_validates(table):
    with pytest.raises(ValueError):
        RepetitionPenalty(table, None, eos_ids=[0], strength=0)
    with pytest.raises(ValueError):
        RepetitionPenalty(table, None, eos_ids=[V])
    with pytest.raises(ValueError):
        RepetitionPenalty(table, None, eos_ids=[0], max_period=9)
    with pytest.raises(TypeError):
        RepetitionPenalty(table, object(), eos_ids=[0])


def test_state_is_per_draft_and_stats_follow_the_path(table):
    penalty = RepetitionPenalty(table, None, eos_ids=[0])
    line = ids_of("x", " =", " 1", "\n")
    looping = line * 2  # the same line twice: the third would be penalised
    fresh = ids_of("x", " =", " 1", "\n", "name", " =", " 1", "\n")
    scores = random_scores(2)
    out = penalty(torch.tensor([looping, fresh]), scores)
    assert out[0, IDS["x"]] < scores[0, IDS["x"]]
    assert torch.equal(out[1], scores[1])
    # a forked row reordered later gets the same answer from the same state
    again = penalty(torch.tensor([fresh, looping]), scores.flip(0))
    assert torch.equal(again[1], out[0])
    stats = penalty.stats(tuple(looping))
    assert stats["repetition_penalties"] == 1 and stats["repetition_lines"] == 1
    assert stats["repetition_max_excess"] == 1
    assert penalty.stats(tuple(fresh))["repetition_penalties"] == 0
    assert penalty.stats(tuple(looping[:-1]))["repetition_penalties"] == 0


def test_line_repeat_only_at_line_start_after_two_copies(table):
    penalty = RepetitionPenalty(table, None, eos_ids=[0])
    scores = random_scores()
    once = ids_of("x", " =", " 1", "\n")
    assert penalty(torch.tensor([once]), scores) is scores
    twice_mid_line = once * 2 + ids_of("x")
    assert penalty(torch.tensor([twice_mid_line]), scores) is scores
    thrice = once * 3
    out = penalty(torch.tensor([thrice]), scores)
    d2 = float(scores[0, IDS["x"]] - penalty(torch.tensor([once * 2]), scores)[0, IDS["x"]])
    d3 = float(scores[0, IDS["x"]] - out[0, IDS["x"]])
    assert d3 == pytest.approx(2 * d2)
    for untouched in (" =", "=", "(", ",", "\n"):
        assert out[0, IDS[untouched]] == scores[0, IDS[untouched]]
    # blank lines between the copies do not hide the loop
    spaced = once + ids_of("\n") + once
    assert penalty(torch.tensor([spaced]), scores)[0, IDS["x"]] < scores[0, IDS["x"]]


def test_tandem_repeats_inside_a_line(table):
    penalty = RepetitionPenalty(table, None, eos_ids=[0])
    scores = random_scores()
    # " 67," period 2 needs three copies; the next copy's word token is lowered
    two = ids_of(" [", " 67", ",", " 67", ",")
    assert penalty(torch.tensor([two]), scores) is scores
    three = ids_of(" [", " 67", ",", " 67", ",", " 67", ",")
    out = penalty(torch.tensor([three]), scores)
    assert out[0, IDS[" 67"]] < scores[0, IDS[" 67"]]
    assert out[0, 0] > scores[0, 0]
    assert out[0, IDS[","]] == scores[0, IDS[","]]
    # inside the open " [" a newline would only carry the loop on: not raised; outside, it is
    assert out[0, IDS["\n"]] == scores[0, IDS["\n"]]
    flat = ids_of("x", " =", " 67", ",", " 67", ",", " 67", ",")
    out = penalty(torch.tensor([flat]), scores)
    assert out[0, 0] > scores[0, 0] and out[0, IDS["\n"]] > scores[0, IDS["\n"]]
    # when the next copy would begin with ",", nothing is touched this step
    ends_on_word = ids_of(" [", *([" 67", ","] * 3), " 67")
    assert penalty(torch.tensor([ends_on_word]), scores) is scores
    # "_color" as one token: period 1 needs three copies
    color = ids_of("name", "_color", "_color", "_color")
    out = penalty(torch.tensor([color]), scores)
    assert out[0, IDS["_color"]] < scores[0, IDS["_color"]]
    assert out[0, IDS["_"]] == scores[0, IDS["_"]]  # shorter than the copy's first token
    # split as "_" "color": period 2
    split = ids_of("name", *(["_", "color"] * 3))
    out = penalty(torch.tensor([split]), scores)
    assert out[0, IDS["_"]] < scores[0, IDS["_"]]
    # with tandem detection off, no change
    off = RepetitionPenalty(table, None, eos_ids=[0], tandem=False)
    assert off(torch.tensor([three]), scores) is scores


def test_helpers():
    assert tandem_repeat([1, 2, 1, 2, 1]) == (2, 3)
    assert tandem_repeat([5, 5, 5]) == (1, 2)
    assert tandem_repeat([1, 2, 3]) is None
    assert min_tandem_copies(1) == 3 and min_tandem_copies(5) == 2
    assert anchor_of("    self.x = 1") == "self.x" and anchor_of("(a, b) = c") is None
    assert is_wordish(" assert") and not is_wordish(" =") and not is_wordish("(")


def test_apply_constraints_keeps_identity(table):
    scores = random_scores()
    penalty = RepetitionPenalty(table, FixedOracle(None), eos_ids=[0])
    assert apply_constraints([penalty], torch.tensor([ids_of("x")]), scores) is scores


# ------------------------------------------------------------------ stub models under greedy


class LoopingLM(torch.nn.Module):
    """Fake causal LM: log-probability-like logits favouring the next token of a fixed
    sequence (0 for it, -4 for EOS, -8 elsewhere), indexed by the generated position."""

    def __init__(self, sequence: list[int], vocab_size: int, eos_id: int) -> None:
        super().__init__()
        self.sequence = sequence
        self.eos_id = eos_id
        self.vocab_size = vocab_size
        self.embed = torch.nn.Embedding(vocab_size, 4)
        self.config = SimpleNamespace(n_positions=4096, eos_token_id=eos_id)
        self.prompt_length = 0

    def get_input_embeddings(self) -> torch.nn.Module:
        return self.embed

    def forward(self, input_ids=None, inputs_embeds=None, past_key_values=None, use_cache=True):
        n = input_ids.shape[1]
        if past_key_values is None:
            self.prompt_length = n
        total = (past_key_values or 0) + n
        generated = total - self.prompt_length
        logits = torch.full((1, n, self.vocab_size), -8.0)
        logits[0, -1, self.eos_id] = -4.0
        logits[0, -1, self.sequence[generated % len(self.sequence)]] = 0.0
        return SimpleNamespace(logits=logits, past_key_values=total)


def looping_lm(tokenizer, text: str):
    sequence = tokenizer(text, add_special_tokens=False)["input_ids"]
    return wrap_model(LoopingLM(sequence, len(tokenizer), tokenizer.eos_token_id), tokenizer)


def test_stub_model_looping_defs_ends_within_two_copies(tiny_tokenizer):
    loop = "".join(f"def f_{i}(x): return x\n" for i in range(1, 10))
    lm = looping_lm(tiny_tokenizer, loop)
    prompt_text = "import os\n"
    prompt = lm.encode(prompt_text)
    plain = greedy_decode(lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=90)).drafts[0]
    assert plain.finish == "length" and plain.text.count("def ") >= 4
    penalty = RepetitionPenalty(
        lm.table, StatementRepetition("python", prompt_text), eos_ids=lm.eos_ids
    )
    req = DecodeRequest(prompt_ids=prompt, max_new_tokens=90, constraints=[penalty])
    draft = greedy_decode(lm, req).drafts[0]
    assert draft.finish == "eos"
    assert draft.text == "def f_1(x): return x\ndef f_2(x): return x\n"
    assert draft.stats["repetition_structural"] == 1
    assert draft.stats["repetition_max_excess"] == 1


@pytest.mark.parametrize("text", ["[67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67, 67", "_color" * 12])
def test_stub_model_tandem_repeats_are_stopped(tiny_tokenizer, text):
    lm = looping_lm(tiny_tokenizer, text)
    prompt = lm.encode("x = ")
    unit = "67" if "67" in text else "_color"
    plain = greedy_decode(lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=40)).drafts[0]
    assert plain.finish == "length" and plain.text.count(unit) >= 6
    penalty = RepetitionPenalty(lm.table, None, eos_ids=lm.eos_ids)
    req = DecodeRequest(prompt_ids=prompt, max_new_tokens=40, constraints=[penalty])
    draft = greedy_decode(lm, req).drafts[0]
    assert draft.finish == "eos"
    assert 2 <= draft.text.count(unit) <= 3
    assert draft.stats["repetition_tandem"] >= 1


def test_stub_model_looping_defs_ends_within_two_copies_with_sentencepiece():
    # Llama-style pieces: "▁def" word starts, "\n" inside pieces, byte fallback
    from model_families_testing import sentencepiece_tokenizer

    tokenizer = sentencepiece_tokenizer()
    loop = "".join(f"def f_{i}(x): return x\n" for i in range(1, 10))
    lm = looping_lm(tokenizer, loop)
    prompt_text = "import os\n"
    prompt = lm.encode(prompt_text)
    plain = greedy_decode(lm, DecodeRequest(prompt_ids=prompt, max_new_tokens=120)).drafts[0]
    assert plain.finish == "length" and plain.text.count("def ") >= 4
    penalty = RepetitionPenalty(
        lm.table, StatementRepetition("python", prompt_text), eos_ids=lm.eos_ids
    )
    req = DecodeRequest(prompt_ids=prompt, max_new_tokens=120, constraints=[penalty])
    draft = greedy_decode(lm, req).drafts[0]
    assert draft.finish == "eos"
    # the first piece is a word start ("▁def" spells " def"): the table keeps that space
    assert draft.text.lstrip(" ") == "def f_1(x): return x\ndef f_2(x): return x\n"
    assert draft.stats["repetition_structural"] == 1


# ------------------------------------------------------------------ in-line repetition


def test_inline_reports_lower_the_copy_anchors_and_raise_only_eos(table):
    scores = random_scores()
    original = scores.clone()
    for kind, stat in (("nesting", "repetition_nesting"), ("operands", "repetition_operands")):
        oracle = FixedOracle(report(anchors=("path.join", "os.join"), kind=kind))
        penalty = RepetitionPenalty(table, oracle, eos_ids=[0])
        draft = ids_of("path", ".", "join", "(")
        out = penalty(torch.tensor([draft]), scores)
        assert torch.equal(scores, original)  # input never mutated
        lowered = {i for i in range(V) if out[0, i] < scores[0, i]}
        raised = {i for i in range(V) if out[0, i] > scores[0, i]}
        assert lowered == set(ids_of("path", "os")) and raised == {0}
        for untouched in ("(", ")", ",", ".", "=", " or", "\n", "\n    "):
            assert out[0, IDS[untouched]] == scores[0, IDS[untouched]]
        stats = penalty.stats(tuple(draft))
        assert stats[stat] == 1 and stats["repetition_structural"] == 0


def test_real_oracle_nesting_on_token_ids(table):
    penalty = RepetitionPenalty(table, StatementRepetition("python", "x = "), eos_ids=[0])
    scores = random_scores()
    copy = ids_of("path", ".", "join", "(", "os", ".", "join", "(")
    assert penalty(torch.tensor([copy]), scores) is scores  # two copies: ordinary
    three = copy + ids_of("path", ".", "join", "(")
    out = penalty(torch.tensor([three]), scores)
    assert out[0, IDS["path"]] < scores[0, IDS["path"]]
    assert out[0, IDS["os"]] < scores[0, IDS["os"]]
    assert out[0, 0] > scores[0, 0]
    for untouched in ("(", ".", "join", "_len", "\n"):
        assert out[0, IDS[untouched]] == scores[0, IDS[untouched]]
    # inside the next copy (after its name) nothing is touched
    assert penalty(torch.tensor([three + ids_of("path")]), scores) is scores
    mid_copy = penalty(torch.tensor([three + ids_of("path", ".")]), scores)
    assert mid_copy[0, IDS["os"]] == scores[0, IDS["os"]]  # (a content tandem may act here)
    assert penalty.stats(tuple(three))["repetition_nesting"] == 1


def test_real_oracle_operands_on_token_ids(table):
    penalty = RepetitionPenalty(table, StatementRepetition("python", "if "), eos_ids=[0])
    scores = random_scores()
    unit = ["(", "result", ")"]
    loop = ids_of("_len", *unit, " or", " _len", *unit, " and", " _len", *unit, " or")
    out = penalty(torch.tensor([loop]), scores)
    assert out[0, IDS["_len"]] < scores[0, IDS["_len"]]
    assert out[0, IDS[" _len"]] < scores[0, IDS[" _len"]]
    for untouched in (" or", " and", "(", ")", "result", ","):
        assert out[0, IDS[untouched]] == scores[0, IDS[untouched]]
    assert penalty(torch.tensor([loop[:-1]]), scores) is scores  # ends on ")": no copy starts
    assert penalty.stats(tuple(loop))["repetition_operands"] == 1


LEGITIMATE = [
    "path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data')\n",
    "if isinstance(x, int) or isinstance(x, float) or x is None:\n",
    "row = [int(a), int(b), int(c)]\n",
    "call(alpha, beta, gamma, delta, epsilon)\n",
]


@pytest.mark.parametrize("line", LEGITIMATE)
def test_legitimate_lines_pass_through_bit_for_bit(tiny_tokenizer, line):
    lm = looping_lm(tiny_tokenizer, line)
    prompt = "import os\n\ndef f(x, a, b, c, alpha, beta, gamma, delta, epsilon):\n    "
    ids = lm.encode(line)
    penalty = RepetitionPenalty(lm.table, StatementRepetition("python", prompt), lm.eos_ids)
    scores = torch.randn(1, lm.vocab_size, generator=torch.Generator().manual_seed(3))
    for t in range(len(ids) + 1):
        generated = torch.tensor([ids[:t]], dtype=torch.long).reshape(1, t)  # (1, t)
        assert penalty(generated, scores) is scores
    assert penalty.stats(tuple(ids))["repetition_penalties"] == 0


@pytest.mark.parametrize(
    ("loop", "prompt", "unit", "stat"),
    [
        ("path.join(os.join(" * 12, "def f(name):\n    return ", ".join(", "repetition_nesting"),
        (
            "_len(result) or _len(result) and " * 8,
            "def f(result):\n    if ",
            "_len(",
            "repetition_operands",
        ),
    ],
)
def test_stub_model_inline_loops_are_stopped(tiny_tokenizer, loop, prompt, unit, stat):
    lm = looping_lm(tiny_tokenizer, loop)
    ids = lm.encode(prompt)
    plain = greedy_decode(lm, DecodeRequest(prompt_ids=ids, max_new_tokens=120)).drafts[0]
    assert plain.finish == "length" and plain.text.count(unit) >= 6
    penalty = RepetitionPenalty(lm.table, StatementRepetition("python", prompt), lm.eos_ids)
    req = DecodeRequest(prompt_ids=ids, max_new_tokens=120, constraints=[penalty])
    draft = greedy_decode(lm, req).drafts[0]
    assert draft.finish == "eos"
    assert 3 <= draft.text.count(unit) <= 4
    assert draft.stats[stat] >= 1 and draft.stats["repetition_tandem"] == 0


def test_end_boost_scales_the_eos_raise_only_where_a_line_starts(table):
    scores = random_scores()
    for kind, boosted in (("statement", True), ("nesting", False), ("operands", False)):
        raises = []
        for end_boost in (1.0, 3.0):
            oracle = FixedOracle(report(anchors=("def",), kind=kind))
            penalty = RepetitionPenalty(table, oracle, eos_ids=[0], end_boost=end_boost)
            out = penalty(torch.tensor([ids_of("x")]), scores)
            assert out[0, IDS["def"]] < scores[0, IDS["def"]]
            raises.append(float(out[0, 0] - scores[0, 0]))
        assert raises[0] > 0
        assert raises[1] == pytest.approx(3 * raises[0] if boosted else raises[0])
    with pytest.raises(ValueError):
        RepetitionPenalty(table, None, eos_ids=[0], end_boost=0)


def test_spreads_of_many_rows_at_once_equal_one_row_at_a_time():
    values = torch.randn(5, 64) * 3
    values[1, :10] = float("-inf")
    values[3] = float("-inf")  # nothing finite
    spreads = logit_spreads(values)
    for row in range(5):
        one = logit_spread(values[row])
        if one is None:
            assert row == 3 and math.isnan(float(spreads[row]))
        else:
            assert float(spreads[row]) == pytest.approx(one, rel=1e-6)


def test_a_row_without_finite_scores_is_left_while_others_are_penalised(table):
    scores = random_scores(2)
    scores[0] = float("-inf")
    penalty = RepetitionPenalty(table, FixedOracle(report()), eos_ids=[0])
    out = penalty(torch.tensor([ids_of("x"), ids_of("x")]), scores)
    assert torch.isneginf(out[0]).all()
    assert out[1, IDS["def"]] < scores[1, IDS["def"]]

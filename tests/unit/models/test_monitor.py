"""Member monitor: exact allowed-token sets on hand-built vocabularies, trigger handling,
bit-exact pass-through, per-draft state, both tokenizer families, and greedy decoding."""

from __future__ import annotations

import pytest
import torch

from models.decoding import DecodeRequest, greedy_decode
from models.monitor import MemberMonitor, may_end_receiver, trailing_member_access
from models.token_table import TokenTable
from models.vocab_index import leading_ident_run

EOS = "<eos>"
SURFACES = [
    EOS,  # 0: special, spells nothing
    ".",
    "get",
    "ge",
    "g",
    "t",
    "t(",
    "set",
    "get(",
    "get)",
    "getattr",
    "attr",
    "(",
    ")",
    " ",
    "\n",
    "obj",
    ".get",
    ".ge",
    ".set",
    ".x",
    "get\n",
    "gets",
    "x",
    "()",
    ").",
    "al",
    "pha",
    "p",
    "pha(",
    "alpha",
    "beta",
    "b",
    "c",
    "d",
    "na",
    "ï",
    "ve",
    b"\xc3",  # partial UTF-8 (first byte of "ï")
    b"\xaf",  # partial UTF-8 (second byte of "ï")
    " get",
    "a",
]


def make_table(surfaces=SURFACES) -> TokenTable:
    raw = [b"" if s == EOS else (s if isinstance(s, bytes) else s.encode()) for s in surfaces]
    return TokenTable.from_surfaces(raw, special={0})


TABLE = make_table()
ID = {s: i for i, s in enumerate(SURFACES) if isinstance(s, str)}


class RecordingOracle:
    """Answers from a dict keyed by (extra, trim); records every question."""

    def __init__(self, answers: dict[tuple[str, int], set[str]]):
        self.answers = {k: frozenset(v) for k, v in answers.items()}
        self.calls: list[tuple[str, int]] = []

    def members(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        self.calls.append((extra, trim))
        return self.answers.get((extra, trim))


class DocumentOracle:
    """Resolves `code` = document[:len - trim] + extra by its ending, like analysis would."""

    def __init__(self, document: str, endings: dict[str, set[str]]):
        self.document = document
        self.endings = endings
        self.codes: list[str] = []

    def members(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        code = self.document[: len(self.document) - trim] + extra
        self.codes.append(code)
        for ending, members in self.endings.items():
            if code.endswith(ending):
                return frozenset(members)
        return None


def run(monitor: MemberMonitor, ids: list[int], scores: torch.Tensor | None = None):
    """Return (input scores, output scores) of one row after the generated ``ids``."""
    v = monitor.table.vocab_size
    scores = torch.randn(1, v, generator=torch.Generator().manual_seed(len(ids)))
    out = monitor(torch.tensor([ids], dtype=torch.long).reshape(1, len(ids)), scores)
    return scores, out


def allowed(monitor: MemberMonitor, ids: list[int]) -> set[str] | None:
    """Return the allowed surfaces after ``ids`` (None when the row is left unchanged)."""
    scores, out = run(monitor, ids)
    if out is scores or torch.equal(out, scores):
        return None
    finite = torch.nonzero(out[0] > float("-inf")).flatten().tolist()
    return {SURFACES[i] if isinstance(SURFACES[i], str) else SURFACES[i] for i in finite}


def assert_exact_mask(scores: torch.Tensor, out: torch.Tensor) -> None:
    """Masked entries are exactly -inf, the rest equal the input bit for bit."""
    kept = out > float("-inf")
    assert torch.equal(out[kept], scores[kept])
    assert torch.isneginf(out[~kept]).all()
    assert bool(kept.any())


# ------------------------------------------------------------------ triggers


def test_trigger_parsing():
    assert trailing_member_access("x = obj.") == (7, "")
    assert trailing_member_access("x = obj.ge") == (7, "ge")
    assert trailing_member_access("obj.naïve") == (3, "naïve")
    assert trailing_member_access("x = 1.5") is None
    assert trailing_member_access("obj") is None
    assert trailing_member_access("get") is None
    assert may_end_receiver("obj") and may_end_receiver("f()") and may_end_receiver("'s'")
    assert not may_end_receiver("x = ") and not may_end_receiver("")


# ------------------------------------------------------------------ exact sets


def test_after_dot_allows_prefixes_and_member_plus_non_identifier():
    oracle = RecordingOracle({("", 1): {"get", "getattr"}})
    monitor = MemberMonitor(TABLE, oracle, "x = obj.", eos_ids=frozenset({0}))
    want = {"g", "ge", "get", "get(", "get)", "get\n", "getattr"}
    assert allowed(monitor, []) == want
    assert oracle.calls == [("", 1)]  # code before the dot = prompt minus "."


def test_fragment_in_prompt_tail_is_trimmed_for_the_oracle():
    oracle = RecordingOracle({("", 3): {"get", "getattr"}})
    monitor = MemberMonitor(TABLE, oracle, "x = obj.ge", eos_ids=frozenset({0}))
    assert allowed(monitor, []) == {"t", "t("}
    assert ("", 3) in oracle.calls


def test_complete_member_may_end_or_continue():
    oracle = RecordingOracle({("", 1): {"get", "getattr"}})
    monitor = MemberMonitor(TABLE, oracle, "obj.", eos_ids=frozenset({0}))
    # "get" is a member and a prefix of "getattr": continue with "attr", or end the
    # identifier with any token starting with a non-identifier character, or EOS
    want = {"a", "attr", "(", ")", " ", "\n", ".", ".get", ".ge", ".set", ".x", "()", ").", " get"}
    assert allowed(monitor, [ID["get"]]) == want | {EOS}
    assert ("get", 0) in oracle.calls  # the text so far was checked as a new receiver


def test_identifier_completion_then_back_to_waiting():
    oracle = RecordingOracle({("", 1): {"alpha", "beta"}})
    monitor = MemberMonitor(TABLE, oracle, "Foo().", eos_ids=frozenset({0}))
    assert allowed(monitor, []) == {"al", "alpha", "a", "b", "beta"}
    assert allowed(monitor, [ID["al"]]) == {"pha", "p", "pha("}
    assert allowed(monitor, [ID["al"], ID["p"]]) is None  # "alp" + nothing spells "ha"
    after = {"(", ")", " ", "\n", ".", ".get", ".ge", ".set", ".x", "()", ").", " get", EOS}
    assert allowed(monitor, [ID["al"], ID["pha"]]) == after
    # the identifier ended with "(": waiting again, nothing is constrained
    assert allowed(monitor, [ID["al"], ID["pha("]]) is None
    assert allowed(monitor, [ID["al"], ID["pha"], ID[" "]]) is None


def test_nested_triggers_ask_about_the_right_code():
    oracle = RecordingOracle({("", 1): {"b", "bb"}, ("b()", 0): {"c", "d"}})
    monitor = MemberMonitor(TABLE, oracle, "a.", eos_ids=frozenset({0}))
    assert allowed(monitor, []) == {"b"}
    b, call, dot = ID["b"], ID["()"], ID["."]
    # after "a.b()" a crossing ".x" token must spell a member of the new receiver
    crossing = allowed(monitor, [b, call])
    assert crossing is not None and {".get", ".ge", ".set", ".x"}.isdisjoint(crossing)
    assert "." in crossing and "x" in crossing
    assert allowed(monitor, [b, call, dot]) == {"c", "d"}
    assert oracle.calls.count(("b()", 0)) == 1  # memoised per request


def test_token_crossing_the_trigger_is_checked():
    oracle = RecordingOracle({("", 0): {"get", "getattr"}})
    monitor = MemberMonitor(TABLE, oracle, "y = obj", eos_ids=frozenset({0}))
    scores, out = run(monitor, [])
    assert_exact_mask(scores, out)
    forbidden = {SURFACES[i] for i in torch.nonzero(torch.isneginf(out[0])).flatten().tolist()}
    assert forbidden == {".set", ".x"}  # ".get", ".ge", "." and all other tokens stay


class PythonOracle(RecordingOracle):
    family = "python"


@pytest.mark.parametrize(
    ("oracle_class", "members", "calls_allowed"),
    [
        (PythonOracle, {"real", "imag"}, False),  # a float: "(" may not follow
        (PythonOracle, {"real", "__call__"}, True),  # a class or a callable instance
        (RecordingOracle, {"real", "imag"}, True),  # not Python: calls are not checked
    ],
)
def test_a_value_that_cannot_be_called_is_never_called(oracle_class, members, calls_allowed):
    call_tokens = {"(", "()"}
    oracle = oracle_class({("", 0): members, ("", 1): {"get", "radius"}})
    monitor = MemberMonitor(TABLE, oracle, "y = obj", eos_ids=frozenset({0}))
    scores, out = run(monitor, [])
    forbidden = {SURFACES[i] for i in torch.nonzero(torch.isneginf(out[0])).flatten().tolist()}
    assert call_tokens.isdisjoint(forbidden) == calls_allowed
    assert {")", " ", "\n", "x"}.isdisjoint(forbidden)  # nothing else is touched
    if not calls_allowed:
        assert_exact_mask(scores, out)


def test_a_complete_member_that_cannot_be_called_is_not_called():
    # "obj.get" where get is a plain attribute whose members the analysis closes
    oracle = PythonOracle({("", 1): {"get", "getattr"}, ("get", 0): {"real"}})
    monitor = MemberMonitor(TABLE, oracle, "obj.", eos_ids=frozenset({0}))
    after = allowed(monitor, [ID["get"]])
    assert after is not None and "(" not in after and "()" not in after
    assert {")", " ", "attr", "."} <= after  # ends, or goes on as getattr, or a member


def test_members_with_non_ascii_letters_never_use_partial_utf8_tokens():
    oracle = RecordingOracle({("", 1): {"naïve"}})
    monitor = MemberMonitor(TABLE, oracle, "o.", eos_ids=frozenset({0}))
    assert allowed(monitor, []) == {"na"}
    assert allowed(monitor, [ID["na"]]) == {"ï"}  # not b"\xc3", not EOS mid-identifier
    assert allowed(monitor, [ID["na"], ID["ï"]]) == {"ve"}


# ------------------------------------------------------------------ pass-through


@pytest.mark.parametrize("answer", [None, set()])
def test_unknown_receiver_leaves_scores_untouched(answer):
    class Oracle:
        def members(self, extra, trim=0):
            return answer

    monitor = MemberMonitor(TABLE, Oracle(), "x = obj.", eos_ids=frozenset({0}))
    scores = torch.randn(3, TABLE.vocab_size)
    ids = torch.tensor([[ID["get"]], [ID["."]], [ID["x"]]])
    assert monitor(ids, scores) is scores
    assert monitor.stats((ID["get"],)) == {
        "monitor_constrained_steps": 0,
        "monitor_masked_tokens": 0,
        "monitor_preferred_steps": 0,
    }


def test_never_masks_every_token():
    # no token can spell "zzz": the mask would be empty, so there is none
    monitor = MemberMonitor(TABLE, RecordingOracle({("", 1): {"zzz"}}), "obj.")
    scores = torch.randn(1, TABLE.vocab_size)
    assert monitor(torch.zeros(1, 0, dtype=torch.long), scores) is scores
    # every allowed token is already -inf (another constraint): the row is left as is
    monitor = MemberMonitor(TABLE, RecordingOracle({("", 1): {"beta"}}), "obj.")
    scores = torch.zeros(1, TABLE.vocab_size)
    scores[0, ID["b"]] = scores[0, ID["beta"]] = float("-inf")
    assert torch.equal(monitor(torch.zeros(1, 0, dtype=torch.long), scores), scores)
    assert monitor.stats(())["monitor_constrained_steps"] == 0


def test_rows_are_independent_and_bit_exact():
    oracle = DocumentOracle("v = obj", {"obj": {"get"}})
    monitor = MemberMonitor(TABLE, oracle, "v = obj", eos_ids=frozenset({0}))
    scores = torch.randn(3, TABLE.vocab_size)
    ids = torch.tensor([[ID[" "], ID["x"]], [ID["."], ID["ge"]], [ID[" "], ID["("]]])
    out = monitor(ids, scores)
    assert out is not scores
    assert torch.equal(out[0], scores[0]) and torch.equal(out[2], scores[2])
    assert_exact_mask(scores[1], out[1])
    assert {SURFACES[i] for i in torch.nonzero(out[1] > float("-inf")).flatten().tolist()} == {
        "t",
        "t(",
    }
    # the same drafts in another order (beam/superposed reorder rows) get the same masks
    again = monitor(ids.flip(0), scores.flip(0))
    assert torch.equal(again.flip(0), out)


def test_stats_follow_each_draft_path():
    oracle = RecordingOracle({("", 1): {"alpha", "beta"}})
    monitor = MemberMonitor(TABLE, oracle, "Foo().", eos_ids=frozenset({0}))
    path = [ID["al"], ID["pha"], ID["("]]
    for t in range(len(path) + 1):
        monitor(torch.tensor([path[:t]], dtype=torch.long).reshape(1, t), torch.zeros(1, 42))
    stats = monitor.stats(tuple(path))
    assert stats["monitor_constrained_steps"] == 3  # after ".", after "al", after "alpha"
    want_masked = (42 - 5) + (42 - 3) + (42 - 13)
    assert stats["monitor_masked_tokens"] == want_masked
    assert monitor.stats((ID["beta"],))["monitor_constrained_steps"] == 1  # only the shared root


def test_constructor_validates():
    with pytest.raises(TypeError):
        MemberMonitor("not a table", RecordingOracle({}), "x.")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        MemberMonitor(TABLE, object(), "x.")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MemberMonitor(TABLE, RecordingOracle({}), "x.", eos_ids=frozenset({999}))
    monitor = MemberMonitor(TABLE, RecordingOracle({}), "x.")
    with pytest.raises(ValueError):
        monitor(torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, 7))


# ------------------------------------------------------------------ real tokenizers


def reference_allowed(texts, special, partial, members, fragment, receiver_members, eos):
    """Brute-force the monitor's rule over token texts (independent of the index)."""
    suffixes = {m[len(fragment) :] for m in members if m.startswith(fragment)}
    out = set()
    for i, text in enumerate(texts):
        if special[i] or partial[i] or not text:
            if i in eos and "" in suffixes:
                out.add(i)
            continue
        run = leading_ident_run(text)
        ok = any(r.startswith(run) for r in suffixes) if run == text else run in suffixes
        if ok and receiver_members and "" in suffixes and text[0] == "." and len(text) > 1:
            after = text[1:]
            if after[0].isidentifier():
                lead = leading_ident_run(after)
                if lead == after:
                    ok = any(m.startswith(lead) for m in receiver_members)
                else:
                    ok = lead in receiver_members
        if ok:
            out.add(i)
    return out


def sentencepiece_tokenizer():
    """A SentencePiece-style (Unigram + Metaspace + byte fallback) HF tokenizer in memory."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    words = ["obj", "get", "ge", "g", "t", "attr", "set", "alpha", "al", "beta", "x", "na"]
    pieces = ["<unk>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)] + ["\u2581", "ï"]
    pieces += words + ["\u2581" + w for w in words] + [".", ".get", "(", ")", "()", "get("]
    tok = Tokenizer(models.Unigram([(p, -1.0) for p in pieces], unk_id=0, byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>")


@pytest.mark.parametrize("family", ["bytelevel", "sentencepiece"])
def test_masks_match_brute_force_on_real_tokenizers(family, tiny_tokenizer):
    tokenizer = tiny_tokenizer if family == "bytelevel" else sentencepiece_tokenizer()
    table = TokenTable.from_tokenizer(tokenizer)
    eos = frozenset({tokenizer.eos_token_id})
    special, partial = table.special.tolist(), table.partial_utf8.tolist()
    assert any(partial)  # byte tokens exist in both families
    cases = [
        ({"alpha", "beta"}, ""),
        ({"alpha", "beta"}, "al"),
        ({"get", "getattr", "set"}, "get"),
        ({"join", "path", "print", "self", "__init__"}, "p"),
        ({"naïve", "name"}, "na"),
    ]
    for members, fragment in cases:
        receiver = {"get", "path"}
        oracle = DocumentOracle("r = o." + fragment, {"= o": members, fragment: receiver})
        monitor = MemberMonitor(table, oracle, "r = o." + fragment, eos_ids=eos)
        scores = torch.randn(1, table.vocab_size)
        out = monitor(torch.zeros(1, 0, dtype=torch.long), scores)
        got = set(torch.nonzero(out[0] > float("-inf")).flatten().tolist())
        receiver_now = receiver if fragment and fragment in members else None
        want = reference_allowed(
            table.texts, special, partial, members, fragment, receiver_now, eos
        )
        assert got == want, (family, members, fragment)
        assert_exact_mask(scores, out)


def test_greedy_decode_spells_only_members(tiny_lm):
    document = "class Foo:\n    def __init__(self):\n        self.alpha = 1\n\nx = Foo()."
    for tail in ("", "\ny = Foo()."):
        text = document + tail
        oracle = DocumentOracle(text, {"Foo()": {"alpha", "beta"}})
        monitor = MemberMonitor(tiny_lm.table, oracle, text[-64:], eos_ids=tiny_lm.eos_ids)
        req = DecodeRequest(
            prompt_ids=tiny_lm.encode(text), max_new_tokens=6, constraints=[monitor]
        )
        draft = greedy_decode(tiny_lm, req).drafts[0]
        ident = leading_ident_run(draft.text)
        if draft.finish == "length" and ident == draft.text:
            assert any(m.startswith(ident) for m in ("alpha", "beta")) and ident
        else:
            assert ident in ("alpha", "beta"), draft.text
        assert draft.stats["monitor_constrained_steps"] >= 1
        assert oracle.codes[0].endswith("Foo()")


# ------------------------------------------------------------------ new attributes

NEW_SURFACES = [EOS, ".", "new", "_", "attr", "alpha", "al", "1", " ", " =", "=", "==", " =="]
NEW_SURFACES += ["(", ":", " +=", ",", "\n", ".new", " 2", "//", "="]
NEW_TABLE = make_table(NEW_SURFACES)
NEW_ID = {s: i for i, s in enumerate(NEW_SURFACES) if isinstance(s, str)}
METHOD = "class A:\n    def f(self):\n        self"


class AssignableOracle(DocumentOracle):
    """``self`` alone on the code's last line starts a statement: new attributes allowed."""

    def __init__(self, document: str, can_assign: bool = True):
        super().__init__(document, {"self": {"alpha", "run"}})
        self.can_assign = can_assign

    def assignable(self, extra: str, trim: int = 0) -> bool:
        code = self.document[: len(self.document) - trim] + extra
        return self.can_assign and code.split("\n")[-1].strip() == "self"


def new_allowed(monitor: MemberMonitor, surfaces: list[str]) -> set[str] | None:
    ids = [NEW_ID[s] for s in surfaces]
    v = monitor.table.vocab_size
    scores = torch.zeros(1, v)
    out = monitor(torch.tensor([ids], dtype=torch.long).reshape(1, len(ids)), scores)
    if out is scores:
        return None
    return {NEW_SURFACES[i] for i in torch.nonzero(out[0] > float("-inf")).flatten().tolist()}


def test_self_at_a_statement_start_may_spell_a_new_attribute_then_must_assign():
    monitor = MemberMonitor(NEW_TABLE, AssignableOracle(METHOD + "."), METHOD + ".", {0})
    # any identifier may start (members and new names), nothing else
    assert new_allowed(monitor, []) == {"new", "_", "attr", "alpha", "al"}
    # a new name goes on, or ends in an assignment; never "(", "==", "." or a newline
    assert new_allowed(monitor, ["new"]) == {
        "new",
        "_",
        "attr",
        "alpha",
        "al",
        "1",
        " ",
        " =",
        "=",
        ":",
        " +=",
        ",",
        "//",
    }
    # after the name and a space: only what can still become an assignment operator
    assert new_allowed(monitor, ["new", " "]) == {" ", " =", "=", ":", " +=", ",", "//"}
    # "=" must not become "=="
    after_eq = new_allowed(monitor, ["new", " ", "="])
    assert "=" not in after_eq and "==" not in after_eq and {" 2", "1", "(", " "} <= after_eq
    # an assignment is complete: no constraint any more
    assert new_allowed(monitor, ["new", " =", " 2"]) is None
    # a member keeps its usual rules: calls allowed, nothing pending afterwards
    assert "(" in new_allowed(monitor, ["alpha"])
    assert new_allowed(monitor, ["alpha", " "]) is None


def test_without_assignable_only_members_follow_self():
    for oracle in (
        AssignableOracle(METHOD + ".", can_assign=False),
        DocumentOracle(METHOD + ".", {"self": {"alpha", "run"}}),
    ):
        monitor = MemberMonitor(NEW_TABLE, oracle, METHOD + ".", {0})
        assert new_allowed(monitor, []) == {"alpha", "al"}


def test_a_new_attribute_crossing_the_trigger_in_one_token():
    monitor = MemberMonitor(NEW_TABLE, AssignableOracle(METHOD), METHOD, {0})
    assert new_allowed(monitor, []) is None  # ".new" allowed: it may become `self.new = ...`
    blocked = MemberMonitor(NEW_TABLE, AssignableOracle(METHOD, can_assign=False), METHOD, {0})
    assert ".new" not in new_allowed(blocked, [])
    # the pending assignment applies to a name that crossed the trigger too
    assert new_allowed(monitor, [".new", " "]) == {" ", " =", "=", ":", " +=", ",", "//"}


def test_assignment_state():
    from models.monitor import assignment_state

    assert assignment_state("") is False and assignment_state("  ") is False
    assert assignment_state(" =") is False  # may still become "=="
    assert assignment_state(" = 1") is True and assignment_state(": int") is True
    assert assignment_state("+= 2") is True and assignment_state(", ") is True
    assert assignment_state("//") is False and assignment_state("//= x") is True
    assert assignment_state("==") is None and assignment_state("(") is None
    assert assignment_state(".") is None and assignment_state("\n") is None


def test_constrained_rows_are_masked_together_and_a_row_left_without_tokens_is_kept():
    oracle = RecordingOracle({("", 1): {"beta"}})
    monitor = MemberMonitor(TABLE, oracle, "obj.")
    scores = torch.randn(3, TABLE.vocab_size)
    scores[1, ID["b"]] = scores[1, ID["beta"]] = float("-inf")  # another constraint's doing
    ids = torch.zeros(3, 0, dtype=torch.long)  # three drafts at the same point
    out = monitor(ids, scores)
    assert torch.equal(out[1], scores[1])  # masking it would leave nothing: kept as it was
    for row in (0, 2):
        allowed = {SURFACES[i] for i in torch.nonzero(out[row] > float("-inf")).flatten().tolist()}
        assert allowed == {"b", "beta"}
        assert_exact_mask(scores[row], out[row])


class OpenOracle:
    """An open receiver (no member set) whose class declares ``declared`` names."""

    def __init__(self, declared: set[str] | None):
        self.declared_names = None if declared is None else frozenset(declared)

    def members(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        return None

    def declared(self, extra: str, trim: int = 0) -> frozenset[str] | None:
        return self.declared_names if (extra, trim) == ("", 1) else None


def test_declared_members_of_an_open_receiver_are_preferred_not_forced():
    monitor = MemberMonitor(TABLE, OpenOracle({"alpha"}), "obj.", prefer_bonus=2.0)
    scores = torch.randn(2, TABLE.vocab_size)
    ids = torch.zeros(2, 0, dtype=torch.long)
    out = monitor(ids, scores)
    assert out is not scores and torch.isfinite(out).all()  # nothing is masked
    favoured = {ID["al"], ID["a"], ID["alpha"]}
    for token in range(TABLE.vocab_size):
        want = scores[:, token] + (2.0 if token in favoured else 0.0)
        assert torch.allclose(out[:, token], want), SURFACES[token]
    assert monitor.stats(())["monitor_preferred_steps"] == 1
    assert monitor.stats(())["monitor_constrained_steps"] == 0
    # a name the class does not declare stays possible, and then nothing is preferred
    after_other = monitor(torch.tensor([[ID["b"]]]), scores[:1])
    assert after_other is scores[:1] or torch.equal(after_other, scores[:1])
    # inside a declared name, its continuation is preferred
    inside = monitor(torch.tensor([[ID["al"]]]), scores[:1])
    assert inside[0, ID["pha"]] == scores[0, ID["pha"]] + 2.0
    assert inside[0, ID["beta"]] == scores[0, ID["beta"]]


def test_preference_is_off_at_zero_and_without_declared_names():
    scores = torch.randn(1, TABLE.vocab_size)
    ids = torch.zeros(1, 0, dtype=torch.long)
    assert (
        MemberMonitor(TABLE, OpenOracle({"alpha"}), "obj.", prefer_bonus=0.0)(ids, scores) is scores
    )
    assert MemberMonitor(TABLE, OpenOracle(None), "obj.")(ids, scores) is scores
    with pytest.raises(ValueError):
        MemberMonitor(TABLE, OpenOracle(None), "obj.", prefer_bonus=-1.0)
    with pytest.raises(ValueError):
        MemberMonitor(TABLE, OpenOracle(None), "obj.", prefer_bonus=float("nan"))


def test_known_members_mask_and_declared_names_are_not_asked():
    class Both(OpenOracle):
        def members(self, extra, trim=0):
            return frozenset({"beta"}) if (extra, trim) == ("", 1) else None

    monitor = MemberMonitor(TABLE, Both({"alpha"}), "obj.")
    out = monitor(torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, TABLE.vocab_size))
    allowed = {SURFACES[i] for i in torch.nonzero(out[0] > float("-inf")).flatten().tolist()}
    assert allowed == {"b", "beta"}  # the closed set masks; "alpha" gets no bonus
    assert out[0, ID["beta"]] == 0.0


def test_preference_right_after_the_dot_skips_dunders_until_asked():
    surfaces = [EOS, ".", "_", "__", "al", "alpha", "get"]
    table = make_table(surfaces)
    ids = {s: i for i, s in enumerate(surfaces)}
    oracle = OpenOracle({"alpha", "__getattr__"})
    monitor = MemberMonitor(table, oracle, "obj.", prefer_bonus=1.5)
    out = monitor(torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, table.vocab_size))
    assert out[0, ids["alpha"]] == 1.5 and out[0, ids["al"]] == 1.5
    assert out[0, ids["__"]] == 0.0 and out[0, ids["_"]] == 0.0  # no dunder first
    asked = OpenOracle({"alpha", "__getattr__"})
    asked.declared = lambda extra, trim=0: (
        oracle.declared_names if (extra, trim) == ("", 2) else None
    )
    monitor = MemberMonitor(table, asked, "obj._", prefer_bonus=1.5)
    out = monitor(torch.zeros(1, 0, dtype=torch.long), torch.zeros(1, table.vocab_size))
    assert out[0, ids["_"]] == 1.5  # "_" typed: "__getattr__" may be meant
    assert out[0, ids["alpha"]] == 0.0


def test_members_of_an_unknown_receiver_are_not_asked_about():
    # "log." is unknown: "log.get" cannot be known either, so no question is asked
    oracle = RecordingOracle({})
    monitor = MemberMonitor(TABLE, oracle, "x = log.", eos_ids=frozenset({0}))
    assert allowed(monitor, [ID["get"]]) is None
    assert oracle.calls == [("", 1)]
    # ... while after a known member the crossing tokens are still checked
    known = RecordingOracle({("", 1): {"get"}, ("get", 0): {"x"}})
    monitor = MemberMonitor(TABLE, known, "x = log.", eos_ids=frozenset({0}))
    after = allowed(monitor, [ID["get"]])
    assert after is not None and ".x" in after and ".set" not in after

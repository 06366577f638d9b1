"""Incremental prompt tokenisation: tokens reused across edits equal whole-text tokens.

Runs on the shipped model's tokenizer (``models/default_model``: byte-level BPE with the
GPT-2 regex pre-tokenizer), loaded from disk only.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lsp_server import prompt as prompt_module
from lsp_server.prompt import _MEMO, _tokens, build_prompt

MODEL_DIR = Path(__file__).resolve().parents[3] / "models" / "default_model"

CODE = "".join(
    f"    def method_{i}(self, value: int = {i}) -> int:\n"
    f"        '''Return the value's {i}th power.'''  # it's {i}\n"
    f"        total = self.base ** value + {i * 7}\n"
    f"        return total\n\n"
    for i in range(60)
)
PIECES = [
    "a", "x", "_", "1", " ", "  ", "    ", "\t", "\n", "\n\n", "\r\n", "(", ")", ".", ":",
    "'s", "'ll", "''", '"', "🙂", "👍🏽", "中文", "日本語", "e\u0301", "é", "\u00a0", "\u3000",
    "\u2028", "\x0b", "\x1c", "٣", "Ⅻ", "  \n", " \t \n", "\n    return self\n",
    "for i in range(10):\n    print(i)\n", "x = {'a': 1}  # ok\r\n",
]  # fmt: skip


class Counting:
    """A tokenizer counting the characters it is asked to tokenise."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.chars, self.calls = inner, 0, 0

    def __call__(self, text: str, **kwargs: Any) -> Any:
        self.chars += len(text)
        self.calls += 1
        return self.inner(text, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class Opaque:
    """A tokenizer whose internals are hidden: it is never spliced."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __call__(self, text: str, **kwargs: Any) -> Any:
        return self.inner(text, **kwargs)

    def __getattr__(self, name: str) -> Any:
        if name == "backend_tokenizer":
            raise AttributeError(name)
        return getattr(self.inner, name)


@pytest.fixture(scope="module")
def shipped() -> Any:
    """Return the shipped model's tokenizer (no download)."""
    if not (MODEL_DIR / "tokenizer.json").is_file():
        pytest.skip("the shipped model is not present")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(MODEL_DIR), local_files_only=True)


@pytest.fixture(scope="module")
def shipped_lm(shipped) -> Any:
    """Return a random tiny GPT-2 with the shipped tokenizer (only the tokenizer loaded)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from models.loader import wrap_model

    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(shipped), n_positions=512, n_embd=16, n_layer=1, n_head=2)
    return wrap_model(GPT2LMHeadModel(config), shipped, name="shipped-tokenizer")


def whole(tokenizer: Any, text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Return the ids and token starts of ``text`` tokenised whole."""
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return tuple(enc["input_ids"]), tuple(start for start, _ in enc["offset_mapping"])


def incremental(tokenizer: Any, text: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Return the ids and token starts of ``text`` from the prompt module's memo."""
    tokens = _tokens(SimpleNamespace(tokenizer=tokenizer), text)  # type: ignore[arg-type]
    assert tokens is not None
    return tokens.ids, tokens.starts


def edit(rng: random.Random, text: str, kind: str) -> str:
    """Return ``text`` after one random edit of ``kind``."""
    end = len(text) if rng.random() < 0.7 else rng.randrange(len(text) + 1)
    if kind == "append":
        return text[:end] + rng.choice(PIECES) + text[end:]
    if kind == "backspace":
        return text[: max(0, end - rng.randint(1, 4))] + text[end:]
    if kind == "insert":
        at = rng.randrange(len(text) + 1)
        return text[:at] + "".join(rng.choices(PIECES, k=rng.randint(1, 3))) + text[at:]
    if kind == "paste":
        start = rng.randrange(len(CODE) - 400)
        return text[:end] + CODE[start : start + rng.randint(40, 400)] + text[end:]
    if kind == "move":  # the window starts a few lines later or earlier
        if rng.random() < 0.5:
            return text[text.find("\n", rng.randrange(200)) + 1 :]
        start = rng.randrange(len(CODE) - 300)
        return CODE[start : start + rng.randint(1, 300)] + text
    if kind == "header":  # a header line put in front of a later part
        return "class Big:\n" + text[text.find("\n", rng.randrange(300)) + 1 :]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["append", "backspace", "insert", "paste", "move", "header"])
def test_random_edits_tokenise_as_the_whole_text(shipped, kind):
    rng = random.Random(kind)
    tokenizer, tokenised = Counting(shipped), 0
    for start in range(3):
        text = CODE[start * 1500 : start * 1500 + 2500]
        for _ in range(40):
            text = edit(rng, text, kind)
            if len(text) > 4000:
                text = text[-3000:]
            assert incremental(tokenizer, text) == whole(shipped, text)
            if text[200:]:  # a later part (the window inside its tail) as well
                assert incremental(tokenizer, text[200:]) == whole(shipped, text[200:])
            tokenised += len(text) + len(text[200:])
    assert _MEMO.profile(tokenizer) is not None  # no splice failed its check
    assert tokenizer.chars < 0.3 * tokenised  # most characters were not tokenised again


TRICKY = st.sampled_from(
    list("ab1' \t\n\r.(_") + ["  ", "\r\n", "'s", "'re", "é", "e\u0301", "🙂", "中", "\u00a0"]
    + ["\u3000", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "٣"]
)  # fmt: skip


@settings(max_examples=60)
@given(
    base=st.lists(TRICKY, min_size=150, max_size=400).map("".join),
    edits=st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 3), st.lists(TRICKY, max_size=4)),
        min_size=1,
        max_size=4,
    ),
)
def test_edits_of_whitespace_and_punctuation_runs_tokenise_as_the_whole_text(shipped, base, edits):
    tokenizer = Counting(shipped)  # a cold memo per example
    text = base
    assert incremental(tokenizer, text) == whole(shipped, text)
    for at, removed, inserted in edits:
        at %= len(text) + 1
        text = text[:at] + "".join(inserted) + text[at + removed :]
        assert incremental(tokenizer, text) == whole(shipped, text)
    assert _MEMO.profile(tokenizer) is not None


def test_typing_tokenises_only_the_edited_tail(shipped):
    tokenizer = Counting(shipped)
    line = "        result = self.compute(value, factor=2) + other.total  # sum\n"
    start = CODE.index("def method_20")
    window, asked = CODE[start : start + 3000], []
    for typed in range(len(line) + 1):  # one key after another at the end of the window
        text = window + line[:typed]
        before = tokenizer.chars
        assert incremental(tokenizer, text) == whole(shipped, text)
        asked.append(tokenizer.chars - before)
    assert asked[0] == len(window)  # the first keystroke tokenises the whole window
    # later ones a few characters before the cursor on: never the whole window again
    assert max(asked[1:]) < 200 and sum(asked[1:]) < 0.03 * len(window) * len(line)


def test_a_window_inside_a_tokenised_tail_reuses_its_tokens(shipped):
    tokenizer = Counting(shipped)
    tail = CODE[1000:5000]
    incremental(tokenizer, tail)
    window = tail[tail.index("\n", 1500) + 1 :]  # a later line start: no token starts there
    before = tokenizer.chars
    assert incremental(tokenizer, window) == whole(shipped, window)
    assert 0 < tokenizer.chars - before < 100  # the first words only


def test_texts_with_special_tokens_are_tokenised_whole(shipped):
    tokenizer = Counting(shipped)
    text = CODE[:3000]
    incremental(tokenizer, text)
    spelled = text[:1500] + "<|endoftext|>" + text[1500:]
    before = tokenizer.chars
    assert incremental(tokenizer, spelled) == whole(shipped, spelled)
    assert tokenizer.chars - before == len(spelled)


def test_a_wrong_cut_rule_is_caught_by_the_resync_check(shipped, shipped_lm, monkeypatch):
    # between a space and a word's first letter: the byte-level pre-tokenizer keeps the
    # space with the word, so the old tokens do not start there
    monkeypatch.setattr(
        prompt_module, "_is_cut", lambda text, i: 0 < i < len(text) and text[i - 1 : i + 1] == " r"
    )
    tokenizer = Counting(shipped)
    text = CODE[:3000]
    incremental(tokenizer, text)
    lm = dataclasses.replace(shipped_lm, tokenizer=tokenizer)
    for typed in ("x", "xy", "xyz"):
        ids, starts = whole(shipped, text + typed)
        assert prompt_module._encode(lm, text + typed) == list(ids)
        assert prompt_module._token_starts(lm, text + typed) == list(starts)
    assert _MEMO.profile(tokenizer) is None  # spliced no more: whole texts from now on


def test_unsupported_tokenizers_are_tokenised_whole(shipped):
    from tokenizers import Tokenizer, normalizers, pre_tokenizers

    def spliceable(tokenizer: Any) -> bool:
        return _tokens(SimpleNamespace(tokenizer=tokenizer), CODE) is not None  # type: ignore[arg-type]

    assert spliceable(Counting(shipped)) and not spliceable(Opaque(shipped))  # no offsets
    nfc = Tokenizer.from_str(shipped.backend_tokenizer.to_str())
    nfc.normalizer = normalizers.NFC()  # may compose characters across a cut
    metaspace = Tokenizer.from_str(shipped.backend_tokenizer.to_str())
    metaspace.pre_tokenizer = pre_tokenizers.Metaspace()  # "▁" put in front of the text
    prefix_space = Tokenizer.from_str(shipped.backend_tokenizer.to_str())
    prefix_space.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    for backend in (nfc, metaspace, prefix_space):
        assert not spliceable(SimpleNamespace(backend_tokenizer=backend))


@pytest.mark.parametrize("max_prompt_tokens", [256, None])
def test_build_prompt_is_unchanged_while_typing(shipped_lm, max_prompt_tokens):
    spliced = dataclasses.replace(shipped_lm, tokenizer=Counting(shipped_lm.tokenizer))
    counting = Counting(shipped_lm.tokenizer)
    plain = dataclasses.replace(shipped_lm, tokenizer=Opaque(counting))  # whole texts
    text = CODE * 2
    end = text.index("return total", len(text) // 2) + len("return total")
    headers = [(text.rindex("    def", 0, end), text.index("\n", text.rindex("    def", 0, end)))]
    for cut in range(end - 40, end + 1):
        doc = text[:cut] + text[end:]
        args = (doc, cut, 48)
        kwargs = {"headers": headers, "max_prompt_tokens": max_prompt_tokens}
        assert build_prompt(spliced, *args, **kwargs) == build_prompt(plain, *args, **kwargs)
    assert _MEMO.profile(spliced.tokenizer) is not None
    # the prompts were built from a few characters per keystroke, not whole windows
    assert spliced.tokenizer.chars < 0.1 * counting.chars


def test_threads_typing_at_once_get_the_whole_text_tokens(shipped):
    from concurrent.futures import ThreadPoolExecutor

    tokenizer = Counting(shipped)  # one memo shared by the threads
    starts = [CODE.index(f"def method_{i}(") for i in (5, 25, 45)]

    def typing(start: int) -> bool:
        """Return whether every keystroke's tokens equal the whole text's."""
        window = CODE[start : start + 2000]
        return all(
            incremental(tokenizer, window + "x = self." + "y" * n)
            == whole(shipped, window + "x = self." + "y" * n)
            for n in range(15)
        )

    with ThreadPoolExecutor(3) as pool:
        assert all(pool.map(typing, starts))
    assert _MEMO.profile(tokenizer) is not None

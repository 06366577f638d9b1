"""Prompt building: token budgets, nearest lines kept, headers restored, FIM layout."""

from __future__ import annotations

import pytest

from lsp_server.prompt import build_prompt, prefix_window, suffix_window

BODY = "".join(f"    value_{i} = compute({i})\n" for i in range(200))
SOURCE = "import os\n\n\nclass Big:\n    def method(self):\n" + BODY.replace("    ", "        ")


def test_prefix_window_fits_budget_and_keeps_nearest_lines(tiny_lm):
    window = prefix_window(tiny_lm, SOURCE, 60)
    assert len(tiny_lm.encode(window)) <= 60
    assert SOURCE.endswith(window.split("\n", 1)[-1])
    assert "value_199" in window and "value_0 " not in window


def test_cut_headers_are_put_back(tiny_lm):
    header_start = SOURCE.index("class Big")
    method_start = SOURCE.index("    def method")
    headers = [
        (header_start, SOURCE.index("\n", header_start) + 1),
        (method_start, SOURCE.index("\n", method_start) + 1),
    ]
    window = prefix_window(tiny_lm, SOURCE, 80, headers)
    assert window.startswith("class Big:\n    def method(self):\n")
    assert len(tiny_lm.encode(window)) <= 80


def test_window_of_a_short_prefix_is_the_prefix(tiny_lm):
    assert prefix_window(tiny_lm, "x = 1\n", 100) == "x = 1\n"
    assert prefix_window(tiny_lm, "x = 1\n", 0) == ""


def test_suffix_window_keeps_the_first_lines(tiny_lm):
    suffix = "".join(f"y{i} = {i}\n" for i in range(100))
    window = suffix_window(tiny_lm, suffix, 30)
    assert suffix.startswith(window) and len(tiny_lm.encode(window)) <= 30


def test_fim_prompt_layout_and_healing(tiny_lm):
    text = "def add(a, b):\n    ret\n    return a + b\n"
    offset = text.index("ret\n") + 3
    prompt = build_prompt(tiny_lm, text, offset, 16)
    fim = tiny_lm.fim
    assert prompt.fim and prompt.ids[0] == fim.prefix and prompt.ids[-1] == fim.middle
    assert fim.suffix in prompt.ids
    assert prompt.removed_text and text[:offset].endswith(prompt.removed_text)
    assert prompt.prefix_text + prompt.removed_text == text[:offset]
    plain = build_prompt(tiny_lm, text, offset, 16, use_fim=False, heal=False)
    assert not plain.fim and plain.removed_text == ""
    assert tiny_lm.table.decode(plain.ids) == text[:offset]


def test_spm_prompt_puts_the_suffix_first_and_ends_with_the_healed_prefix(tiny_lm):
    import dataclasses

    spm = dataclasses.replace(tiny_lm, fim_mode="spm")
    text = "def add(a, b):\n    ret\n    return a + b\n"
    offset = text.index("ret\n") + 3
    psm = build_prompt(tiny_lm, text, offset, 16)
    prompt = build_prompt(spm, text, offset, 16)
    fim = tiny_lm.fim
    assert prompt.fim and prompt.ids[:2] == [fim.prefix, fim.suffix]
    middle = prompt.ids.index(fim.middle)
    # suffix between the sentinels, then the (healed) prefix: the draft continues it
    assert prompt.ids[2:middle] == psm.ids[psm.ids.index(fim.suffix) + 1 : -1]
    assert tiny_lm.table.decode(prompt.ids[middle + 1 :]) == prompt.prefix_text
    assert prompt.removed_text == psm.removed_text and prompt.removed_text
    assert sorted(prompt.ids) == sorted(psm.ids)


@pytest.mark.parametrize("budget", [1, 3, 8, 20, 60, 500])
def test_suffix_window_is_the_longest_run_of_whole_lines_that_fits(tiny_lm, budget):
    suffix = ")\n    return total\n\n\ndef other(x):\n    return x * 2  # é🙂\nlast = other(3)"
    window = suffix_window(tiny_lm, suffix, budget)
    assert suffix.startswith(window)
    assert window == suffix or window == "" or window.endswith("\n")
    assert len(tiny_lm.encode(window)) <= budget
    # the next whole line (or the rest) would not fit
    longer = [i + 1 for i, ch in enumerate(suffix) if ch == "\n" and i + 1 > len(window)]
    longer.append(len(suffix))
    if window != suffix:
        assert len(tiny_lm.encode(suffix[: longer[0]])) > budget


def test_consecutive_keystrokes_share_their_prompt(tiny_lm):
    from models.prompt_cache import common_prefix

    text = SOURCE + "        total = value_1 + value_2 + value_3 + value_4 + value_5\n"
    end = len(text) - 1
    suffix = "\n        return total\n"
    prompts = []
    for cut in range(end - 50, end):  # the last line typed one key at a time
        doc = text[:cut] + suffix
        prompts.append(build_prompt(tiny_lm, doc, cut, 8, max_prompt_tokens=400, heal=False).ids)
    shared = [common_prefix(a, b) / len(b) for a, b in zip(prompts, prompts[1:], strict=False)]
    # most keystrokes only append to the prompt; the window moves now and then
    assert sum(share > 0.9 for share in shared) >= 0.8 * len(shared)
    assert all(len(ids) <= 401 for ids in prompts)


def test_the_prefix_window_keeps_its_start_on_a_grid(tiny_lm):
    from lsp_server.prompt import WINDOW_QUANTUM

    ends = range(len(SOURCE) - 300, len(SOURCE))
    windows = [prefix_window(tiny_lm, SOURCE[:n], 400) for n in ends]
    starts = [n - len(w) for n, w in zip(ends, windows, strict=True)]
    assert all(start % WINDOW_QUANTUM < 40 for start in starts)  # the first line on the grid
    lines = {SOURCE.rfind("\n", 0, n - 1) for n in ends}  # one step per line without a grid
    assert len(set(starts)) < len(lines) / 1.5
    assert all(len(tiny_lm.encode(w)) <= 400 for w in windows)


def test_keystrokes_reuse_remembered_tokenisations_and_build_the_same_prompts(tiny_lm):
    import dataclasses

    class CountingTokenizer:
        """The model's tokenizer, counting the texts it is asked to tokenise."""

        def __init__(self, inner):
            self.inner, self.texts = inner, []

        def __call__(self, text, **kwargs):
            self.texts.append(text)
            return self.inner(text, **kwargs)

        def __getattr__(self, name):
            return getattr(self.inner, name)

    counting = CountingTokenizer(tiny_lm.tokenizer)
    lm = dataclasses.replace(tiny_lm, tokenizer=counting)
    suffix = "\n        return total\n" + BODY
    text = SOURCE + "        total = value_1 + value_2"
    for typed in ("", " +", " + v"):  # one key after another, the suffix unchanged
        doc = text + typed + suffix
        offset = len(text + typed)
        before = len(counting.texts)
        prompt = build_prompt(lm, doc, offset, 8, max_prompt_tokens=200)
        # what a tokenizer without the memo builds
        assert prompt == build_prompt(tiny_lm, doc, offset, 8, max_prompt_tokens=200)
        asked = counting.texts[before:]
        assert len(asked) == len(set(asked))  # no text tokenised twice in a request
        asked_suffix = any(t and suffix.startswith(t) for t in asked)
        # the suffix window is tokenised for the first keystroke only (FIM prompt)
        assert prompt.fim and prompt.suffix_tokens > 0 and asked_suffix == (typed == "")

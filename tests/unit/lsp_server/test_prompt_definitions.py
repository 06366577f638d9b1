"""Referenced definitions in the prompt (issue 14, item 5): placed in front of the prefix
window within their share of the budget, never repeating what the windows show, and the
same tokens while a person types in one statement (the KV-cache reuse needs them)."""

from __future__ import annotations

import dataclasses

import pytest

from analysis.definitions import Definition, clear_cache, referenced_definitions
from analysis.document import Document
from lsp_server.pipeline import CompletionPipeline, PipelineOptions
from lsp_server.prompt import (
    DEFINITIONS_SHARE,
    STABLE_SHARE,
    build_prompt,
    definitions_block,
)
from lsp_server.settings import Settings, merge_settings

FILLER = "".join(f"    value_{i} = compute({i})\n" for i in range(120))
SOURCE = (
    "class Circle:\n"
    "    def __init__(self):\n"
    "        self.r = 1\n\n"
    "    def area(self):\n"
    "        return 3.14 * self.r * self.r\n\n\n"
    "def filler():\n" + FILLER + "\n\n"
    "def total(shapes: list[Circle]):\n"
    "    result = 0\n"
    "    for shape in shapes:\n"
    "        result += shape.\n"
    "    return result\n"
)
CURSOR = SOURCE.index("result += shape.") + len("result += shape.")


@pytest.fixture(autouse=True)
def cold():
    clear_cache()


def source(doc: Document, offset: int, calls: list | None = None):
    """The pipeline's kind of source: the real analysis, given what the windows show."""

    def find(start: int, end: int) -> list[Definition]:
        if calls is not None:
            calls.append((start, end))
        return referenced_definitions(doc, offset, None, (start, end))

    return find


def test_definitions_go_in_front_of_the_prefix_within_their_share(tiny_lm):
    spm = dataclasses.replace(tiny_lm, fim_mode="spm")
    doc = Document("file:///tmp/shapes.py", SOURCE, "python")
    calls: list[tuple[int, int]] = []
    prompt = build_prompt(spm, SOURCE, CURSOR, 16, definitions=source(doc, CURSOR, calls))
    plain = build_prompt(spm, SOURCE, CURSOR, 16)
    assert prompt.definitions_text.startswith("class Circle:\n    def __init__(self)")
    budget = tiny_lm.context_length - 16 - 4
    share = int((budget - prompt.suffix_tokens) * DEFINITIONS_SHARE)
    assert 0 < prompt.definitions_tokens <= share
    assert len(prompt.ids) <= budget + 3  # + the three FIM sentinels
    # SPM: suffix, middle sentinel, the definitions, then the prefix the draft continues
    middle = prompt.ids.index(tiny_lm.fim.middle)
    block = prompt.ids[middle + 1 : middle + 1 + prompt.definitions_tokens]
    assert tiny_lm.table.decode(block) == prompt.definitions_text
    assert tiny_lm.table.decode(prompt.ids[middle + 1 + len(block) :]) == prompt.prefix_text
    assert prompt.ids[: middle + 1] == plain.ids[: plain.ids.index(tiny_lm.fim.middle) + 1]
    # the window gave up tokens for the block, and the class was out of its sight
    assert len(prompt.prefix_text) < len(plain.prefix_text)
    start, end = calls[0]
    assert start > SOURCE.index("def area") and end >= CURSOR
    # PSM and prefix-only prompts put the block first too
    psm = build_prompt(tiny_lm, SOURCE, CURSOR, 16, definitions=source(doc, CURSOR))
    assert psm.ids[1 : 1 + psm.definitions_tokens] == block
    bare = build_prompt(tiny_lm, SOURCE, CURSOR, 16, use_fim=False, definitions=source(doc, CURSOR))
    assert tiny_lm.table.decode(bare.ids) == bare.definitions_text + bare.prefix_text


def test_nothing_to_add_leaves_the_prompt_as_it_was(tiny_lm):
    short = "class A:\n    def m(self):\n        return 1\n\n\ndef f(a: A):\n    a.\n"
    offset = len(short) - 1
    doc = Document("file:///tmp/short.py", short, "python")
    found = build_prompt(tiny_lm, short, offset, 16, definitions=source(doc, offset))
    assert found.definitions_tokens == 0  # A is in the window already
    assert found.ids == build_prompt(tiny_lm, short, offset, 16).ids


def test_the_function_part_does_not_depend_on_the_statement(tiny_lm):
    function = [Definition(f"f{i}", f"def helper_{i}(x, y): ...\n", 2, "file") for i in range(3)]
    receiver_a = Definition("a", "class Alpha:\n    def one(self): ...\n", 0, "file")
    receiver_b = Definition("b", "class Beta:\n    def two(self): ...\n", 0, "file")
    budget = 80
    first = definitions_block(tiny_lm, [receiver_a, *function], budget)
    second = definitions_block(tiny_lm, [receiver_b, *function], budget)
    stable = first.split("class Alpha")[0]
    assert stable and second.startswith(stable)  # same leading tokens
    assert first.rstrip().endswith("def one(self): ...")  # the receiver sits next to the code
    assert len(tiny_lm.encode(stable)) <= int(budget * STABLE_SHARE)
    for block in (first, second):
        assert len(tiny_lm.encode(block)) <= budget
    # a summary that does not fit whole is cut after whole lines (header kept)
    big = Definition("big", "class Big:\n" + "".join(f"    x_{i} = 1\n" for i in range(40)), 0, "f")
    cut = definitions_block(tiny_lm, [big], 40)
    assert cut.startswith("class Big:\n    x_0 = 1\n") and len(tiny_lm.encode(cut)) <= 40


def test_typing_in_a_statement_keeps_the_definitions_tokens(tiny_lm):
    spm = dataclasses.replace(tiny_lm, fim_mode="spm")
    text = SOURCE.replace("        result += shape.\n", "        result += \n")
    start = text.index("result += ") + len("result += ")
    doc = Document("file:///tmp/shapes.py", text, "python")
    heads = []
    for index, char in enumerate("result * 2 + 1"):
        doc.apply_change(start + index, start + index, char)
        offset = start + index + 1
        prompt = build_prompt(spm, doc.text, offset, 16, definitions=source(doc, offset))
        middle = prompt.ids.index(tiny_lm.fim.middle)
        heads.append(prompt.ids[: middle + 1 + prompt.definitions_tokens])
    assert heads[0][-1] != tiny_lm.fim.middle  # there is a block
    assert all(head == heads[0] for head in heads)


def test_the_setting_and_the_pipeline_flag(tiny_lm):
    settings, messages = merge_settings(Settings(), {"contextDefinitions": False})
    assert messages == [] and settings.contextDefinitions is False
    assert PipelineOptions.for_request(settings).definitions is False
    assert PipelineOptions.for_request(Settings()).definitions is Settings.contextDefinitions
    kept, messages = merge_settings(Settings(), {"contextDefinitions": "yes"})
    assert kept.contextDefinitions is Settings.contextDefinitions and messages
    pipeline = CompletionPipeline(tiny_lm)
    doc = Document("file:///tmp/shapes.py", SOURCE, "python")
    options = PipelineOptions(k=1, decoder="greedy", max_new_tokens=4, multiline="never")
    on = pipeline.run(doc, CURSOR, dataclasses.replace(options, definitions=True))
    off = pipeline.run(doc, CURSOR, dataclasses.replace(options, definitions=False))
    assert "class Circle:" in on.prompt.definitions_text and "definitions_ms" in on.timings
    assert off.prompt.definitions_tokens == 0 and "definitions_ms" not in off.timings

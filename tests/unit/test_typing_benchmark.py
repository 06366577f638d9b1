"""The simulated user of the typing benchmark: cases, keys, accept rules, wrong ghost texts."""

from __future__ import annotations

import pytest

from benchmarks.typing import (
    Client,
    Ghost,
    Pace,
    Segment,
    auto_indent,
    enter_keys,
    function_bodies,
    half_files,
    inline_ghost,
    markdown,
    popup_ghost,
    profile_markdown,
    sample_segments,
    type_segment,
    typing_keys,
    user_action,
    word_chunks,
)

SOURCE = '''"""Module."""


def area(shape, scale=1.0):
    width = shape.width * scale
    height = shape.height * scale
    if width > height:
        return width * height
    return height * width


class Box:
    def volume(self):
        total = self.a * self.b
        total = total * self.c
        return total
'''


def test_segments_lie_in_function_bodies_and_rebuild_the_file():
    bodies = function_bodies(SOURCE)
    assert (4, 8) in bodies and (13, 15) in bodies
    segments = sample_segments([("m.py", SOURCE)], n=10, seed=1)
    assert segments and len(segments) <= 4  # non-overlapping 3-line windows
    for seg in segments:
        assert seg.document[: seg.offset] + seg.target + seg.document[seg.offset :] == SOURCE
        assert seg.target.count("\n") == 2 and not seg.target[0].isspace()
    assert sample_segments([("m.py", SOURCE)], n=10, seed=1) == segments
    assert sample_segments([("bad.py", "def (:\n")], n=3, seed=0) == []


def test_enter_brings_the_editors_indentation():
    assert auto_indent("    if width > height:") == 8
    assert auto_indent("    x = f(") == 8
    assert auto_indent("        return width  # done") == 4
    assert auto_indent("    y = 2") == 4
    assert enter_keys("    y = 2", 4) == 1  # auto-indent was right
    assert enter_keys("        return x", 4) == 1
    assert enter_keys("    y = 2", 0) == 2  # one dedent key
    assert enter_keys("    y = 2", 12) == 3


def test_keys_without_help_count_characters_and_enter_with_indentation():
    doc = "def f():\n    \n"
    seg = Segment("x", doc, 13, "a = 1\n    b = 2")
    assert typing_keys(seg) == len("a = 1") + 1 + len("b = 2")
    seg = Segment("x", doc, 13, "if a:\n        b = 2")
    assert typing_keys(seg) == len("if a:") + 1 + len("b = 2")
    seg = Segment("x", doc, 13, "if a:\n    b = 2")
    assert typing_keys(seg) == len("if a:") + 2 + len("b = 2")  # Enter + one dedent


def test_accept_next_word_boundaries():
    assert word_chunks("foo.bar(x)") == ["foo", ".bar", "(x", ")"]
    assert word_chunks(" = compute(a, b)") == [" =", " compute", "(a", ",", " b", ")"]


def test_the_user_accepts_only_what_they_were_about_to_type():
    target = "value = compute(x)"
    exact = Ghost("alue = compute(x)", 1)
    assert user_action(exact, target, 1, "\n", "tab", "") == ("accept", exact.text, 1)
    longer = Ghost("alue = compute(x) + 1", 1)
    assert user_action(longer, target, 1, "\n", "tab", "")[0] == "type"
    part = Ghost("alue = compute(y)", 1)
    assert user_action(part, target, 1, "\n", "tab", "") == ("type", "a", 1)
    assert user_action(part, target, 1, "\n", "word", "") == ("word", "alue", 1)
    one = Ghost("e", 1)  # Tab would save nothing
    assert user_action(one, "ve", 1, "\n", "tab", "") == ("type", "e", 1)
    # a suggestion overwriting the auto-closed ")" after the cursor
    closing = Ghost("x)", 1, replace=1)
    assert user_action(closing, "f(x", 2, ")\n", "tab", "")[0] == "type"  # only 1 char typed
    closing = Ghost("xy)", 1, replace=1)
    assert user_action(closing, "f(xy", 2, ")\n", "tab", "") == ("accept", "xy", 1)


class ScriptedClient(Client):
    """Shows a fixed suggestion whenever the typed text ends with a given prefix."""

    def __init__(self, script: dict[str, str]) -> None:
        self.script = script
        self.version = 0
        self.requests = []
        self.sent: list[tuple[int, str]] = []
        self._last = None

    def open(self, uri, text):
        self.sent.clear()

    def close(self, uri):
        pass

    def change(self, uri, text, offset, inserted, replace=0):
        self.sent.append((offset, inserted))

    def key_pressed(self, uri, text, offset, typed):
        self._last = text[:offset]

    def visible(self, text, offset, deadline):
        for ending, ghost in self.script.items():
            if self._last is not None and self._last.endswith(ending):
                self._last = None
                return Ghost(ghost, hash((ending, ghost)))
        return None


def test_a_right_ghost_text_is_accepted_and_a_wrong_one_counted_once():
    doc = "def f(x):\n    \n    return value\n"
    seg = Segment("s", doc, 14, "value = compute(x)")
    unpaced = Pace(paced=False)
    client = ScriptedClient({"v": "alue = compute(x)"})
    result = type_segment(seg, client, "tab", unpaced, "file:///a.py")
    assert (result.keys, result.accepts, result.wrong) == (2, 1, 0)
    assert result.keys_without_help == len("value = compute(x)")
    client = ScriptedClient({"v": "alid = 1"})  # typed through "a", "l", then contradicted
    result = type_segment(seg, client, "tab", unpaced, "file:///a.py")
    assert (result.keys, result.accepts, result.wrong) == (18, 0, 1)
    kinds = [e[0] for e in result.events]
    assert kinds == ["type"] * 18
    assert result.events[2][2] == "lid = 1"  # shown shortened while typed through
    client = ScriptedClient({"v": "alue = compute(y)"})
    result = type_segment(seg, client, "word", unpaced, "file:///a.py")
    # word accepts while the words match: "alue", " =", " compute", "(" typed by hand
    assert [e[0] for e in result.events][:4] == ["type", "word", "word", "word"]
    assert result.word_accepts == 3 and result.wrong == 1


def test_inline_items_and_popup_items_become_what_the_editor_shows():
    text = "x = obj.na\n"
    result = {
        "items": [
            {
                "insertText": "name()",
                "range": {
                    "start": {"line": 0, "character": 10},
                    "end": {"line": 0, "character": 10},
                },
            }
        ]
    }
    assert inline_ghost(result, text, 10, 7) == Ghost("name()", 7)
    replacing = {
        "items": [
            {
                "insertText": "name",
                "range": {
                    "start": {"line": 0, "character": 8},
                    "end": {"line": 0, "character": 10},
                },
            }
        ]
    }
    assert inline_ghost(replacing, text, 10, 7) == Ghost("me", 7)  # "na" already typed
    assert inline_ghost({"items": []}, text, 10, 7) is None
    items = [
        {"label": "names", "sortText": "b"},
        {"label": "name", "sortText": "a"},
        {"label": "other", "sortText": "0"},
    ]
    assert popup_ghost(items, "na", 3) == Ghost("me", 3)  # filtered by prefix, then sortText
    assert popup_ghost(items, "zz", 3) is None


def test_the_profile_section_shows_each_configurations_stage_shares():
    runs = {
        "superpose-ls": {
            "server_profile_ms": {
                "automatic": {"requests": 4, "mean_ms": {"prompt": 5.0, "model forward": 15.0}}
            }
        },
        "jedi-language-server": {"server_profile_ms": None},
        "superpose-ls, no monitor": {"server_profile_ms": {"invoked": {"requests": 1}}},
    }
    text = profile_markdown({"runs": runs})
    rows = [line for line in text.splitlines() if line.startswith("| superpose")]
    assert rows == ["| superpose-ls | 4 | 5.0 (25 %) | 15.0 (75 %) | 20.0 |"]
    assert profile_markdown({"runs": {"jedi-language-server": {}}}) == ""


def test_unpaced_configurations_keep_their_options_and_are_named_so():
    from benchmarks.typing import ABLATIONS, SIZES, run_configs, unpaced_configs

    configs = unpaced_configs(run_configs(SIZES["full"], jedi=True))
    names = [c.name for c in configs]
    assert len(names) == len(set(names)) and all(n.endswith(", unpaced") for n in names)
    assert not any(c.paced for c in configs)
    monitor_off = next(c for c in configs if c.name == "superpose-ls, no monitor, unpaced")
    assert monitor_off.options == ABLATIONS["no monitor"]
    assert "jedi-language-server, unpaced" in names  # already unpaced: kept once


def test_either_half_of_the_held_out_files_can_be_typed(tmp_path):
    from benchmarks.common import heldout_halves
    from models.corpus import CorpusFile

    files = [CorpusFile(f"pkg/mod{i}.py", tmp_path / f"m{i}.py") for i in range(20)]
    calibration, evaluation = heldout_halves(files)
    assert half_files(files, "typing") == evaluation  # the default: never calibrated on
    assert half_files(files, "calibration") == calibration
    with pytest.raises(ValueError, match="half must be one of"):
        half_files(files, "both")
    data = {"mode": "quick", "model": "m", "seed": 7, "half": "calibration", "runs": {}}
    data |= {"cases": [], "pace": {"word_ms": 150.0, "pause_ms": 450.0}}
    assert "held-out code (the calibration half)" in markdown(data)

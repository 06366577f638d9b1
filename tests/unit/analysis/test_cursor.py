"""Cursor facts: the word being typed, member access, prose, names near the cursor."""

from __future__ import annotations

from analysis.cursor import cursor_facts
from analysis.document import Document

SOURCE = """import os

counter_total = 0


def bump(step):
    global counter_total
    counter_total += step
    return os.path.join("a", "b")
"""


def facts_at(text: str, marker: str, language: str = "python"):
    offset = text.rindex(marker) + len(marker)
    return cursor_facts(Document("file:///f.py", text, language), offset)


def test_the_word_being_typed_and_member_access():
    text = SOURCE + "value = counter_to\n"
    facts = facts_at(text, "value = counter_to")
    assert (facts.word, facts.mid_word, facts.after_dot) == ("counter_to", True, False)
    dot = facts_at(SOURCE + "x = os.pa\n", "x = os.pa")
    assert (dot.word, dot.after_dot) == ("pa", True)
    empty = facts_at(SOURCE + "x = os.\n", "x = os.")
    assert (empty.word, empty.mid_word, empty.after_dot) == ("", False, True)
    number = facts_at(SOURCE + "x = 12\n", "x = 12")
    assert number.word == "" and not number.mid_word
    assert not facts_at(SOURCE, "counter_total = ").mid_word


def test_prose_is_not_code():
    facts = facts_at(SOURCE + 'msg = "see os.pa\n', "see os.pa")
    assert facts.prose and not facts.after_dot
    comment = facts_at(SOURCE + "# bump the counter_to\n", "counter_to")
    assert comment.prose


def test_names_near_the_cursor_exclude_the_word_being_typed():
    text = SOURCE + "value = counter_to\nother = zeta_name\n"
    names = facts_at(text, "value = counter_to").nearby_identifiers()
    assert {"counter_total", "bump", "step", "os", "zeta_name", "len", "return"} <= names
    assert "counter_to" not in names
    inside = facts_at(SOURCE + "x = counter_tot\n", "x = counter_t")  # cursor inside a word
    assert "counter_tot" not in inside.nearby_identifiers()
    js = facts_at("let alpha = 1;\nalp", "alp", "javascript").nearby_identifiers()
    assert "alpha" in js and "len" not in js  # Python builtins only for Python


def test_uris_become_paths_in_one_place():
    from analysis.context import document_path
    from analysis.languages import SOURCE_SUFFIXES, path_of_uri
    from lsp_server.engine import uri_to_path

    assert path_of_uri("file:///home/me/my%20project/a.py") == "/home/me/my project/a.py"
    assert path_of_uri("/plain/path.py") == "/plain/path.py"
    assert path_of_uri("untitled:Untitled-1") is None and path_of_uri("") is None
    assert str(document_path("file:///x/%C3%A9.py")) == "/x/é.py"
    assert uri_to_path("file:///x/y.py") == "/x/y.py"
    assert {".py", ".ts", ".tsx", ".mjs"} <= SOURCE_SUFFIXES

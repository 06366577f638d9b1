"""The metric helpers shared by the benchmark scripts (benchmarks/common.py)."""

from __future__ import annotations

import pytest

from benchmarks.common import (
    KINDS,
    edit_similarity,
    exact_match,
    first_identifier,
    levenshtein,
    markdown_table,
    percentiles,
    rate,
    sample_line_cases,
)


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("", "", 0),
        ("abc", "", 3),
        ("", "abc", 3),
        ("kitten", "sitting", 3),
        ("flaw", "lawn", 2),
        ("self.x", "self.x", 0),
        ("ab", "ba", 2),
        ("é🙂", "e🙂", 1),  # code points, not bytes
    ],
)
def test_levenshtein_known_distances(a: str, b: str, distance: int) -> None:
    assert levenshtein(a, b) == distance
    assert levenshtein(b, a) == distance


def test_edit_similarity_is_one_minus_normalised_distance() -> None:
    assert edit_similarity("kitten", "sitting") == pytest.approx(1 - 3 / 7)
    assert edit_similarity("return x", "return x") == 1.0
    assert edit_similarity("abc", "xyz") == 0.0
    assert edit_similarity("", "") == 1.0
    assert edit_similarity("", "abc") == 0.0
    # trailing whitespace is ignored, leading whitespace is not
    assert edit_similarity("foo()  \n", "foo()") == 1.0
    assert edit_similarity("  foo", "foo") == pytest.approx(1 - 2 / 5)


def test_exact_match_ignores_only_trailing_whitespace() -> None:
    assert exact_match("x = 1  ", "x = 1")
    assert exact_match("\n    return x", "\n    return x\n")
    assert not exact_match("  x = 1", "x = 1")  # indentation counts
    assert not exact_match("x = 1", "x = 12")
    assert exact_match("", "   ")


def test_first_identifier() -> None:
    assert first_identifier("get(key)") == "get"
    assert first_identifier("_private.x") == "_private"
    assert first_identifier("ünïcode_1 + 2") == "ünïcode_1"
    assert first_identifier("1abc") == ""
    assert first_identifier(" name") == ""
    assert first_identifier("") == ""


def test_percentiles_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    out = percentiles(values, (50, 95, 99))
    assert out["count"] == 100
    assert out["mean"] == 50.5
    assert (out["p50"], out["p95"], out["p99"]) == (50.0, 95.0, 99.0)
    assert percentiles([3.0, 1.0, 2.0], (50, 99)) == {
        "count": 3,
        "mean": 2.0,
        "p50": 2.0,
        "p99": 3.0,
    }
    assert percentiles([7.0], (50,))["p50"] == 7.0
    assert percentiles([]) == {"count": 0}


def test_rate() -> None:
    assert rate([True, False, True, True]) == 0.75
    assert rate([0.5, 1.0]) == 0.75
    assert rate([]) is None


def test_markdown_table_formats_cells() -> None:
    table = markdown_table(["name", "score", "missing"], [["a|b", 0.12345, None], ["c", 3, "x"]])
    assert table.splitlines() == [
        "| name | score | missing |",
        "|---|---|---|",
        "| a\\|b | 0.123 | – |",
        "| c | 3 | x |",
    ]


SOURCE = "\n".join(
    [
        "import os",
        "",
        "def render(shape, scale=1.0):",
        '    name = shape.describe("full")',
        "    if shape.area() > scale:",
        "        print(name, shape.area())",
        "    values = [shape.width, shape.height]",
        "    return os.path.join(name, str(values[0]))",
    ]
    * 4
)


def test_line_cases_cut_exactly_the_target_out_of_the_source() -> None:
    cases = sample_line_cases([("shapes.py", SOURCE)], 60, seed=3, min_lines=5)
    assert len(cases) == 60
    assert [c.kind for c in cases[:6]] == list(KINDS) * 2
    for case in cases:
        # the document is the source with the target cut out at the cursor
        assert case.document[: case.offset] + case.target + case.document[case.offset :] == SOURCE
        assert "\n" not in case.target_line and case.target_line.strip()
        after = case.document[case.offset :]
        if case.kind == "eol":
            assert after.startswith("\n") and not case.line_suffix
        elif case.kind == "mid":
            # the closers that end the line stay after the cursor
            assert case.line_suffix and after.split("\n", 1)[0] == case.line_suffix
            assert set(case.line_suffix) <= set(")]}'\":")
        else:
            assert case.target.startswith("\n") and not case.mid_word


def test_mid_line_cases_need_closers_at_the_line_end() -> None:
    text = "x = 1\n" * 30
    cases = sample_line_cases([("plain.py", text)], 9, seed=0, min_lines=5)
    assert cases and all(c.kind != "mid" for c in cases)


def test_line_cases_are_reproducible_from_the_seed() -> None:
    first = sample_line_cases([("shapes.py", SOURCE)], 12, seed=7, min_lines=5)
    again = sample_line_cases([("shapes.py", SOURCE)], 12, seed=7, min_lines=5)
    other = sample_line_cases([("shapes.py", SOURCE)], 12, seed=8, min_lines=5)
    assert first == again
    assert first != other

"""The metric helpers shared by the benchmark scripts (benchmarks/common.py)."""

from __future__ import annotations

import pytest

from benchmarks.common import (
    edit_similarity,
    exact_match,
    first_identifier,
    levenshtein,
    markdown_table,
    percentiles,
    rate,
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

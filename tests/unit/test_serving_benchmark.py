"""benchmarks/serving.py: capacity at equal p95, the report's parts, and one small real run."""

from __future__ import annotations

import pytest

from benchmarks import serving


def _level(config: str, clients: int, p95: float, rate: float = 1.0) -> dict:
    return {
        "config": config,
        "clients": clients,
        "completions": 3 * clients,
        "completions_per_s": rate,
        "p50_ms": p95 / 2,
        "p95_ms": p95,
        "mean_batch_rows": 1.0,
        "forward_calls_per_s": 10.0,
        "tokens_per_s": 40.0,
        "wall_s": 1.0,
    }


def test_capacity_interpolates_between_grid_points_in_log_space():
    levels = [_level("superposed", c, p) for c, p in ((1, 100), (2, 200), (4, 800))]
    assert serving.capacity(levels, "superposed", 100) == 1.0
    assert serving.capacity(levels, "superposed", 400) == pytest.approx(2**1.5)
    assert serving.capacity(levels, "superposed", 50) is None  # not even one client
    assert serving.capacity(levels, "superposed", 5000) == 4.0  # met at the largest C
    noisy = [_level("k-sample", c, p) for c, p in ((1, 100), (2, 900), (4, 300), (8, 2000))]
    assert serving.capacity(noisy, "k-sample", 500) > 4.0  # the largest C meeting it counts


def test_the_capacity_ratio_compares_configurations_at_equal_p95():
    levels = []
    for c, p in ((1, 100), (2, 150), (4, 300), (8, 1200)):
        levels.append(_level("superposed", c, p))
    for c, p in ((1, 150), (2, 300), (4, 1000), (8, 3000)):
        levels.append(_level("k-sample", c, p))
    for c, p in ((1, 120), (2, 400), (4, 2000), (8, 5000)):
        levels.append(_level("sequential", c, p))
    caps = {c["p95_ms"]: c for c in serving.capacities(levels)}
    at_1s = caps[1000.0]
    assert at_1s["clients"]["k-sample"] == 4.0
    assert at_1s["ratio_k_sample"] == pytest.approx(at_1s["clients"]["superposed"] / 4.0)
    assert at_1s["ratio_k_sample"] > 1.0
    result = {"levels": levels, "capacity": serving.capacities(levels), "k": 4}
    rows = serving.rows(result)
    assert rows[0].target is serving.CAPACITY and rows[0].met is True
    assert rows[0].measured == pytest.approx(caps[250.0]["ratio_k_sample"])  # first measured
    assert "p95 <= 250 ms" in rows[0].value
    text = serving.markdown(result)
    assert "| 8 | k-sample |" in text and "| 1000 ms |" in text


def test_the_plugin_keeps_the_contract():
    assert serving.PLUGIN.check() == []
    assert serving.PLUGIN.runs_in("full") and not serving.PLUGIN.runs_in("smoke")


def test_a_small_run_measures_every_configuration(tmp_path):
    result = serving.run(
        "smoke",
        "default",
        tmp_path,
        concurrency=(1, 2),
        per_client=1,
        max_new_tokens=4,
        min_completions=1,
    )
    assert {(r["config"], r["clients"]) for r in result["levels"]} == {
        (c, n) for c in serving.CONFIGS for n in (1, 2)
    }
    for level in result["levels"]:
        assert level["completions"] == level["clients"]
        assert level["p95_ms"] >= level["p50_ms"] > 0
    by = {(r["config"], r["clients"]): r for r in result["levels"]}
    assert by[("sequential", 2)]["mean_batch_rows"] == 1.0
    assert by[("k-sample", 1)]["mean_batch_rows"] > by[("superposed", 1)]["mean_batch_rows"]
    assert (tmp_path / "serving.json").is_file() and (tmp_path / "serving.md").is_file()

"""benchmarks/model_families.py on a tiny saved model: the worker's measurements and the report."""

from __future__ import annotations

import pytest
from model_families_testing import family_lm

from benchmarks import model_families as bench


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    lm = family_lm("qwen2")
    directory = tmp_path_factory.mktemp("qwen2")
    lm.model.save_pretrained(str(directory), safe_serialization=True)
    lm.tokenizer.save_pretrained(str(directory))
    return directory


def test_worker_measures_fp32_then_int8_agreement_against_it(saved, monkeypatch, tmp_path):
    monkeypatch.setenv("SUPERPOSE_CACHE_DIR", str(tmp_path))
    fp32 = bench.measure_model(saved, "fp32", 6, "cpu", None)
    assert fp32["parameters"] == family_lm("qwen2").parameter_count()
    for key in ("load_s", "rss_mib", "prefill_ms", "ms_per_token", "automatic_p50_ms"):
        assert fp32[key] > 0, key
    half = 0.00005  # seconds are recorded to 0.1 ms, ratios to 0.01: the ratio lies in these bounds
    greedy = fp32["greedy_s"]
    for name in ("superposed_k4", "beam_k4", "sampling_k4"):
        seconds = fp32[f"{name}_s"]
        low = (seconds - half) / (greedy + half) - 0.005
        high = (seconds + half) / max(greedy - half, 1e-9) + 0.005
        assert low <= fp32[f"{name}_vs_greedy"] <= high, name
    reference = saved / "argmax-cpu.npy"
    assert reference.is_file()
    int8 = bench.measure_model(saved, "int8", 6, "cpu", reference)
    assert 0.5 <= int8["agreement_vs_fp32"] <= 1.0
    assert int8["speedup_vs_fp32_paired"] > 0  # timed in alternation with a float32 copy
    same = bench.measure_model(saved, "fp32", 6, "cpu", reference)
    assert same["agreement_vs_fp32"] == 1.0  # the same weights agree everywhere


def test_report_shows_speedups_and_vocabulary_costs():
    rows = [
        {"model": "m", "variant": "fp32", "parameters": 135e6, "vocab": 49152, "load_s": 1.0,
         "rss_mib": 600.0, "prefill_ms": 80.0, "ms_per_token": 20.0,
         "superposed_k4_vs_greedy": 1.1, "beam_k4_vs_greedy": 2.5, "sampling_k4_vs_greedy": 2.0,
         "automatic_p50_ms": 300.0, "invoked_k4_p50_ms": 700.0},
        {"model": "m", "variant": "int8", "ms_per_token": 10.0, "agreement_vs_fp32": 0.9,
         "rss_mib": 300.0},
        {"model": "m", "variant": "bf16", "error": ["boom"]},
    ]  # fmt: skip
    vocab = [{"model": "m", "vocab": 49152, "table_build_s": 1.0, "index_build_s": 2.0,
              "cached_table_s": 0.1, "cached_index_s": 0.2, "monitor_constrained_p50_ms": 0.3,
              "penalty_p50_ms": 0.2}]  # fmt: skip
    result = {"models": rows, "vocabularies": vocab, "tokens": 32, "command": "cmd",
              "machine": {"cpu": "x", "usable_cores": 2, "torch": "t", "transformers": "v"}}  # fmt: skip
    text = bench.markdown(result)
    assert bench._speedup(rows, "m", "int8") == 2.0
    assert bench._speedup(rows, "m", "bf16") is None  # its worker failed
    line = next(ln for ln in text.splitlines() if ln.startswith("| m | 135 M"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[6] == "20.000" and cells[14] == "2.000" and cells[15] == "0.900"
    assert "| m | 49152 | 3.000 |" in text and "Errors: m: ['boom']" in text


def test_unknown_shapes_are_a_usage_error(capsys):
    assert bench.main(["--shapes", "gpt-5"]) == 2
    assert "unknown shapes" in capsys.readouterr().err

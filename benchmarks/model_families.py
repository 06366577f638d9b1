"""Realistic model sizes on this CPU: random-weight replicas of real shapes (issue 18).

No weights can be downloaded, but architectures, tokenizers and latency do not need
trained weights. This benchmark builds, from nothing but local files,

* byte-level BPE tokenizers of the real vocabulary sizes (49,152 like SmolLM2 /
  StarCoder, 151,646 like Qwen2.5-Coder, 32,000 like DeepSeek-Coder), trained with
  ``tokenizers`` on the Python sources installed on this machine (stdlib and
  site-packages), with each family's FIM sentinels;
* random-weight models of the real shapes (SmolLM2-135M: Llama, 30 layers, width 576,
  GQA 9/3; Qwen2.5-Coder-0.5B: Qwen2, 24 layers, width 896, GQA 14/2, tied 151,936
  embeddings; DeepSeek-Coder-1.3B: Llama, 24 layers, width 2048), saved as bf16
  safetensors like the published checkpoints,

and measures, each model in a fresh process (so RSS is the model's): load time, RSS,
prefill and per-token latency, the wall time of k=4 superposed decoding (Shen et al.
2024) against one greedy pass, beam search (k=4) and batched nucleus sampling (k=4,
Holtzman et al. 2020), the engine's automatic (ghost-text) and invoked latency, and
the same with bfloat16 weights and with dynamic int8 linear layers (Jacob et al.
2018), whose next-token agreement with float32 is measured on held-out code. With
random weights the agreement is a lower bound on what trained models show (their
top token usually wins by a wider margin). Per vocabulary it also measures what the
monitor (Agrawal et al. 2023) and the repetition penalty (Dong et al. 2025) cost per
step, and the one-time cost of the token table, vocabulary index and n-gram tables,
which are cached on disk keyed by the tokenizer.

    python -m benchmarks.model_families --mode full --out bench-out/model-families
    python -m benchmarks.model_families --mode quick --device cuda   # on a GPU

``--model PATH`` adds a real local model directory to the measured ones.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import sysconfig
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from benchmarks.common import heldout_files, machine_info, markdown_table, write_outputs
from benchmarks.plugin import Benchmark, Row, Target
from benchmarks.plugin import row as summary_row

MIB = 1024 * 1024
CACHE = Path(os.environ.get("SUPERPOSE_BENCH_CACHE", Path.home() / ".cache" / "superpose-ls"))
FIM_SPECIALS = {
    "starcoder": ["<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"],
    "qwen": ["<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>"],
    "deepseek": [
        "<\uff5cfim\u2581begin\uff5c>",
        "<\uff5cfim\u2581hole\uff5c>",
        "<\uff5cfim\u2581end\uff5c>",
    ],
}


@dataclass(frozen=True)
class Shape:
    """A published model's architecture, rebuilt with random weights."""

    name: str
    family: str  # "llama" | "qwen2"
    config: dict[str, Any]
    tokenizer_size: int
    fim: str
    modes: tuple[str, ...]  # benchmark modes that include it


SHAPES: tuple[Shape, ...] = (
    Shape(
        "smollm2-135m",
        "llama",
        {
            "hidden_size": 576,
            "intermediate_size": 1536,
            "num_hidden_layers": 30,
            "num_attention_heads": 9,
            "num_key_value_heads": 3,
            "max_position_embeddings": 8192,
            "rope_theta": 100000.0,
            "tie_word_embeddings": True,
            "vocab_size": 49152,
        },
        49152,
        "starcoder",
        ("quick", "full"),
    ),
    Shape(
        "qwen2.5-coder-0.5b",
        "qwen2",
        {
            "hidden_size": 896,
            "intermediate_size": 4864,
            "num_hidden_layers": 24,
            "num_attention_heads": 14,
            "num_key_value_heads": 2,
            "max_position_embeddings": 32768,
            "rope_theta": 1000000.0,
            "tie_word_embeddings": True,
            "vocab_size": 151936,
        },
        151646,
        "qwen",
        ("full",),
    ),
    Shape(
        "deepseek-coder-1.3b",
        "llama",
        {
            "hidden_size": 2048,
            "intermediate_size": 5504,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "num_key_value_heads": 16,
            "max_position_embeddings": 16384,
            "rope_theta": 100000.0,
            "tie_word_embeddings": False,
            "vocab_size": 32256,
        },
        32000,
        "deepseek",
        ("full",),
    ),
)
VARIANTS = {  # name -> (dtype, quantize)
    "fp32": ("float32", "none"),
    "bf16": ("bfloat16", "none"),
    "int8": ("auto", "int8"),
}


# ------------------------------------------------------------------ building


def local_code(limit_chars: int) -> list[str]:
    """Return Python sources installed on this machine (stdlib, then site-packages)."""
    texts: list[str] = []
    total = 0
    for root in (sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["purelib"]):
        for path in sorted(Path(root).rglob("*.py")):
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError):
                continue
            texts.append(text)
            total += len(text)
            if total >= limit_chars:
                return texts
    return texts


def bench_tokenizer(size: int, fim: str, cache: Path = CACHE) -> Path:
    """Return the directory of a byte-level BPE tokenizer of ``size`` entries (cached)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    directory = cache / "bench" / f"tokenizer-bpe{size}-{fim}"
    if (directory / "tokenizer.json").is_file():
        return directory
    eos = "<\uff5cend\u2581of\u2581sentence\uff5c>" if fim == "deepseek" else "<|endoftext|>"
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=size,
        special_tokens=[eos, *FIM_SPECIALS[fim]],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # ~120 MB of local sources reach 151k merges; smaller vocabularies need less
    tok.train_from_iterator(local_code(int(size * 800)), trainer=trainer)
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=eos,
        bos_token=eos,
        additional_special_tokens=FIM_SPECIALS[fim],
    )
    wrapped.save_pretrained(str(directory))
    return directory


def build_replica(shape: Shape, cache: Path = CACHE) -> Path:
    """Return the directory of the random-weight replica of ``shape`` (bf16 safetensors)."""
    import torch
    import transformers as tf
    from transformers import AutoTokenizer

    directory = cache / "bench" / f"replica-{shape.name}"
    if (directory / "config.json").is_file() and any(directory.glob("*.safetensors")):
        return directory
    tokenizer = AutoTokenizer.from_pretrained(
        str(bench_tokenizer(shape.tokenizer_size, shape.fim, cache)), local_files_only=True
    )
    eos = tokenizer.eos_token_id
    config_class = tf.LlamaConfig if shape.family == "llama" else tf.Qwen2Config
    model_class = tf.LlamaForCausalLM if shape.family == "llama" else tf.Qwen2ForCausalLM
    config = config_class(**shape.config, eos_token_id=eos, bos_token_id=eos)
    torch.manual_seed(0)
    model = model_class(config).to(torch.bfloat16)
    model.save_pretrained(str(directory), safe_serialization=True)
    tokenizer.save_pretrained(str(directory))
    return directory


# ------------------------------------------------------------------ measuring


def rss_mib() -> float:
    import psutil

    return psutil.Process().memory_info().rss / MIB


def peak_rss_mib() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def heldout_text(chars: int) -> str:
    """Return ``chars`` characters of held-out standard-library code."""
    text = ""
    for f in heldout_files():
        text += f.read()
        if len(text) >= chars:
            break
    return text[:chars]


def timed(call: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    out = call()
    return out, time.perf_counter() - started


def measure_model(
    directory: Path,
    variant: str,
    tokens: int,
    device: str,
    reference: Path | None,
    threads: int = 0,
) -> dict[str, Any]:
    """Measure one model variant in this process (called in a fresh worker process)."""
    import numpy as np
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401 - imports not timed

    from lsp_server.engine import CompletionJob, Engine
    from lsp_server.settings import Settings
    from models.baselines import beam_decode, sampling_decode
    from models.decoding import DecodeRequest, forward, greedy_decode
    from models.hf_compat import model_forward
    from models.loader import load_model
    from models.superposed import superposed_decode

    dtype, quantize = VARIANTS[variant]
    before = rss_mib()
    lm, load_s = timed(lambda: load_model(directory, device, dtype=dtype, quantize=quantize))
    loaded = rss_mib()
    lm = replace(lm, eos_ids=frozenset())  # random weights: never stop early
    if threads:
        torch.set_num_threads(threads)
    row: dict[str, Any] = {
        "load_average_1min": round(os.getloadavg()[0], 2),
        "variant": variant,
        "parameters": lm.parameter_count(),
        "vocab": lm.vocab_size,
        "threads": torch.get_num_threads(),
        "load_s": round(load_s, 2),
        "rss_mib": round(loaded, 1),
        "rss_model_mib": round(loaded - before, 1),
    }
    text = heldout_text(6000)
    ids = lm.encode(text)
    prompt = ids[:256]
    # next-token agreement with float32 over held-out positions (one forward)
    with torch.no_grad():
        logits, _ = model_forward(lm.model, input_ids=torch.tensor([ids[:512]]), use_cache=False)
    top = logits[0].float().argmax(-1).cpu().numpy()  # (T,)
    # every weight has been read once now (bf16 checkpoints are memory-mapped until then)
    row["rss_after_forward_mib"] = round(rss_mib(), 1)
    if reference is None:
        np.save(directory / f"argmax-{device}.npy", top)
    else:
        ref = np.load(reference)
        row["agreement_vs_fp32"] = round(float((ref == top).mean()), 4)
    # prefill and per-token latency
    with torch.no_grad():
        forward(lm, None, input_ids=torch.tensor([prompt]))  # warm-up
        _, prefill_s = timed(lambda: forward(lm, None, input_ids=torch.tensor([prompt])))
    row["prefill_ms"] = round(prefill_s * 1000, 1)
    base = {"prompt_ids": prompt, "max_new_tokens": tokens}
    # per-token latency: the median of single cached decoding steps
    with torch.no_grad():
        _, past = forward(lm, None, input_ids=torch.tensor([prompt]))
        steps: list[float] = []
        for token in ids[256 : 256 + max(4, tokens // 2)]:
            (_, past), seconds = timed(
                lambda past=past, token=token: forward(lm, past, input_ids=torch.tensor([[token]]))
            )
            steps.append(seconds)
    row["ms_per_token"] = round(statistics.median(steps) * 1000, 2)
    greedy, greedy_s = timed(lambda: greedy_decode(lm, DecodeRequest(**base)))
    row["greedy_s"] = round(greedy_s, 4)
    runs = {
        "superposed_k4": lambda: superposed_decode(lm, DecodeRequest(**base, k=4, verify=False)),
        "superposed_k4_verify": lambda: superposed_decode(lm, DecodeRequest(**base, k=4)),
        "beam_k4": lambda: beam_decode(lm, DecodeRequest(**base, k=4)),
        "sampling_k4": lambda: sampling_decode(lm, DecodeRequest(**base, k=4, seed=0)),
    }
    if variant != "fp32":
        runs = {"superposed_k4": runs["superposed_k4"]}
    for name, run_one in runs.items():
        _, seconds = timed(run_one)
        row[f"{name}_s"] = round(seconds, 4)
        row[f"{name}_vs_greedy"] = round(seconds / greedy_s, 2)
    if variant == "fp32":
        row.update(engine_latency(lm, text, Engine, Settings, CompletionJob))
    else:
        # the speed-up against float32, timed in alternation so both see the same machine load
        ref_lm = replace(load_model(directory, device, dtype="float32"), eos_ids=frozenset())
        if threads:
            torch.set_num_threads(threads)
        short = {"prompt_ids": prompt, "max_new_tokens": 8}
        ratios: list[float] = []
        for _ in range(3):
            _, ref_s = timed(lambda: greedy_decode(ref_lm, DecodeRequest(**short)))
            _, var_s = timed(lambda: greedy_decode(lm, DecodeRequest(**short)))
            ratios.append(ref_s / var_s)
        row["speedup_vs_fp32_paired"] = round(statistics.median(ratios), 2)
    row["peak_rss_mib"] = peak_rss_mib()
    row["load_average_1min_end"] = round(os.getloadavg()[0], 2)
    return row


def engine_latency(lm: Any, text: str, engine_class: Any, settings: Any, job: Any) -> dict:
    """Return the engine's automatic (ghost text) and invoked k=4 latency p50 in ms."""
    engine = engine_class(settings(drafts=4, maxNewTokens=16))
    engine.attach_model(lm)  # no background n-grams: the workspace table only
    uri = "file:///bench/heldout.py"
    rng = random.Random(0)
    lines = [i for i, ch in enumerate(text) if ch == "\n" and i > 400]
    automatic: list[float] = []
    invoked: list[float] = []
    for n, offset in enumerate(sorted(rng.sample(lines, 4))):
        engine.open_document(uri, text[:offset] + "\n", "python", version=n)
        one = job(uri=uri, offset=offset, automatic=True, cancel=threading.Event())
        automatic.append(engine.complete(one).timings.get("total_ms", 0.0))
        if n < 1:
            full = job(uri=uri, offset=offset, automatic=False, cancel=threading.Event())
            invoked.append(engine.complete(full).timings.get("total_ms", 0.0))
    return {
        "automatic_p50_ms": round(statistics.median(automatic), 1),
        "invoked_k4_p50_ms": round(statistics.median(invoked), 1),
    }


def measure_vocabulary(directory: Path, cache: Path) -> dict[str, Any]:
    """Return one-time table costs and per-step monitor/penalty costs for one tokenizer."""
    import torch
    from transformers import AutoTokenizer

    from analysis.statements import StatementRepetition
    from benchmarks.monitor_speed import measure
    from models.loader import fim_tokens
    from models.ngram import NgramTable, background_for
    from models.repetition import RepetitionPenalty
    from models.token_table import TokenTable
    from models.vocab_index import build_vocab_index, cached_vocab_index

    torch.set_num_threads(1)
    tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
    fim = fim_tokens(tokenizer)
    extra = fim.ids if fim else ()
    before = rss_mib()
    table, table_s = timed(lambda: TokenTable.from_tokenizer(tokenizer, len(tokenizer), extra))
    index, index_s = timed(lambda: build_vocab_index(table))
    built = rss_mib()
    scratch = cache / "bench" / "table-cache"
    TokenTable.cached(tokenizer, len(tokenizer), extra, scratch)  # write (or keep) both files
    cached_vocab_index(TokenTable.cached(tokenizer, len(tokenizer), extra, scratch), scratch)
    again, cached_table_s = timed(
        lambda: TokenTable.cached(tokenizer, len(tokenizer), extra, scratch)
    )
    _, cached_index_s = timed(lambda: cached_vocab_index(again, scratch))
    del index
    row: dict[str, Any] = {
        "vocab": table.vocab_size,
        "table_build_s": round(table_s, 2),
        "index_build_s": round(index_s, 2),
        "table_and_index_mib": round(built - before, 1),
        "cached_table_s": round(cached_table_s, 2),
        "cached_index_s": round(cached_index_s, 2),
    }
    steps = measure(table, random.Random(0))
    row["monitor_constrained_p50_ms"] = round(steps["constrained-warm"]["p50_ms"], 3)
    cold = [v["p50_ms"] for k, v in steps.items() if k.startswith("constrained-cold")]
    row["monitor_constrained_cold_p50_ms"] = round(statistics.median(cold), 3)
    row["monitor_waiting_p50_ms"] = round(steps["waiting"]["p50_ms"], 3)
    row["monitor_crossing_p50_ms"] = round(steps["crossing"]["p50_ms"], 3)
    row["penalty_p50_ms"] = penalty_step_ms(
        table, tokenizer, RepetitionPenalty, StatementRepetition
    )
    # background n-gram table of this tokenizer: built once, then read from the cache
    ngram_dir = cache / "bench" / "ngram-cache"
    _, ngram_s = timed(
        lambda: background_for(Path("/nonexistent"), tokenizer, table.vocab_size, ngram_dir)
    )
    table_ng, ngram_cached_s = timed(
        lambda: background_for(Path("/nonexistent"), tokenizer, table.vocab_size, ngram_dir)
    )
    row["ngram_first_build_or_load_s"] = round(ngram_s, 2)
    row["ngram_cached_load_s"] = round(ngram_cached_s, 2)
    row["ngram_entries"] = table_ng.entries() if isinstance(table_ng, NgramTable) else None
    return row


def penalty_step_ms(table: Any, tokenizer: Any, penalty_class: Any, oracle_class: Any) -> float:
    """Return the p50 ms of one repetition-penalty call on 4 drafts growing token by token."""
    import torch

    prompt = "def f(x):\n    y = x + 1\n    z = y * 2\n"
    draft_text = "    w = z - 3\n    v = w + 4\n    u = v * 5\n    t = u - 6\n" * 2
    ids = tokenizer(draft_text, add_special_tokens=False)["input_ids"]
    penalty = penalty_class(table, oracle_class("python", prompt), [0])
    scores = torch.randn(4, table.vocab_size)  # (4, V)
    costs: list[float] = []
    for t in range(1, len(ids)):
        rows = torch.tensor([ids[:t]] * 4, dtype=torch.long)  # (4, t)
        _, seconds = timed(lambda rows=rows: penalty(rows, scores))
        costs.append(seconds * 1000)
    return round(statistics.median(costs), 3)


# ------------------------------------------------------------------ driver


def run_worker(args: list[str]) -> dict[str, Any]:
    """Run ``--worker`` in a fresh interpreter; return its JSON answer."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.model_families", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        return {"error": (out.stderr or out.stdout).strip().splitlines()[-1:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(
    mode: str,
    model: str,
    out: Path,
    device: str = "cpu",
    shapes: list[str] | None = None,
    tokens: int | None = None,
    cache: Path = CACHE,
    variants: list[str] | None = None,
    vocabulary: bool = True,
    threads: int = 0,
) -> dict[str, Any]:
    """Build the replicas of ``mode`` (quick: SmolLM2 shape; full: all), measure, report."""
    if mode not in ("quick", "full"):
        raise ValueError("mode must be quick or full")
    chosen = [s for s in SHAPES if mode in s.modes and (not shapes or s.name in shapes)]
    if shapes:
        chosen = [s for s in SHAPES if s.name in shapes]
    tokens = tokens or 16
    if variants is None:
        variants = ["fp32", "int8"] if mode == "quick" else list(VARIANTS)
    if device != "cpu":
        variants = [v for v in variants if v != "int8"]  # dynamic int8 is a CPU path
    targets: list[tuple[str, Path]] = [(s.name, build_replica(s, cache)) for s in chosen]
    if model not in ("", "default", "none"):
        targets.append((Path(model).name, Path(model)))
    rows: list[dict[str, Any]] = []
    vocabularies: dict[str, dict[str, Any]] = {}
    for name, directory in targets:
        common = ["--worker", str(directory), "--tokens", str(tokens), "--device", device]
        common += ["--threads", str(threads)]
        for variant in variants:
            ref = directory / f"argmax-{device}.npy"
            extra = ["--reference", str(ref)] if variant != "fp32" else []
            row = run_worker([*common, "--variant", variant, *extra])
            row["model"] = name
            rows.append(row)
            print(f"[model_families] {name} {variant}: {row}", file=sys.stderr)
        key = str(directory)
        if vocabulary and key not in vocabularies:
            vocab = run_worker(["--vocab-worker", str(directory), "--cache", str(cache)])
            vocab["model"] = name
            vocabularies[key] = vocab
            print(f"[model_families] {name} vocabulary: {vocab}", file=sys.stderr)
    result = {
        "name": "model_families",
        "mode": mode,
        "device": device,
        "tokens": tokens,
        "threads": threads or "loader default",
        "machine": machine_info(),
        "models": rows,
        "vocabularies": list(vocabularies.values()),
        "command": f"python -m benchmarks.model_families --mode {mode} --device {device}"
        + (f" --shapes {','.join(shapes)}" if shapes else ""),
    }
    write_outputs(out, "model_families", result, markdown(result))
    return result


def merge(paths: list[Path], out: Path) -> dict[str, Any]:
    """Combine several runs' ``model_families.json`` (e.g. one per shape) into one report."""
    parts = [json.loads(Path(p).read_text()) for p in paths]
    result = dict(parts[0])
    result["models"] = [r for p in parts for r in p["models"]]
    result["vocabularies"] = [v for p in parts for v in p["vocabularies"]]
    result["command"] = parts[0]["command"].split(" --shapes")[0]
    write_outputs(out, "model_families", result, markdown(result))
    return result


def _speedup(rows: list[dict[str, Any]], model: str, variant: str) -> float | None:
    """Return the variant's speed-up over float32: paired (same load) when measured so."""
    by = {r["variant"]: r for r in rows if r.get("model") == model and "error" not in r}
    if variant in by and "speedup_vs_fp32_paired" in by[variant]:
        return by[variant]["speedup_vs_fp32_paired"]
    if variant not in by or "fp32" not in by:
        return None
    return round(by["fp32"]["ms_per_token"] / by[variant]["ms_per_token"], 2)


def markdown(result: dict[str, Any]) -> str:
    """Return the report: one row per model (fp32) with bf16/int8 speed-ups, then vocabularies."""
    rows = result["models"]
    fp32 = [r for r in rows if r.get("variant") == "fp32" and "error" not in r]

    def variant(model: str, name: str, key: str) -> Any:
        return next(
            (r.get(key) for r in rows if r.get("model") == model and r.get("variant") == name), None
        )

    table = markdown_table(
        [
            "model (random weights)",
            "params",
            "vocab",
            "load s",
            "RSS MiB",
            "prefill 256 ms",
            "ms/token",
            "k=4 superposed / greedy",
            "beam k=4 / greedy",
            "sampling k=4 / greedy",
            "automatic p50 ms",
            "invoked k=4 p50 ms",
            "bf16 speed-up",
            "bf16 agreement",
            "int8 speed-up",
            "int8 agreement",
            "int8 RSS MiB",
        ],
        [
            [
                r["model"],
                f"{r['parameters'] / 1e6:.0f} M",
                r["vocab"],
                r["load_s"],
                r["rss_mib"],
                r["prefill_ms"],
                r["ms_per_token"],
                r["superposed_k4_vs_greedy"],
                r["beam_k4_vs_greedy"],
                r["sampling_k4_vs_greedy"],
                r.get("automatic_p50_ms"),
                r.get("invoked_k4_p50_ms"),
                _speedup(rows, r["model"], "bf16"),
                variant(r["model"], "bf16", "agreement_vs_fp32"),
                _speedup(rows, r["model"], "int8"),
                variant(r["model"], "int8", "agreement_vs_fp32"),
                variant(r["model"], "int8", "rss_mib"),
            ]
            for r in fp32
        ],
    )
    vocab = markdown_table(
        [
            "vocabulary of",
            "V",
            "table + index build s",
            "memory MiB",
            "cached load s",
            "monitor constrained p50 ms",
            "cold p50 ms",
            "waiting p50 ms",
            "penalty p50 ms",
            "n-gram build s",
            "n-gram cached s",
        ],
        [
            [
                v.get("model"),
                v.get("vocab"),
                round(v.get("table_build_s", 0) + v.get("index_build_s", 0), 2),
                v.get("table_and_index_mib"),
                round(v.get("cached_table_s", 0) + v.get("cached_index_s", 0), 2),
                v.get("monitor_constrained_p50_ms"),
                v.get("monitor_constrained_cold_p50_ms"),
                v.get("monitor_waiting_p50_ms"),
                v.get("penalty_p50_ms"),
                v.get("ngram_first_build_or_load_s"),
                v.get("ngram_cached_load_s"),
            ]
            for v in result["vocabularies"]
            if "error" not in v
        ],
    )
    errors = [r for r in rows + result["vocabularies"] if "error" in r]
    lines = [
        "# Model families at real sizes (random weights)",
        "",
        f"`{result['command']}`; {result['tokens']} generated tokens per pass, 256-token "
        f"prompt of held-out stdlib code; CPU: {result['machine']['cpu']}, "
        f"{result['machine']['usable_cores']} usable cores, torch {result['machine']['torch']}, "
        f"transformers {result['machine']['transformers']}. Agreement: share of 512 held-out "
        "positions where the variant's top token equals float32's.",
        "",
        table,
        "Per vocabulary (one thread): one-time table costs and per-step constraint costs.",
        "",
        vocab,
    ]
    if errors:
        lines += ["", "Errors: " + "; ".join(f"{e.get('model')}: {e['error']}" for e in errors)]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("quick", "full"), default="quick")
    parser.add_argument("--model", default="default", help="also measure this local model dir")
    parser.add_argument("--out", type=Path, default=Path("bench-out/model-families"))
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    parser.add_argument("--shapes", default="", help="comma-separated shape names")
    parser.add_argument("--tokens", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: the loader's)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--prepare", action="store_true", help="only build the replicas")
    parser.add_argument("--variants", default="", help="comma-separated: fp32,bf16,int8")
    parser.add_argument("--no-vocabulary", action="store_true", help="skip per-vocabulary costs")
    parser.add_argument("--vocab-only", action="store_true", help="only per-vocabulary costs")
    parser.add_argument("--merge", nargs="+", type=Path, help="combine model_families.json files")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--vocab-worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--variant", default="fp32", help=argparse.SUPPRESS)
    parser.add_argument("--reference", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker is not None:
        row = measure_model(
            args.worker, args.variant, args.tokens or 16, args.device, args.reference, args.threads
        )
        print(json.dumps(row))
        return 0
    if args.vocab_worker is not None:
        print(json.dumps(measure_vocabulary(args.vocab_worker, args.cache)))
        return 0
    if args.merge:
        print(markdown(merge(args.merge, args.out)))
        return 0
    shapes = [s for s in args.shapes.split(",") if s]
    variants = [v for v in args.variants.split(",") if v]
    if set(variants) - set(VARIANTS):
        print(f"model_families: unknown variants {variants}", file=sys.stderr)
        return 2
    unknown = set(shapes) - {s.name for s in SHAPES}
    if unknown:
        print(f"model_families: unknown shapes {sorted(unknown)}", file=sys.stderr)
        return 2
    if args.prepare:
        for shape in SHAPES:
            if (not shapes and args.mode in shape.modes) or shape.name in shapes:
                print(build_replica(shape, args.cache))
        return 0
    result = run(
        args.mode,
        args.model,
        args.out,
        args.device,
        shapes,
        args.tokens or None,
        args.cache,
        [] if args.vocab_only else (variants or None),
        not args.no_vocabulary,
        args.threads,
    )
    print(markdown(result))
    return 0


# ------------------------------------------------------------------ plug-in (benchmarks.plugin)

# the targets of issue 18 (item 4), declared once (report, README summary, figure read them)
MONITOR_STEP = Target(
    "model_families.monitor_step",
    "monitor constrained step p50 at the largest vocabulary",
    "<",
    1.0,
    "ms",
    "issue 18",
)
PENALTY_STEP = Target(
    "model_families.penalty_step",
    "repetition-penalty step p50 at the largest vocabulary",
    "<",
    1.0,
    "ms",
    "issue 18",
)


def largest_vocabulary(result: dict[str, Any]) -> dict[str, Any]:
    """The measured vocabulary with the most tokens ({} when none was measured)."""
    measured = [v for v in result.get("vocabularies", []) if "error" not in v]
    return max(measured, key=lambda v: v.get("vocab") or 0, default={})


def plugin_rows(result: dict[str, Any]) -> list[Row]:
    """Constraint costs at the largest vocabulary (targets), then one row per model."""
    vocab = largest_vocabulary(result)
    at = f"(V={vocab.get('vocab', '?')}, {vocab.get('model', '?')} tokenizer)"
    monitor, penalty = vocab.get("monitor_constrained_p50_ms"), vocab.get("penalty_p50_ms")
    rows = [
        summary_row(MONITOR_STEP.label, monitor, MONITOR_STEP, None, at),
        summary_row(PENALTY_STEP.label, penalty, PENALTY_STEP, None, at),
    ]
    for r in result.get("models", []):
        if r.get("variant") != "fp32" or "error" in r:
            continue
        int8 = _speedup(result["models"], r["model"], "int8")
        rows.append(
            summary_row(
                f"{r['model']} (random weights, {r['parameters'] / 1e6:.0f} M): ms per token",
                r.get("ms_per_token"),
                None,
                "ms",
                f"(RSS {r.get('rss_mib')} MiB; k=4 superposed / greedy "
                f"{r.get('superposed_k4_vs_greedy')}x; int8 speed-up {int8}x)",
            )
        )
    return rows


def figure(result: dict[str, Any], ctx: dict[str, Any], out: Path) -> str:
    """Per-token latency per model and precision; per-step constraint costs per
    vocabulary against the 1 ms target."""
    from benchmarks.figures import bars, legend_below, new_figure, over, save, target_line

    fig, (ax, bx) = new_figure(ctx, "Model families at real sizes (random weights, CPU)", 2)
    rows = [r for r in result.get("models", []) if "error" not in r]
    models = list(dict.fromkeys(r["model"] for r in rows))
    variants = [v for v in VARIANTS if any(r["variant"] == v for r in rows)]
    by = {(r["model"], r["variant"]): r for r in rows}
    series = {v: [by.get((m, v), {}).get("ms_per_token") for m in models] for v in variants}
    params = {m: by.get((m, "fp32"), {}).get("parameters") for m in models}
    labels = [f"{m}\n{(params[m] or 0) / 1e6:.0f} M params" for m in models]
    bars(ax, labels, series, pct=False)
    ax.set_ylabel("ms per generated token")
    ax.set_title(
        f"{result.get('tokens', '?')} tokens per pass after a 256-token prompt; "
        f"{result.get('machine', {}).get('usable_cores', '?')} usable cores",
        fontsize=8,
    )
    legend_below(ax)
    vocabs = [v for v in result.get("vocabularies", []) if "error" not in v]
    labels = [f"{v.get('model')}\nV={v.get('vocab')}" for v in vocabs]
    series = {
        "monitor constrained p50": [v.get("monitor_constrained_p50_ms") for v in vocabs],
        "repetition penalty p50": [v.get("penalty_p50_ms") for v in vocabs],
    }
    placed = bars(bx, labels, series, pct=False)
    largest = vocabs.index(largest_vocabulary(result)) if vocabs else None
    if largest is not None:
        for name, target in zip(series, (MONITOR_STEP, PENALTY_STEP), strict=True):
            target_line(bx, target, span=over(placed[(name, largest)]), label=target.text())
    bx.set_ylabel("ms per decoding step (one thread); red dashes: targets")
    bx.set_title("constraint cost per step, per vocabulary", fontsize=8)
    legend_below(bx)
    return save(fig, out / "model_families.png")


def run_plugin(mode: str, model: str, out: Path) -> dict[str, Any]:
    """``run`` as the report calls it: every shape (full mode only: several GB, minutes)."""
    return run(mode, model, out)


PLUGIN = Benchmark(
    name="model_families",
    title="Model families at real sizes (random weights)",
    run=run_plugin,
    rows=plugin_rows,
    markdown=markdown,
    targets=(MONITOR_STEP, PENALTY_STEP),
    sizes={"full": {}},
    figures=(figure,),
)


if __name__ == "__main__":
    sys.exit(main())

"""Loading causal language models: the shipped default model or a local HF directory.

Loading never reaches the network (``local_files_only=True``), reads weights from
safetensors only (``use_safetensors=True``; a directory holding only pickled
``.bin`` weights is refused), and runs no remote code unless the caller opts in.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from models.token_table import TokenTable

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"

# Sentinel spellings of fill-in-the-middle tokens used by common code models
# (StarCoder/SantaCoder and ours; Qwen2.5-Coder/DeepSeek style with bars).
FIM_SPELLINGS: tuple[tuple[str, str, str], ...] = (
    ("<fim_prefix>", "<fim_suffix>", "<fim_middle>"),
    ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    ("<PRE>", "<SUF>", "<MID>"),
)


class ModelLoadError(Exception):
    """The model directory is missing, unreadable or holds no safetensors weights."""


@dataclass(frozen=True)
class FimTokens:
    """Token ids of the prefix/suffix/middle sentinels of a FIM-trained model."""

    prefix: int
    suffix: int
    middle: int


@dataclass
class LoadedModel:
    """A causal LM ready for decoding, with what decoders need to know about it."""

    model: Any
    tokenizer: Any
    name: str
    path: Path
    device: torch.device
    dtype: torch.dtype
    eos_ids: frozenset[int]
    fim: FimTokens | None
    context_length: int
    load_seconds: float
    table: TokenTable = field(repr=False)
    fim_policy: str = "always"  # "always" | "mid-line": FIM only with code after the cursor
    fim_mode: str = "psm"  # prompt layout: "psm" (prefix, suffix, middle) or "spm"

    @property
    def vocab_size(self) -> int:
        return self.table.vocab_size

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Return the model's own input embeddings of ``ids``."""
        return self.model.get_input_embeddings()(ids.to(self.device))

    def encode(self, text: str) -> list[int]:
        """Return token ids of ``text`` without special tokens."""
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def resolve_device(device: str) -> torch.device:
    """Return the torch device for a ``device`` setting (``cpu``/``cuda``/``auto``)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device 'cuda' requested but CUDA is not available")
    if device not in ("cpu", "cuda"):
        raise ModelLoadError(f"unknown device {device!r} (use cpu, cuda or auto)")
    return torch.device(device)


def resolve_model_dir(spec: str | Path) -> Path:
    """Return the directory of a ``model`` setting (``default`` or a local path)."""
    if str(spec) in ("", "default"):
        return DEFAULT_MODEL_DIR
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise ModelLoadError(f"model path {str(path)!r} is not a directory")
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"model path {str(path)!r} has no config.json")
    if not any(path.glob("*.safetensors")):
        raise ModelLoadError(
            f"model path {str(path)!r} holds no .safetensors weights "
            "(pickled .bin/.pt weights are never loaded)"
        )
    return path


def cpu_threads(parameters: int) -> int:
    """Return the torch CPU thread count for a model of ``parameters`` weights.

    ``SUPERPOSE_THREADS`` overrides. Small models run one token at a time, where
    more threads only add synchronisation (measured on 2 busy cores: 6.5 ms/step
    with 1 thread vs 135 ms with 2), so they get one thread; big ones get torch's
    default.
    """
    env = os.environ.get("SUPERPOSE_THREADS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return 1 if parameters < 100_000_000 else torch.get_num_threads()


def model_options(path: Path) -> dict[str, Any]:
    """Return serving options shipped beside a model (``superpose.json``), if any.

    ``{"fim": false}`` makes the engine build prefix-only prompts for a model
    whose tokenizer has FIM sentinels but whose FIM was measured to hurt;
    ``{"fim": "mid-line"}`` uses FIM only when code follows the cursor on its line
    (see :func:`fim_policy`); ``{"fim_mode": "spm"}`` builds suffix-prefix-middle
    prompts for a model trained on that layout (default ``"psm"``).
    """
    try:
        data = json.loads((path / "superpose.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def fim_policy(options: dict[str, Any]) -> str:
    """Return the FIM policy of ``superpose.json`` options: always, mid-line or never.

    ``true``/``"always"`` (or no option): every prompt of a FIM model is a FIM prompt;
    ``false``/``"never"``: prefix-only; ``"mid-line"``: FIM only when code follows the
    cursor on its line. Anything else is logged and read as ``"always"``.
    """
    value = options.get("fim", True)
    if value is True or value == "always":
        return "always"
    if value is False or value == "never":
        return "never"
    if value == "mid-line":
        return "mid-line"
    log.warning("superpose.json: unknown fim option %r, using FIM always", value)
    return "always"


def fim_tokens(tokenizer: Any) -> FimTokens | None:
    """Return the FIM sentinel ids when the tokenizer defines them, else None."""
    vocab = tokenizer.get_vocab()
    for pre, suf, mid in FIM_SPELLINGS:
        if pre in vocab and suf in vocab and mid in vocab:
            return FimTokens(vocab[pre], vocab[suf], vocab[mid])
    return None


def load_model(
    spec: str | Path = "default",
    device: str = "auto",
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load a causal LM from the shipped default or a local HF directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    started = time.perf_counter()
    path = resolve_model_dir(spec)
    dev = resolve_device(device)
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"model directory {str(path)!r} has no config.json")
    dtype = torch.float32 if dev.type == "cpu" else torch.float16
    try:
        local = {"local_files_only": True, "trust_remote_code": trust_remote_code}
        tokenizer = AutoTokenizer.from_pretrained(str(path), **local)  # local_files_only=True
        model = AutoModelForCausalLM.from_pretrained(  # local_files_only=True
            str(path),
            **local,
            use_safetensors=True,
            dtype=dtype,
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load model from {str(path)!r}: {exc}") from exc
    model.to(dev).eval()
    if dev.type == "cpu":
        torch.set_num_threads(cpu_threads(sum(p.numel() for p in model.parameters())))
    eos: set[int] = set()
    for source in (model.config.eos_token_id, tokenizer.eos_token_id):
        if isinstance(source, int):
            eos.add(source)
        elif isinstance(source, (list, tuple)):
            eos.update(int(x) for x in source)
    ctx = getattr(model.config, "n_positions", None) or getattr(
        model.config, "max_position_embeddings", 2048
    )
    vocab_size = model.get_input_embeddings().weight.shape[0]
    options = model_options(path)
    policy = fim_policy(options)
    mode = "spm" if options.get("fim_mode") == "spm" else "psm"
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name="default" if path == DEFAULT_MODEL_DIR else path.name,
        path=path,
        device=dev,
        dtype=dtype,
        eos_ids=frozenset(eos),
        fim=fim_tokens(tokenizer) if policy != "never" else None,
        context_length=int(ctx),
        load_seconds=0.0,
        table=TokenTable.from_tokenizer(tokenizer, vocab_size),
        fim_policy=policy,
        fim_mode=mode,
    )
    loaded.load_seconds = time.perf_counter() - started
    log.info("loaded model %s on %s in %.2fs", loaded.name, dev, loaded.load_seconds)
    return loaded


def wrap_model(model: Any, tokenizer: Any, name: str = "in-memory") -> LoadedModel:
    """Return a LoadedModel for an already built model (tests build tiny ones)."""
    model.eval()
    vocab_size = model.get_input_embeddings().weight.shape[0]
    eos = tokenizer.eos_token_id
    ctx = getattr(model.config, "n_positions", None) or getattr(
        model.config, "max_position_embeddings", 2048
    )
    param = next(model.parameters())
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=name,
        path=Path("."),
        device=param.device,
        dtype=param.dtype,
        eos_ids=frozenset({eos} if eos is not None else ()),
        fim=fim_tokens(tokenizer),
        context_length=int(ctx),
        load_seconds=0.0,
        table=TokenTable.from_tokenizer(tokenizer, vocab_size),
    )

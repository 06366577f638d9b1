"""Loading causal language models: the shipped default model or a local HF directory.

Loading never reaches the network (``local_files_only=True``), reads weights from
safetensors only (``use_safetensors=True``; a directory holding only pickled
``.bin`` weights is refused), and runs no remote code unless the caller opts in.

Fill-in-the-middle sentinels are detected per model family from the tokenizer
(Bavarian et al. 2022, "Efficient Training of Language Models to Fill in the
Middle", for the PSM/SPM layouts; the spellings are those of StarCoder,
Qwen2.5-Coder, Code Llama and DeepSeek-Coder). On CPU the weights can be kept in
bfloat16 or their linear layers quantised to int8 with dynamic activation
quantisation (Jacob et al. 2018, "Quantization and Training of Neural Networks for
Efficient Integer-Arithmetic-Only Inference"; torch's ``quantize_dynamic``).
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

from models.hf_compat import complete_config
from models.token_table import TokenTable
from models.vocab_index import cached_vocab_index

log = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent / "default_model"
# the n-gram share of a step score (models.superposed) when superpose.json names none
DEFAULT_NGRAM_WEIGHT = 0.1


@dataclass(frozen=True)
class FimFamily:
    """How one model family spells fill-in-the-middle, and which layouts it was trained on."""

    name: str
    prefix: str
    suffix: str
    middle: str
    end: str | None = None  # token closing the middle, when it is not EOS (Code Llama <EOT>)
    modes: tuple[str, ...] = ("psm",)


# Tokenizers are matched in this order; the first family whose three sentinels are all
# in the vocabulary wins. SPM is listed only where the family was trained on it.
FIM_FAMILIES: tuple[FimFamily, ...] = (
    FimFamily("starcoder", "<fim_prefix>", "<fim_suffix>", "<fim_middle>", None, ("psm", "spm")),
    FimFamily("qwen2.5-coder", "<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"),
    FimFamily(
        "deepseek-coder",
        "<\uff5cfim\u2581begin\uff5c>",
        "<\uff5cfim\u2581hole\uff5c>",
        "<\uff5cfim\u2581end\uff5c>",
    ),
    # Code Llama's sentinels are SentencePiece pieces with a word-start mark
    FimFamily(
        "codellama", "\u2581<PRE>", "\u2581<SUF>", "\u2581<MID>", "\u2581<EOT>", ("psm", "spm")
    ),
    FimFamily("codellama", "<PRE>", "<SUF>", "<MID>", "<EOT>", ("psm", "spm")),
)
# (prefix, suffix, middle) spellings, in detection order
FIM_SPELLINGS: tuple[tuple[str, str, str], ...] = tuple(
    (f.prefix, f.suffix, f.middle) for f in FIM_FAMILIES
)
DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}
QUANTIZE = ("none", "int8")


class ModelLoadError(Exception):
    """The model directory is missing, unreadable or holds no safetensors weights."""


@dataclass(frozen=True)
class FimTokens:
    """Token ids of the prefix/suffix/middle sentinels of a FIM-trained model."""

    prefix: int
    suffix: int
    middle: int
    family: str = "starcoder"
    end: int | None = None  # closes the middle besides EOS (Code Llama's <EOT>)
    modes: tuple[str, ...] = ("psm", "spm")

    @property
    def ids(self) -> frozenset[int]:
        """Every sentinel id (never spelled by a draft)."""
        return frozenset(
            i for i in (self.prefix, self.suffix, self.middle, self.end) if i is not None
        )


@dataclass(frozen=True)
class NgramWeights:
    """The n-gram share ``a`` of a draft step's score, ``(1 - a) · log p_LM + a · log
    p_ngram`` (:mod:`models.superposed`), per kind of request.

    Measured on the shipped model (``models/README.md``): a larger share saves more
    keystrokes with fewer wrong ghost texts (cut where their confidence ends), and fewer
    of an asked-for completion's k whole lines are right.
    """

    automatic: float = DEFAULT_NGRAM_WEIGHT  # ghost text while typing
    manual: float = DEFAULT_NGRAM_WEIGHT  # asked-for completions (the popup's drafts)

    def __post_init__(self) -> None:
        for name in ("automatic", "manual"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"the {name} n-gram weight must be a number, got {value!r}")
            if not 0 <= value <= 1:
                raise ValueError(f"the {name} n-gram weight must be in [0, 1], got {value}")

    def for_request(self, automatic: bool) -> float:
        """Return the weight of an automatic (ghost text) or a manual request."""
        return self.automatic if automatic else self.manual

    def to_dict(self) -> dict[str, float]:
        return {"automatic": self.automatic, "manual": self.manual}


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
    quantize: str = "none"  # "none" | "int8" (dynamic int8 linear layers, CPU)
    ngram_weights: NgramWeights = field(default_factory=NgramWeights)  # superpose.json

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


def ngram_weights(options: dict[str, Any]) -> NgramWeights:
    """Return the n-gram weights named by ``superpose.json`` options.

    ``{"ngram_weight": a}`` (0 <= a <= 1) for every request, or ``{"ngram_weight":
    {"automatic": a, "manual": b}}`` (a missing kind keeps the default), chosen per model by
    measurement. Absent: :data:`DEFAULT_NGRAM_WEIGHT` for both; unusable: the same, logged.
    """
    value = options.get("ngram_weight", DEFAULT_NGRAM_WEIGHT)
    try:
        if isinstance(value, dict):
            unknown = set(value) - {"automatic", "manual"}
            if unknown:
                raise ValueError(f"unknown request kinds {sorted(unknown)}")
            return NgramWeights(**value)
        return NgramWeights(value, value)
    except (TypeError, ValueError) as exc:
        log.warning(
            "superpose.json: ngram_weight %r (%s), using %s", value, exc, DEFAULT_NGRAM_WEIGHT
        )
        return NgramWeights()


def fim_tokens(tokenizer: Any) -> FimTokens | None:
    """Return the FIM sentinel ids of the first family the tokenizer spells, else None."""
    vocab = tokenizer.get_vocab()
    for family in FIM_FAMILIES:
        if family.prefix in vocab and family.suffix in vocab and family.middle in vocab:
            end = vocab.get(family.end) if family.end is not None else None
            return FimTokens(
                vocab[family.prefix],
                vocab[family.suffix],
                vocab[family.middle],
                family=family.name,
                end=end,
                modes=family.modes,
            )
    return None


def fim_mode(options: dict[str, Any], fim: FimTokens | None) -> str:
    """Return the prompt layout: ``superpose.json``'s ``fim_mode`` if the family was trained on it."""
    wanted = "spm" if options.get("fim_mode") == "spm" else "psm"
    if fim is not None and wanted not in fim.modes:
        log.warning("%s models were not trained on %s FIM prompts; using PSM", fim.family, wanted)
        return "psm"
    return wanted


def eos_ids_of(model: Any, tokenizer: Any, fim: FimTokens | None = None) -> frozenset[int]:
    """Return every id that ends a draft: config and tokenizer EOS, and the FIM end token.

    Ids outside the model's vocabulary (a config default nobody set) are left out.
    """
    eos: set[int] = set()
    for source in (getattr(model.config, "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(source, int):
            eos.add(source)
        elif isinstance(source, (list, tuple)):
            eos.update(int(x) for x in source)
    if fim is not None and fim.end is not None:
        eos.add(fim.end)
    vocab_size = model.get_input_embeddings().weight.shape[0]
    return frozenset(i for i in eos if 0 <= i < vocab_size)


def context_length_of(model: Any) -> int:
    """Return the context length a model's config declares (2048 when it declares none)."""
    config = model.config
    for name in ("n_positions", "max_position_embeddings", "n_ctx", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return 2048


def resolve_dtype(dtype: str, dev: torch.device) -> torch.dtype:
    """Return the weights' dtype for a ``dtype`` setting (``auto``: fp32 on CPU, fp16 on GPU)."""
    if dtype == "auto":
        return torch.float32 if dev.type == "cpu" else torch.float16
    if dtype not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r} (use auto, {', '.join(DTYPES)})")
    return DTYPES[dtype]


def _conv1d_as_linear(model: torch.nn.Module) -> None:
    """Replace GPT-2's ``Conv1D`` projections (weights stored (in, out)) by ``nn.Linear``."""
    for name, module in list(model.named_modules()):
        if type(module).__name__ != "Conv1D" or not hasattr(module, "nf"):
            continue
        weight = module.weight.detach()  # (in, out)
        linear = torch.nn.Linear(weight.shape[0], weight.shape[1], dtype=weight.dtype)
        linear.weight = torch.nn.Parameter(weight.t().contiguous())  # (out, in)
        linear.bias = torch.nn.Parameter(module.bias.detach().clone())
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, linear)


def quantize_int8(model: torch.nn.Module) -> torch.nn.Module:
    """Return ``model`` with its linear layers quantised to int8 (dynamic activations, CPU).

    Weights are quantised per tensor once; activations are quantised per call from their
    observed range (torch's ``quantize_dynamic``, fbgemm/x86 kernels). Embeddings, norms
    and attention arithmetic stay in float32. GPT-2 style ``Conv1D`` layers are turned
    into ``nn.Linear`` first so they are quantised too.
    """
    import warnings

    try:
        from torch.ao.quantization import quantize_dynamic
    except ImportError as exc:  # pragma: no cover - a torch without eager quantisation
        raise ModelLoadError(f"int8 quantisation is not available in this torch: {exc}") from exc
    if next(model.parameters()).dtype != torch.float32:
        raise ModelLoadError("int8 quantisation needs float32 weights (dtype auto or float32)")
    _conv1d_as_linear(model)
    with warnings.catch_warnings():
        # torch marks its eager quantisation API deprecated in favour of the separate torchao
        # package but ships no replacement; these two messages are torch's own, by text
        warnings.filterwarnings("ignore", "torch.ao.quantization is deprecated", DeprecationWarning)
        warnings.filterwarnings("ignore", "torch.quantize_per_tensor", UserWarning)
        quantized = quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    _release_freed_memory()  # the float32 weights just replaced
    return quantized


def _release_freed_memory() -> None:
    """Collect garbage and hand freed heap pages back to the OS (glibc), so RSS shows it."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the pages are reused, just not returned
        pass


def load_model(
    spec: str | Path = "default",
    device: str = "auto",
    trust_remote_code: bool = False,
    dtype: str = "auto",
    quantize: str = "none",
) -> LoadedModel:
    """Load a causal LM from the shipped default or a local HF directory.

    ``dtype``: ``auto`` (float32 on CPU, float16 on GPU), ``float32``, ``bfloat16`` or
    ``float16``; ``quantize``: ``none`` or ``int8`` (dynamic int8 linear layers, CPU only).
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    started = time.perf_counter()
    path = resolve_model_dir(spec)
    dev = resolve_device(device)
    if not (path / "config.json").is_file():
        raise ModelLoadError(f"model directory {str(path)!r} has no config.json")
    if quantize not in QUANTIZE:
        raise ModelLoadError(f"unknown quantize {quantize!r} (use {', '.join(QUANTIZE)})")
    if quantize == "int8" and dev.type != "cpu":
        raise ModelLoadError("quantize int8 runs on CPU only (device cpu)")
    weights_dtype = torch.float32 if quantize == "int8" else resolve_dtype(dtype, dev)
    try:
        remote = {"trust_remote_code": trust_remote_code}
        tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True, **remote)
        config = AutoConfig.from_pretrained(str(path), local_files_only=True, **remote)
        model = AutoModelForCausalLM.from_pretrained(
            str(path),
            config=complete_config(config),
            local_files_only=True,
            **remote,
            use_safetensors=True,
            dtype=weights_dtype,
        )
    except (OSError, ValueError) as exc:
        raise ModelLoadError(f"cannot load model from {str(path)!r}: {exc}") from exc
    model.to(dev).eval()
    if quantize == "int8":
        model = quantize_int8(model)
    if dev.type == "cpu":
        torch.set_num_threads(cpu_threads(sum(p.numel() for p in model.parameters())))
    vocab_size = model.get_input_embeddings().weight.shape[0]
    options = model_options(path)
    policy = fim_policy(options)
    fim = fim_tokens(tokenizer)
    served_fim = fim if policy != "never" else None
    # per-tokenizer tables: read from the on-disk cache (built once per tokenizer)
    table = TokenTable.cached(tokenizer, vocab_size, fim.ids if fim else ())
    cached_vocab_index(table)
    loaded = LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name="default" if path == DEFAULT_MODEL_DIR else path.name,
        path=path,
        device=dev,
        dtype=weights_dtype,
        eos_ids=eos_ids_of(model, tokenizer, served_fim),
        fim=served_fim,
        context_length=context_length_of(model),
        load_seconds=0.0,
        table=table,
        fim_policy=policy,
        fim_mode=fim_mode(options, fim),
        quantize=quantize,
        ngram_weights=ngram_weights(options),
    )
    loaded.load_seconds = time.perf_counter() - started
    log.info("loaded model %s on %s in %.2fs", loaded.name, dev, loaded.load_seconds)
    return loaded


def wrap_model(model: Any, tokenizer: Any, name: str = "in-memory") -> LoadedModel:
    """Return a LoadedModel for an already built model (tests build tiny ones)."""
    model.eval()
    vocab_size = model.get_input_embeddings().weight.shape[0]
    param = next(model.parameters())
    fim = fim_tokens(tokenizer)
    quantized = any(".quantized." in type(m).__module__ for m in model.modules())
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        name=name,
        path=Path("."),
        device=param.device,
        dtype=param.dtype,
        eos_ids=eos_ids_of(model, tokenizer, fim),
        fim=fim,
        context_length=context_length_of(model),
        load_seconds=0.0,
        table=TokenTable.from_tokenizer(tokenizer, vocab_size, fim.ids if fim else ()),
        quantize="int8" if quantized else "none",
    )

"""Training of the shipped default model (``superpose-ls train``).

A small GPT-2-style causal LM (Radford et al. 2019) with a byte-level BPE
tokenizer, trained on the Python standard library (see ``models.corpus``) with
fill-in-the-middle samples (Bavarian et al. 2022, "Efficient Training of
Language Models to Fill in the Middle"; PSM layout with StarCoder's sentinel
names). Recipe: random windows from the packed token stream, AdamW, linear
warm-up then cosine decay, gradient clipping, bf16 autocast when the CPU has
native bf16. Training is resumable: a checkpoint directory holds the tokenizer,
the tokenised corpus, weights, optimizer state (all safetensors) and a JSONL
loss log, so a run can be stopped at any time and continued later.

Resume anywhere: a checkpoint directory without a checkpoint (a new machine, a
fresh clone) starts from the exported weights in ``export_dir`` (the shipped
model) when their architecture and tokenizer match: a warm restart with a fresh
optimizer, a short linear re-warm-up and the schedule's remaining budget from the
step the exported model reached. Checkpoints are written every
``checkpoint_minutes`` as well as at every evaluation, and an evaluation whose
held-out loss beats the exported model's exports the new weights.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from models.corpus import PACKAGE_CAP, CorpusFile, extended_files, package_sources, split_files
from models.loader import DEFAULT_MODEL_DIR

log = logging.getLogger(__name__)

EOS = "<|endoftext|>"
FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD = (
    "<fim_prefix>",
    "<fim_middle>",
    "<fim_suffix>",
    "<fim_pad>",
)
SPECIAL_TOKENS = [EOS, FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX, FIM_PAD]


@dataclass
class TrainConfig:
    """Hyper-parameters of a training run (recorded in the checkpoint)."""

    checkpoint_dir: str = "checkpoints/default"
    export_dir: str = str(DEFAULT_MODEL_DIR)
    vocab_size: int = 8192
    n_layer: int = 4
    n_embd: int = 256
    n_head: int = 4
    n_positions: int = 512
    seq_len: int = 512
    batch_size: int = 8
    lr: float = 1.5e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 200
    total_steps: int = 1800
    stage_start: int = 0  # step where this run's warm-up + cosine schedule starts
    corpus: str = "stdlib"  # or "extended" (see models.corpus)
    stdlib_repeats: int = 2  # copies of the stdlib split in the extended stream
    weight_decay: float = 0.1
    grad_clip: float = 1.0
    fim_rate: float = 0.5
    fim_line_rate: float = 0.5  # share of FIM samples whose middle lies within one line
    fim_mode: str = "psm"  # "psm": prefix, suffix, middle; "spm": suffix, prefix, middle
    eval_every: int = 250
    eval_windows: int = 96
    seed: int = 1234
    threads: int = 1
    bf16: bool | None = None
    max_minutes: float | None = None
    corpus_limit: int | None = None  # use only the first N train files (tests)
    package_cap: int = PACKAGE_CAP  # characters per site-packages entry (extended corpus)
    checkpoint_minutes: float = 3.0  # wall-clock interval between checkpoints
    warm_start: bool = True  # no checkpoint yet: continue from the exported weights
    rewarm_steps: int = 50  # linear re-warm-up after a warm restart
    export_on_improve: bool = False  # export at each evaluation that beats the exported model
    compile: bool = False  # torch.compile the training forward (+16 % tokens/s on a 2-core CPU)
    extra: dict = field(default_factory=dict)


# ---------------------------------------------------------------- tokenizer


def train_tokenizer(files: list[CorpusFile], vocab_size: int, out_dir: Path) -> None:
    """Train a byte-level BPE tokenizer on ``files`` and save it HF-style."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator((f.read() for f in files), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token=EOS,
        eos_token=EOS,
        unk_token=EOS,
        pad_token=FIM_PAD,
        additional_special_tokens=[FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX],
    )
    fast.model_max_length = 10**9
    fast.save_pretrained(str(out_dir))


def load_tokenizer(directory: Path):
    """Return the HF tokenizer saved in ``directory`` (never touches the network)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(directory), local_files_only=True)


def encode_files(tokenizer, files: list[CorpusFile]) -> np.ndarray:
    """Return the packed token stream of ``files``, each followed by EOS."""
    eos = tokenizer.convert_tokens_to_ids(EOS)
    chunks: list[np.ndarray] = []
    for f in files:
        ids = tokenizer(f.read(), add_special_tokens=False)["input_ids"]
        chunks.append(np.asarray(ids + [eos], dtype=np.uint16))
    return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint16)


# ------------------------------------------------------------------ batches


class BatchSampler:
    """Random training windows from a packed stream, a fraction turned into FIM."""

    def __init__(self, stream: np.ndarray, tokenizer, cfg: TrainConfig) -> None:
        self.stream = stream
        self.cfg = cfg
        ids = tokenizer.convert_tokens_to_ids
        self.eos, self.pre, self.mid, self.suf = (
            ids(EOS),
            ids(FIM_PREFIX),
            ids(FIM_MIDDLE),
            ids(FIM_SUFFIX),
        )
        vocab = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        # byte-level BPE spells "\n" as "Ċ"
        self.has_newline = np.array(["Ċ" in (t or "") for t in vocab], dtype=bool)

    def batch(self, step: int) -> torch.Tensor:
        """Return a (B, T+1) LongTensor of windows for ``step`` (deterministic)."""
        rng = np.random.default_rng(self.cfg.seed * 1_000_003 + step)
        n = self.cfg.seq_len + 1
        starts = rng.integers(0, len(self.stream) - n, size=self.cfg.batch_size)
        rows = [self._sample(self.stream[s : s + n].astype(np.int64), rng) for s in starts]
        return torch.from_numpy(np.stack(rows))

    def _sample(self, window: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if rng.random() >= self.cfg.fim_rate:
            return window
        body = window[: len(window) - 4]  # room for 3 sentinels + EOS
        if rng.random() < self.cfg.fim_line_rate:
            i, j = self._line_span(body, rng)
        else:
            i, j = sorted(int(x) for x in rng.integers(0, len(body) + 1, size=2))
            if rng.random() < 0.5:  # middles that end a line
                nl = np.flatnonzero(self.has_newline[body[j:]])
                if len(nl):
                    j = j + int(nl[0]) + 1
        prefix, middle, suffix = body[:i], body[i:j], body[j:]
        if self.cfg.fim_mode == "spm":  # the middle continues the prefix, as left to right
            parts = [[self.pre, self.suf], suffix, [self.mid], prefix, middle, [self.eos]]
        else:
            parts = [[self.pre], prefix, [self.suf], suffix, [self.mid], middle, [self.eos]]
        return np.concatenate(parts).astype(np.int64)

    def _line_span(self, body: np.ndarray, rng: np.random.Generator) -> tuple[int, int]:
        """Return (i, j): a middle inside one line, as an editor completes it.

        ``i`` is a random token of the window; half of the middles run to the end of
        its line (an end-of-line mask: the suffix starts with the newline), the others
        stop at a random token before it (a mid-line mask: the rest of the line stays
        in the suffix, like auto-closed brackets).
        """
        i = int(rng.integers(0, len(body)))
        nl = np.flatnonzero(self.has_newline[body[i:]])
        end = i + int(nl[0]) if len(nl) else len(body)  # the token holding the newline
        if end <= i:  # the cursor sits at a line end: complete the next line
            nxt = np.flatnonzero(self.has_newline[body[i + 1 :]])
            end = i + 1 + int(nxt[0]) if len(nxt) else len(body)
        if rng.random() < 0.5 or end - i < 2:
            return i, end
        return i, int(rng.integers(i + 1, end))


# ------------------------------------------------------------------- model


def build_model(cfg: TrainConfig, tokenizer):
    """Return a freshly initialised GPT-2-style model for ``cfg``."""
    from transformers import GPT2Config, GPT2LMHeadModel

    eos = tokenizer.convert_tokens_to_ids(EOS)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=cfg.n_positions,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        bos_token_id=eos,
        eos_token_id=eos,
        pad_token_id=tokenizer.convert_tokens_to_ids(FIM_PAD),
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        tie_word_embeddings=True,
    )
    torch.manual_seed(cfg.seed)
    return GPT2LMHeadModel(config)


def lr_at(step: int, cfg: TrainConfig, restart: int | None = None) -> float:
    """Return the learning rate of ``step``: linear warm-up, then cosine decay.

    The schedule runs from ``cfg.stage_start`` to ``cfg.total_steps``, so a trained
    checkpoint can be continued with a new warm-up and cosine (continued pre-training).
    ``restart`` is the step of a warm restart (fresh optimizer state): the schedule's
    rate is then ramped up linearly over ``cfg.rewarm_steps`` from there.
    """
    if restart is not None and step >= restart and step - restart < cfg.rewarm_steps:
        return _schedule(step, cfg) * (step - restart + 1) / cfg.rewarm_steps
    return _schedule(step, cfg)


def _schedule(step: int, cfg: TrainConfig) -> float:
    step -= cfg.stage_start
    span = cfg.total_steps - cfg.stage_start
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = min(1.0, (step - cfg.warmup_steps) / max(1, span - cfg.warmup_steps))
    floor = cfg.lr * cfg.min_lr_ratio
    return floor + 0.5 * (cfg.lr - floor) * (1 + math.cos(math.pi * progress))


def make_optimizer(model, cfg: TrainConfig) -> torch.optim.AdamW:
    """Return AdamW with weight decay on matrices only."""
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(0.9, 0.95), fused=False)


def optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    """Return the optimizer's per-parameter state as flat named tensors."""
    out: dict[str, torch.Tensor] = {}
    params = [p for g in opt.param_groups for p in g["params"]]
    for i, p in enumerate(params):
        for key, value in opt.state.get(p, {}).items():
            t = value if torch.is_tensor(value) else torch.tensor(value)
            out[f"{i}.{key}"] = t.detach().clone().contiguous()
    return out


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
    """Load state written by :func:`optimizer_tensors` back into ``opt``."""
    params = [p for g in opt.param_groups for p in g["params"]]
    for name, value in tensors.items():
        idx, key = name.split(".", 1)
        opt.state[params[int(idx)]][key] = value.clone()


# -------------------------------------------------------------- evaluation


@torch.no_grad()
def heldout_metrics(model, stream: np.ndarray, cfg: TrainConfig) -> dict[str, float]:
    """Return held-out loss (nats/token) and next-token accuracy on fixed windows."""
    model.eval()
    n = cfg.seq_len + 1
    count = min(cfg.eval_windows, max(1, (len(stream) - 1) // n))
    stride = max(1, (len(stream) - n) // count)
    losses, correct, total = 0.0, 0, 0
    for c in range(0, count, 16):
        starts = [k * stride for k in range(c, min(count, c + 16))]
        x = torch.from_numpy(np.stack([stream[s : s + n].astype(np.int64) for s in starts]))
        logits = model(input_ids=x[:, :-1]).logits.float()
        tgt = x[:, 1:]
        losses += torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.size(-1)), tgt.reshape(-1), reduction="sum"
        ).item()
        correct += (logits.argmax(-1) == tgt).sum().item()
        total += tgt.numel()
    model.train()
    loss = losses / total
    return {"loss": loss, "ppl": math.exp(loss), "acc": correct / total}


# -------------------------------------------------------------- checkpoints


def save_checkpoint(ckpt: Path, model, opt, state: dict) -> None:
    """Write weights, optimizer state and progress to ``ckpt`` atomically."""
    from safetensors.torch import save_file

    tmp = ckpt / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    # tied weights: lm_head.weight is transformer.wte.weight, stored once
    weights = {k: v.contiguous() for k, v in model.state_dict().items() if k != "lm_head.weight"}
    save_file(weights, tmp / "model.safetensors", metadata={"format": "pt"})
    save_file(optimizer_tensors(opt), tmp / "optimizer.safetensors")
    (tmp / "state.json").write_text(json.dumps(state, indent=1))
    model.config.to_json_file(str(tmp / "config.json"))
    for name in ("model.safetensors", "optimizer.safetensors", "state.json", "config.json"):
        (tmp / name).replace(ckpt / name)
    tmp.rmdir()


def export_model(ckpt: Path, export_dir: Path, metrics: dict) -> None:
    """Copy the checkpoint's model and tokenizer into the package (fp16 weights)."""
    from safetensors.torch import load_file, save_file

    export_dir.mkdir(parents=True, exist_ok=True)
    weights = load_file(str(ckpt / "model.safetensors"))
    # tied weights are stored once (lm_head.weight is wte.weight)
    weights = {k: v.half() for k, v in weights.items() if k != "lm_head.weight"}
    save_file(weights, str(export_dir / "model.safetensors"), metadata={"format": "pt"})
    shutil.copy(ckpt / "config.json", export_dir / "config.json")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (ckpt / name).exists():
            shutil.copy(ckpt / name, export_dir / name)
    shutil.copy(ckpt / "heldout.txt", export_dir / "heldout.txt")
    record = dict(metrics)
    record["config"] = {
        **record.get("config", {}),
        **{
            key: portable_path(record.get("config", {}).get(key))
            for key in ("checkpoint_dir", "export_dir")
        },
    }
    if (ckpt / "corpus.json").exists():
        record["corpus"] = json.loads((ckpt / "corpus.json").read_text())
    (export_dir / "training.json").write_text(json.dumps(record, indent=1))
    if (ckpt / "log.jsonl").exists():
        shutil.copy(ckpt / "log.jsonl", export_dir / "training_log.jsonl")
    shipped_ngrams = DEFAULT_MODEL_DIR / "ngram.npz"
    same_tokenizer = (DEFAULT_MODEL_DIR / "tokenizer.json").is_file() and (
        DEFAULT_MODEL_DIR / "tokenizer.json"
    ).read_bytes() == (export_dir / "tokenizer.json").read_bytes()
    if not (export_dir / "ngram.npz").exists() and shipped_ngrams.is_file() and same_tokenizer:
        shutil.copy(shipped_ngrams, export_dir / "ngram.npz")  # same token ids: still valid
    # serving options beside the weights: the FIM layout the model was trained with
    options_path = export_dir / "superpose.json"
    try:
        options = json.loads(options_path.read_text())
    except (OSError, ValueError):
        options = {}
    options["fim_mode"] = metrics.get("config", {}).get("fim_mode", "psm")
    # a calibration belongs to the weights it was fitted on: new weights need a new one
    # (superpose-ls calibrate); until then ghost text is shown uncut
    options.pop("confidence", None)
    options.pop("calibration", None)
    options_path.write_text(json.dumps(options, indent=1) + "\n")


def portable_path(path: str | None) -> str | None:
    """Return ``path`` relative to the project (or the working directory) when inside it.

    Recorded paths must not name the build machine's directories.
    """
    if not path:
        return path
    resolved = Path(path).resolve()
    for root in (DEFAULT_MODEL_DIR.parent.parent, Path.cwd()):
        try:
            return resolved.relative_to(root.resolve()).as_posix()
        except ValueError:
            continue
    return Path(path).name


# -------------------------------------------------------------------- main


def prepare(cfg: TrainConfig) -> tuple[Path, object, np.ndarray, np.ndarray]:
    """Return (checkpoint dir, tokenizer, train stream, held-out stream), creating them once."""
    ckpt = Path(cfg.checkpoint_dir)
    ckpt.mkdir(parents=True, exist_ok=True)
    train_files, heldout_files = split_files()
    if cfg.corpus_limit:
        train_files = train_files[: cfg.corpus_limit]
        heldout_files = heldout_files[: max(1, cfg.corpus_limit // 4)]
    if not (ckpt / "tokenizer.json").exists():
        log.info("training tokenizer (vocab %d) on %d files", cfg.vocab_size, len(train_files))
        train_tokenizer(train_files, cfg.vocab_size, ckpt)
        (ckpt / "heldout.txt").write_text("\n".join(f.relpath for f in heldout_files) + "\n")
    tokenizer = load_tokenizer(ckpt)
    if not (ckpt / "train_ids.npy").exists():
        log.info("tokenising corpus")
        np.save(ckpt / "train_ids.npy", encode_files(tokenizer, train_files))
        np.save(ckpt / "heldout_ids.npy", encode_files(tokenizer, heldout_files))
    train_ids = np.load(ckpt / "train_ids.npy")
    if cfg.fim_mode not in ("psm", "spm"):
        raise ValueError(f"unknown fim_mode {cfg.fim_mode!r} (psm or spm)")
    if cfg.corpus == "extended":
        train_ids = extended_stream(ckpt, tokenizer, train_ids, heldout_files, cfg)
    elif cfg.corpus != "stdlib":
        raise ValueError(f"unknown corpus {cfg.corpus!r} (stdlib or extended)")
    return ckpt, tokenizer, train_ids, np.load(ckpt / "heldout_ids.npy")


def extended_stream(
    ckpt: Path, tokenizer, stdlib_ids: np.ndarray, heldout: list[CorpusFile], cfg: TrainConfig
) -> np.ndarray:
    """Return the ``extended`` stream: the stdlib split repeated, then the extra files.

    The extra files are tokenised once into ``extended_ids.npy``; ``corpus.json``
    records what went in (files and tokens per source, near-copies dropped).
    """
    path = ckpt / "extended_ids.npy"
    if not path.exists():
        extra, dropped = extended_files(heldout, cap=cfg.package_cap)
        if cfg.corpus_limit:
            extra = extra[: cfg.corpus_limit]
        log.info("tokenising %d extra files (%d near-copies dropped)", len(extra), len(dropped))
        ids = encode_files(tokenizer, extra)
        sources: dict[str, int] = {}
        for f in extra:
            key = f.relpath.split("/")[1] if f.relpath.startswith("site-packages/") else "stdlib"
            sources[key] = sources.get(key, 0) + 1
        licences = package_sources()
        manifest = {
            "extra_files": len(extra),
            "extra_tokens": int(len(ids)),
            "package_cap_chars": cfg.package_cap,
            "stdlib_repeats": cfg.stdlib_repeats,
            "files_per_source": sources,
            "packages": {
                key: licences.get(key, {"distribution": key, "license": "unknown"})
                for key in sorted(sources)
                if key != "stdlib"
            },
            "dropped": [f.relpath for f in dropped],
        }
        (ckpt / "corpus.json").write_text(json.dumps(manifest, indent=1))
        np.save(path, ids)
    return np.concatenate([stdlib_ids] * cfg.stdlib_repeats + [np.load(path)])


def warm_start_source(cfg: TrainConfig) -> Path | None:
    """Return the exported model directory to continue from, or None.

    Only when the checkpoint directory holds no checkpoint yet and the exported
    model has the architecture of ``cfg`` (same tokenizer size, layers, width, heads,
    positions): then training resumes from it instead of starting over.
    """
    ckpt, source = Path(cfg.checkpoint_dir), Path(cfg.export_dir)
    if not cfg.warm_start or (ckpt / "state.json").exists():
        return None
    needed = ("model.safetensors", "config.json", "tokenizer.json", "heldout.txt")
    if not all((source / name).is_file() for name in needed):
        return None
    if (ckpt / "tokenizer.json").exists() and (ckpt / "tokenizer.json").read_bytes() != (
        source / "tokenizer.json"
    ).read_bytes():
        return None  # this checkpoint directory has its own tokenizer: start from scratch
    try:
        config = json.loads((source / "config.json").read_text())
    except (OSError, ValueError):
        return None
    wanted = {
        "n_layer": cfg.n_layer,
        "n_embd": cfg.n_embd,
        "n_head": cfg.n_head,
        "n_positions": cfg.n_positions,
    }
    if any(config.get(key) != value for key, value in wanted.items()):
        log.info("exported model's shape differs from the config: training from scratch")
        return None
    return source


def _copy_tokenizer(source: Path, ckpt: Path) -> None:
    ckpt.mkdir(parents=True, exist_ok=True)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (source / name).exists() and not (ckpt / name).exists():
            shutil.copy(source / name, ckpt / name)
    if not (ckpt / "heldout.txt").exists():
        shutil.copy(source / "heldout.txt", ckpt / "heldout.txt")
    if (source / "training_log.jsonl").exists() and not (ckpt / "log.jsonl").exists():
        shutil.copy(source / "training_log.jsonl", ckpt / "log.jsonl")  # one continuous curve


def exported_heldout_loss(export_dir: Path) -> float | None:
    """Return the held-out loss recorded with the exported model, if any."""
    try:
        return float(json.loads((export_dir / "training.json").read_text())["heldout"]["loss"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def train(cfg: TrainConfig) -> dict:
    """Train (or resume) the default model; return the final held-out metrics."""
    from safetensors.torch import load_file

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    bf16 = cfg.bf16 if cfg.bf16 is not None else _cpu_has_bf16()
    source = warm_start_source(cfg)
    if source is not None:
        _copy_tokenizer(source, Path(cfg.checkpoint_dir))
    ckpt, tokenizer, train_ids, heldout_ids = prepare(cfg)
    log.info("corpus: %d train tokens, %d held-out tokens", len(train_ids), len(heldout_ids))
    model = build_model(cfg, tokenizer)
    opt = make_optimizer(model, cfg)
    state: dict = {"step": 0, "tokens": 0, "seconds": 0.0, "config": asdict(cfg)}
    if (ckpt / "state.json").exists():
        model.load_state_dict(load_file(str(ckpt / "model.safetensors")), strict=False)
        model.tie_weights()
        restore_optimizer(opt, load_file(str(ckpt / "optimizer.safetensors")))
        state.update(json.loads((ckpt / "state.json").read_text()))
        state["config"] = asdict(cfg)
        log.info("resumed at step %d (%d tokens)", state["step"], state["tokens"])
    elif source is not None:
        weights = {k: v.float() for k, v in load_file(str(source / "model.safetensors")).items()}
        model.load_state_dict(weights, strict=False)
        model.tie_weights()
        previous = json.loads((source / "training.json").read_text())
        state.update({k: previous[k] for k in ("step", "tokens", "seconds") if k in previous})
        state["heldout"] = previous.get("heldout")
        state["warm_restart"] = state["step"]
        log.info(
            "warm restart from %s at step %d (%d tokens)", source, state["step"], state["tokens"]
        )
    restart = state.get("warm_restart")
    sampler = BatchSampler(train_ids, tokenizer, cfg)
    model.train()
    step_model = torch.compile(model) if cfg.compile else model  # same parameters
    started = last_save = time.monotonic()
    tokens0 = state["tokens"]  # this process's throughput is measured from here
    logf = (ckpt / "log.jsonl").open("a")
    metrics: dict = state.get("heldout") or {}
    while state["step"] < cfg.total_steps:
        step = state["step"]
        # 1. learning rate of this step
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg, restart)
        # 2. forward/backward on one batch of windows
        x = sampler.batch(step)  # (B, T+1)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            logits = step_model(input_ids=x[:, :-1]).logits  # (B, T, V)
        loss = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1)
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        # 3. bookkeeping, evaluation and checkpoint
        state["step"] += 1
        state["tokens"] += x[:, :-1].numel()
        now = time.monotonic()
        elapsed = state["seconds"] + now - started
        out_of_time = cfg.max_minutes is not None and now - started > cfg.max_minutes * 60
        last = state["step"] >= cfg.total_steps or out_of_time
        record = {
            "step": state["step"],
            "loss": round(loss.item(), 4),
            "lr": lr_at(step, cfg, restart),
        }
        evaluate = state["step"] % cfg.eval_every == 0 or last
        if evaluate:
            metrics = heldout_metrics(model, heldout_ids, cfg)
            record.update({f"heldout_{k}": round(v, 4) for k, v in metrics.items()})
            run_seconds = max(now - started, 1e-9)
            record["tokens_per_s"] = round((state["tokens"] - tokens0) / run_seconds, 1)
            log.info("%s", record)
        if state["step"] % 10 == 0 or evaluate:
            logf.write(json.dumps(record) + "\n")
            logf.flush()
        if evaluate or now - last_save > cfg.checkpoint_minutes * 60:
            save_checkpoint(ckpt, model, opt, {**state, "seconds": elapsed, "heldout": metrics})
            last_save = now
        if evaluate and cfg.export_on_improve:
            export_if_better(ckpt, Path(cfg.export_dir))
        if out_of_time:
            break
    logf.close()
    if not (ckpt / "state.json").exists():  # nothing left to train after a warm restart
        return {**state, "heldout": metrics}
    return json.loads((ckpt / "state.json").read_text())


def export_if_better(ckpt: Path, export_dir: Path) -> bool:
    """Export the checkpoint when its held-out loss beats the exported model's."""
    final = json.loads((ckpt / "state.json").read_text())
    loss = (final.get("heldout") or {}).get("loss")
    shipped = exported_heldout_loss(export_dir)
    if loss is None or (shipped is not None and loss >= shipped):
        return False
    export_model(ckpt, export_dir, final)
    log.info("exported step %d (held-out loss %.4f < %s)", final["step"], loss, shipped)
    return True


def _cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags

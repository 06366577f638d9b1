"""Tiny random-weight models of every supported family, with locally trained tokenizers.

Nothing is downloaded: tokenizers are trained here with ``tokenizers`` on a few KB of
code, in the two conventions real models use:

* byte-level BPE (``Ġ`` = space; GPT-2, StarCoder, Qwen, DeepSeek-Coder, SmolLM2 style),
* SentencePiece-style BPE (``▁`` word starts, ``<0xNN>`` byte fallback pieces in the
  vocabulary; Llama, Code Llama, Gemma style),

each with the FIM sentinels of the family it stands for. Models are 2-layer, 32-wide
instances of the real transformers classes, so their input embeddings, cache classes,
grouped-query attention, rotary positions and sliding windows are the real ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from models.hf_compat import complete_config

CODE = [
    "def add(a, b):\n    return a + b\n",
    "class Foo:\n    def __init__(self):\n        self.alpha = 1\n        self.beta = 2\n",
    "import os\nprint(os.path.join('a', 'b'))\n",
    "for i in range(10):\n    x = i * 2\n    print(x)\n",
    "if x == 1:\n    y = 2\nelif x == 2:\n    y = 3\nelse:\n    y = 4\n",
    "assert f(1) == 2\nassert g(7) == 9\n",
    "def total(items):\n    result = 0\n    for item in items:\n        result += item.value\n"
    "    return result\n",
    "class Shape:\n    def area(self):\n        raise NotImplementedError\n\n"
    "    def describe(self):\n        return f'{self.name}: {self.area()}'\n",
    "values = [x * x for x in range(5) if x % 2]\nmapping = {'key': values, 'name': 'café'}\n",
] * 12

BYTE_FIM = {
    "starcoder": ["<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>"],
    "qwen": ["<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>"],
    "deepseek": [
        "<\uff5cfim\u2581begin\uff5c>",
        "<\uff5cfim\u2581hole\uff5c>",
        "<\uff5cfim\u2581end\uff5c>",
    ],
    "none": [],
}
CODELLAMA_FIM = ["\u2581<PRE>", "\u2581<SUF>", "\u2581<MID>", "\u2581<EOT>"]


@lru_cache(maxsize=8)
def byte_bpe_tokenizer(fim: str = "starcoder", vocab_size: int = 420) -> Any:
    """Return a GPT-2 style byte-level BPE tokenizer with one family's FIM sentinels."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    eos = "<\uff5cend\u2581of\u2581sentence\uff5c>" if fim == "deepseek" else "<|endoftext|>"
    specials = [eos, *BYTE_FIM[fim]]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CODE, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=eos,
        bos_token=eos,
        additional_special_tokens=BYTE_FIM[fim],
    )


@lru_cache(maxsize=4)
def sentencepiece_tokenizer(fim: str = "codellama", vocab_size: int = 700) -> Any:
    """Return a Llama style tokenizer: ``▁`` word starts, ``<0xNN>`` byte-fallback pieces.

    The 256 byte pieces (and Code Llama's ``▁<PRE>``-style sentinels) are ordinary
    vocabulary entries, as in the real SentencePiece conversions, not added tokens.
    """
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    metaspace = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    probe = Tokenizer(models.BPE(unk_token="<unk>"))
    probe.pre_tokenizer = metaspace
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False
    )
    probe.train_from_iterator(CODE, trainer=trainer)
    trained = json.loads(probe.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece in sorted(trained["vocab"], key=trained["vocab"].get):
        vocab.setdefault(piece, len(vocab))
    if fim == "codellama":
        for piece in CODELLAMA_FIM:
            vocab.setdefault(piece, len(vocab))
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in trained["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = metaspace
    tok.decoder = decoders.Sequence(
        [
            decoders.Replace("\u2581", " "),
            decoders.ByteFallback(),
            decoders.Fuse(),
            decoders.Strip(" ", 1, 0),
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    )


@dataclass(frozen=True)
class Family:
    """One architecture as users meet it: its transformers config and tokenizer style."""

    name: str
    tokenizer: str  # "byte:<fim>" or "sp:<fim>"
    fim_family: str | None  # what models.loader.fim_tokens must detect
    sliding_window: int | None = None

    def build_tokenizer(self) -> Any:
        kind, fim = self.tokenizer.split(":")
        return byte_bpe_tokenizer(fim) if kind == "byte" else sentencepiece_tokenizer(fim)

    def build_model(self, vocab_size: int, eos: int, seed: int = 0) -> Any:
        import transformers as tf

        torch.manual_seed(seed)
        common = {"vocab_size": vocab_size, "eos_token_id": eos, "bos_token_id": eos}
        llama_like = {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "num_key_value_heads": 2,  # grouped-query attention
            "max_position_embeddings": 256,
            **common,
        }
        name = self.name.split("-")[0]
        if name == "gpt2":
            config = tf.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=256, **common)
            return tf.GPT2LMHeadModel(config)
        if name == "llama":
            return tf.LlamaForCausalLM(tf.LlamaConfig(**llama_like))
        if name == "qwen2":
            config = tf.Qwen2Config(
                **llama_like,
                use_sliding_window=True,
                sliding_window=self.sliding_window,
                max_window_layers=1,  # layer 1 attends within the window
            )
            return tf.Qwen2ForCausalLM(config)
        if name == "starcoder2":
            config = tf.Starcoder2Config(**llama_like, sliding_window=self.sliding_window)
            return tf.Starcoder2ForCausalLM(config)
        if name == "mistral":
            config = tf.MistralConfig(**llama_like, sliding_window=self.sliding_window)
            return tf.MistralForCausalLM(config)
        if name == "gemma":
            config = tf.GemmaConfig(**{**llama_like, "num_key_value_heads": 1}, head_dim=8)
            return tf.GemmaForCausalLM(config)
        if name == "phi":
            config = tf.PhiConfig(
                **{**llama_like, "num_key_value_heads": 4}, partial_rotary_factor=0.5
            )
            # as models.loader does for a config from disk (transformers 5.0's PhiConfig
            # has no pad_token_id)
            return tf.PhiForCausalLM(complete_config(config))
        if name == "gptbigcode":
            config = tf.GPTBigCodeConfig(
                n_embd=32, n_layer=2, n_head=4, n_positions=256, multi_query=True, **common
            )
            return tf.GPTBigCodeForCausalLM(config)
        if name == "gptneox":
            config = tf.GPTNeoXConfig(
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=4,
                max_position_embeddings=256,
                rotary_pct=0.25,
                **common,
            )
            return tf.GPTNeoXForCausalLM(config)
        if name == "codegen":
            config = tf.CodeGenConfig(
                n_embd=32, n_layer=2, n_head=4, rotary_dim=4, n_positions=256, n_ctx=256, **common
            )
            return tf.CodeGenForCausalLM(config)
        raise ValueError(f"unknown family {self.name}")


FAMILIES: tuple[Family, ...] = (
    Family("gpt2", "byte:starcoder", "starcoder"),
    Family("llama-smollm2", "byte:starcoder", "starcoder"),
    Family("llama-codellama", "sp:codellama", "codellama"),
    Family("llama-deepseek", "byte:deepseek", "deepseek-coder"),
    Family("qwen2", "byte:qwen", "qwen2.5-coder", sliding_window=12),
    Family("starcoder2", "byte:starcoder", "starcoder", sliding_window=12),
    Family("mistral", "sp:none", None, sliding_window=12),
    Family("gptbigcode", "byte:starcoder", "starcoder"),
    Family("gptneox", "byte:none", None),
    Family("phi", "byte:none", None),
    Family("gemma", "sp:none", None),
    Family("codegen", "byte:none", None),
)
FAMILY_NAMES = tuple(f.name for f in FAMILIES)


@lru_cache(maxsize=16)
def family_lm(name: str, seed: int = 0) -> Any:
    """Return a LoadedModel of the tiny ``name`` family model (cached per session)."""
    from models.loader import wrap_model

    family = next(f for f in FAMILIES if f.name == name)
    tokenizer = family.build_tokenizer()
    model = family.build_model(len(tokenizer), tokenizer.eos_token_id, seed)
    return wrap_model(model, tokenizer, name=f"tiny-{name}")

"""Shared fixtures: tiny tokenizers and randomly initialised models built in memory."""

from __future__ import annotations

import pytest
import torch

# tiny models run one token at a time: more threads only add contention
torch.set_num_threads(1)

# property tests assert behaviour, never speed: no per-example deadline (a loaded CI
# machine must not turn a slow example into a failure)
try:
    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("superpose", deadline=None)
    _hypothesis_settings.load_profile("superpose")
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass


@pytest.fixture(autouse=True)
def cold_analysis():
    """Every test starts without environments kept by an earlier test's requests."""
    from analysis.context import clear_environments

    clear_environments()
    yield
    clear_environments()


TINY_CORPUS = [
    "def add(a, b):\n    return a + b\n",
    "class Foo:\n    def __init__(self):\n        self.alpha = 1\n        self.beta = 2\n",
    "import os\nprint(os.path.join('a', 'b'))\n",
    "for i in range(10):\n    x = i * 2\n    print(x)\n",
    "if x == 1:\n    y = 2\nelif x == 2:\n    y = 3\nelse:\n    y = 4\n",
    "assert f(1) == 2\nassert g(7) == 9\n",
] * 20


def build_tiny_tokenizer(vocab_size: int = 300):
    """Return a byte-level BPE HF tokenizer trained on a tiny code corpus."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from models.training import EOS, FIM_MIDDLE, FIM_PAD, FIM_PREFIX, FIM_SUFFIX, SPECIAL_TOKENS

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TINY_CORPUS, trainer=trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS,
        bos_token=EOS,
        pad_token=FIM_PAD,
        additional_special_tokens=[FIM_PREFIX, FIM_MIDDLE, FIM_SUFFIX],
    )


def build_tiny_lm(seed: int = 0, n_layer: int = 2, n_embd: int = 32, tokenizer=None):
    """Return a LoadedModel wrapping a random tiny GPT-2 (no downloads)."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    from models.loader import wrap_model

    tokenizer = tokenizer or build_tiny_tokenizer()
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=n_embd,
        n_layer=n_layer,
        n_head=2,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
    )
    model = GPT2LMHeadModel(config)
    return wrap_model(model, tokenizer, name="tiny")


@pytest.fixture(scope="session")
def tiny_tokenizer():
    return build_tiny_tokenizer()


@pytest.fixture(scope="session")
def tiny_lm(tiny_tokenizer):
    return build_tiny_lm(tokenizer=tiny_tokenizer)

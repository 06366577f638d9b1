"""Training on a tiny slice of the stdlib: checkpoints, resume, export, loadable result."""

from __future__ import annotations

import json

import pytest

from models.loader import load_model
from models.training import TrainConfig, export_model, lr_at, train


def tiny_config(tmp_path, steps: int) -> TrainConfig:
    return TrainConfig(
        checkpoint_dir=str(tmp_path / "ckpt"),
        export_dir=str(tmp_path / "export"),
        vocab_size=400,
        n_layer=1,
        n_embd=32,
        n_head=2,
        n_positions=64,
        seq_len=32,
        batch_size=2,
        total_steps=steps,
        warmup_steps=2,
        eval_every=3,
        eval_windows=4,
        corpus_limit=4,
        threads=1,
    )


def test_train_resume_export_and_load(tmp_path):
    first = train(tiny_config(tmp_path, 3))
    assert first["step"] == 3 and first["heldout"]["loss"] > 0
    log = [json.loads(x) for x in (tmp_path / "ckpt" / "log.jsonl").read_text().splitlines()]
    assert any("heldout_acc" in r for r in log)
    resumed = train(tiny_config(tmp_path, 6))  # continues from step 3
    assert resumed["step"] == 6 and resumed["tokens"] == 6 * 2 * 32
    export_model(tmp_path / "ckpt", tmp_path / "export", resumed)
    lm = load_model(tmp_path / "export", "cpu")
    assert lm.fim is not None  # FIM sentinels are in the tokenizer
    assert lm.vocab_size == len(lm.tokenizer)
    assert (tmp_path / "export" / "heldout.txt").read_text().strip()


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=1.0, min_lr_ratio=0.1, warmup_steps=10, total_steps=110)
    assert lr_at(0, cfg) == pytest.approx(0.1)
    assert lr_at(9, cfg) == pytest.approx(1.0)
    assert lr_at(60, cfg) == pytest.approx(0.55)
    assert lr_at(110, cfg) == pytest.approx(0.1)

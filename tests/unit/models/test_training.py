"""Training on a tiny slice of the stdlib: checkpoints, resume, export, loadable result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

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


def test_learning_rate_schedule_of_a_continued_stage():
    cfg = TrainConfig(lr=1.0, min_lr_ratio=0.1, warmup_steps=10, total_steps=210, stage_start=100)
    assert lr_at(100, cfg) == pytest.approx(0.1)  # warm-up again from the stage start
    assert lr_at(109, cfg) == pytest.approx(1.0)
    assert lr_at(160, cfg) == pytest.approx(0.55)
    assert lr_at(210, cfg) == pytest.approx(0.1)


def test_extended_corpus_resumes_a_stdlib_checkpoint(tmp_path, monkeypatch):
    from models import training
    from models.corpus import CorpusFile

    extra = tmp_path / "extra.py"
    extra.write_text("def extra_function(value):\n    return value + 1\n" * 20)
    monkeypatch.setattr(
        training, "extended_files", lambda heldout, cap: ([CorpusFile("test/x.py", extra)], [])
    )
    train(tiny_config(tmp_path, 3))
    cfg = tiny_config(tmp_path, 6)
    cfg.corpus, cfg.stage_start, cfg.stdlib_repeats = "extended", 3, 2
    resumed = train(cfg)
    assert resumed["step"] == 6
    ckpt = tmp_path / "ckpt"
    manifest = json.loads((ckpt / "corpus.json").read_text())
    assert manifest["extra_files"] == 1 and manifest["files_per_source"] == {"stdlib": 1}
    _, _, stream, _ = training.prepare(cfg)
    stdlib = np.load(ckpt / "train_ids.npy")
    extra_ids = np.load(ckpt / "extended_ids.npy")
    assert manifest["extra_tokens"] == len(extra_ids) > 0
    assert len(stream) == 2 * len(stdlib) + len(extra_ids)
    assert (stream[len(stdlib) : 2 * len(stdlib)] == stdlib).all()


def test_unknown_corpus_is_refused(tmp_path):
    cfg = tiny_config(tmp_path, 1)
    cfg.corpus = "everything"
    with pytest.raises(ValueError, match="unknown corpus"):
        train(cfg)


def test_line_fim_samples_keep_the_middle_within_one_line():
    from models.loader import DEFAULT_MODEL_DIR
    from models.training import BatchSampler, load_tokenizer

    tok = load_tokenizer(DEFAULT_MODEL_DIR)
    code = "def area(shape, scale=1.0):\n    width = shape.width * scale\n    return width\n" * 30
    stream = np.asarray(tok(code)["input_ids"], dtype=np.uint16)
    cfg = TrainConfig(seq_len=64, batch_size=16, fim_rate=1.0, fim_line_rate=1.0)
    sampler = BatchSampler(stream, tok, cfg)
    pre, suf, mid, eos = sampler.pre, sampler.suf, sampler.mid, sampler.eos
    shapes = set()
    for step in range(8):
        for row in sampler.batch(step).tolist():
            assert row[0] == pre and row[-1] == eos and len(row) == cfg.seq_len + 1
            s, m = row.index(suf), row.index(mid)
            prefix, suffix, middle = row[1:s], row[s + 1 : m], row[m + 1 : -1]
            # the sample is a rearranged window, and its middle lies within one line
            window = prefix + middle + suffix
            start = int(np.flatnonzero(stream == window[0])[0]) if window else 0
            assert any(
                list(stream[k : k + len(window)]) == window for k in range(start, len(stream))
            )
            text = tok.decode(middle)
            body = text.lstrip(" \n") if text.startswith("\n") else text
            assert "\n" not in body
            after = tok.decode(suffix[:1])
            shapes.add("eol" if after.startswith("\n") else "mid")
    assert shapes == {"eol", "mid"}  # both end-of-line and mid-line middles occur


def test_spm_samples_put_the_suffix_first_and_continue_the_prefix():
    from models.loader import DEFAULT_MODEL_DIR
    from models.training import BatchSampler, load_tokenizer

    tok = load_tokenizer(DEFAULT_MODEL_DIR)
    code = "def area(shape, scale=1.0):\n    width = shape.width * scale\n    return width\n" * 30
    stream = np.asarray(tok(code)["input_ids"], dtype=np.uint16)
    cfg = TrainConfig(seq_len=64, batch_size=8, fim_rate=1.0, fim_mode="spm")
    sampler = BatchSampler(stream, tok, cfg)
    psm = BatchSampler(stream, tok, TrainConfig(seq_len=64, batch_size=8, fim_rate=1.0))
    for step in range(4):
        for row, twin in zip(sampler.batch(step).tolist(), psm.batch(step).tolist(), strict=True):
            assert row[:2] == [sampler.pre, sampler.suf] and row[-1] == sampler.eos
            m = row.index(sampler.mid)
            # the same split as the PSM sample of this step: suffix first, then prefix+middle
            s, pm = twin.index(psm.suf), twin.index(psm.mid)
            assert row[2:m] == twin[s + 1 : pm]
            assert row[m + 1 : -1] == twin[1:s] + twin[pm + 1 : -1]


def test_export_records_the_fim_layout(tmp_path):
    cfg = tiny_config(tmp_path, 2)
    cfg.fim_mode = "spm"
    final = train(cfg)
    export_model(tmp_path / "ckpt", tmp_path / "export", final)
    options = json.loads((tmp_path / "export" / "superpose.json").read_text())
    assert options == {"fim_mode": "spm"}
    # a calibration fitted on older weights does not survive a new export
    stale = {"fim_mode": "spm", "confidence": {"weights": []}, "calibration": {}}
    (tmp_path / "export" / "superpose.json").write_text(json.dumps(stale))
    export_model(tmp_path / "ckpt", tmp_path / "export", final)
    assert json.loads((tmp_path / "export" / "superpose.json").read_text()) == {"fim_mode": "spm"}
    lm = load_model(tmp_path / "export", "cpu")
    assert lm.fim_mode == "spm" and lm.fim is not None


def test_warm_restart_continues_the_exported_model_on_a_new_machine(tmp_path):
    from safetensors.torch import load_file

    from models.training import lr_at

    first = tiny_config(tmp_path, 3)
    first.export_on_improve = True  # the first evaluation beats "no exported model"
    train(first)
    exported = json.loads((tmp_path / "export" / "training.json").read_text())
    assert exported["step"] == 3
    assert not exported["config"]["export_dir"].startswith("/")  # no build-machine paths
    # a new machine: the checkpoint directory is gone, the exported model is there
    cfg = tiny_config(tmp_path, 6)
    cfg.checkpoint_dir = str(tmp_path / "fresh")
    cfg.eval_every = 100
    resumed = train(cfg)
    assert resumed["step"] == 6 and resumed["tokens"] == 6 * 2 * 32
    assert resumed["warm_restart"] == 3
    fresh = tmp_path / "fresh"
    assert (fresh / "tokenizer.json").read_bytes() == (
        tmp_path / "export" / "tokenizer.json"
    ).read_bytes()
    log = [json.loads(x) for x in (fresh / "log.jsonl").read_text().splitlines()]
    assert log[0]["step"] <= 3  # the exported run's curve continues in the new log
    # the re-warm-up ramps the schedule's rate from the restart step
    assert lr_at(3, cfg, restart=3) == pytest.approx(lr_at(3, cfg) / cfg.rewarm_steps)
    assert lr_at(3 + cfg.rewarm_steps, cfg, restart=3) == lr_at(3 + cfg.rewarm_steps, cfg)
    # weights moved on from the exported ones
    before = load_file(str(tmp_path / "export" / "model.safetensors"))
    after = load_file(str(fresh / "model.safetensors"))
    assert any(not torch.equal(before[k].float(), after[k].float()) for k in before)


def test_warm_restart_is_skipped_when_the_shape_differs(tmp_path):
    first = tiny_config(tmp_path, 2)
    first.export_on_improve = True
    train(first)
    cfg = tiny_config(tmp_path, 2)
    cfg.checkpoint_dir = str(tmp_path / "wider")
    cfg.n_embd = 48
    result = train(cfg)
    assert result["step"] == 2 and "warm_restart" not in result


def test_checkpoints_are_written_on_a_clock_between_evaluations(tmp_path, monkeypatch):
    from models import training

    saved: list[int] = []
    real = training.save_checkpoint

    def spy(ckpt, model, opt, state):
        saved.append(state["step"])
        real(ckpt, model, opt, state)

    monkeypatch.setattr(training, "save_checkpoint", spy)
    cfg = tiny_config(tmp_path, 3)
    cfg.eval_every, cfg.checkpoint_minutes = 100, 0.0
    train(cfg)
    assert saved == [1, 2, 3]  # every step on a zero interval; the last one evaluates too


def test_compiled_training_step_trains_the_same_parameters(tmp_path):
    cfg = tiny_config(tmp_path, 2)
    cfg.compile = True
    result = train(cfg)
    assert result["step"] == 2 and result["heldout"]["loss"] > 0
    lm = load_model(tmp_path / "ckpt", "cpu")  # plain (uncompiled) weights were saved
    assert lm.parameter_count() > 0

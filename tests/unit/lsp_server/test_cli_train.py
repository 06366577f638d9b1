"""`superpose-ls train` maps its options onto TrainConfig and exports only better models."""

from __future__ import annotations

import json

import pytest

from lsp_server import cli


@pytest.fixture
def captured(monkeypatch, tmp_path):
    import models.training as training

    seen = {}

    def fake_train(cfg):
        seen["cfg"] = cfg
        return {"heldout": {"loss": seen.get("loss", 3.0)}}

    def fake_export(ckpt, export_dir, final):
        seen["exported"] = (str(ckpt), str(export_dir))

    monkeypatch.setattr(training, "train", fake_train)
    monkeypatch.setattr(training, "export_model", fake_export)
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "training.json").write_text(json.dumps({"heldout": {"loss": 3.2}}))
    return seen


def test_train_options_reach_the_config(captured, tmp_path):
    code = cli.main(
        [
            "train",
            "--checkpoint-dir", str(tmp_path / "ckpt"),
            "--export-dir", str(tmp_path / "export"),
            "--corpus", "extended",
            "--stage-start", "1800",
            "--steps", "5600",
            "--lr", "1e-3",
            "--warmup", "100",
            "--fim-line-rate", "0.25",
        ]
    )  # fmt: skip
    assert code == 0
    cfg = captured["cfg"]
    assert (cfg.corpus, cfg.stage_start, cfg.total_steps) == ("extended", 1800, 5600)
    assert (cfg.lr, cfg.warmup_steps, cfg.fim_line_rate) == (1e-3, 100, 0.25)
    assert captured["exported"][1] == str(tmp_path / "export")  # 3.0 < 3.2: exported


def test_a_worse_model_is_not_exported(captured, tmp_path, capsys):
    captured["loss"] = 3.5
    args = ["train", "--checkpoint-dir", str(tmp_path / "c"), "--export-dir"]
    assert cli.main([*args, str(tmp_path / "export")]) == 0
    assert "exported" not in captured
    assert "not exported" in capsys.readouterr().err


def test_unknown_corpus_is_a_usage_error(captured, capsys):
    assert cli.main(["train", "--corpus", "everything"]) == 2
    assert "invalid choice" in capsys.readouterr().err
    assert "cfg" not in captured

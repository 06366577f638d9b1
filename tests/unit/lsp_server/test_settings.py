"""Typed settings: defaults, nesting, unknown keys and invalid values degrade gracefully."""

from __future__ import annotations

from lsp_server.settings import Settings, merge_settings


def test_defaults_match_design():
    s = Settings()
    assert (s.model, s.device, s.drafts, s.decoder, s.maxNewTokens) == (
        "default",
        "auto",
        4,
        "superposed",
        48,
    )
    assert s.monitor and s.repetitionPenalty and s.ngram and s.verify
    assert s.multiline == "auto"


def test_flat_and_nested_forms():
    flat, m1 = merge_settings(Settings(), {"drafts": 3, "decoder": "beam"})
    nested, m2 = merge_settings(Settings(), {"superpose": {"drafts": 3, "decoder": "beam"}})
    assert flat == nested and flat.drafts == 3 and flat.decoder == "beam"
    assert m1 == m2 == []


def test_unknown_keys_are_reported_and_ignored():
    s, messages = merge_settings(Settings(), {"colour": "blue", "drafts": 2})
    assert s.drafts == 2
    assert any("colour" in m for m in messages)


def test_invalid_values_keep_previous_value():
    base = Settings(drafts=6)
    s, messages = merge_settings(
        base, {"drafts": "many", "monitor": "yes", "decoder": "magic", "maxNewTokens": 0}
    )
    assert s == base
    assert len(messages) == 4


def test_non_object_settings_are_ignored():
    s, messages = merge_settings(Settings(), ["drafts", 3])
    assert s == Settings() and messages
    assert merge_settings(Settings(), None) == (Settings(), [])

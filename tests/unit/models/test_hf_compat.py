"""models.hf_compat: configs completed where a supported transformers release leaves out
an attribute its model classes read."""

from __future__ import annotations

from models.hf_compat import complete_config


def test_configs_get_the_attributes_model_classes_read():
    class Bare:  # a config of a release that does not define pad_token_id
        eos_token_id = 0

    completed = complete_config(Bare())
    assert completed.pad_token_id is None and completed.eos_token_id == 0

    class Padded:
        pad_token_id = 5

    assert complete_config(Padded()).pad_token_id == 5

"""The ``dtype`` and ``quantize`` load options (issue 18): bf16 weights, dynamic int8 linears."""

from __future__ import annotations

import pytest
import torch
from model_families_testing import family_lm

from models.decoding import DecodeRequest, greedy_decode
from models.hf_compat import model_forward
from models.loader import ModelLoadError, load_model, quantize_int8
from models.superposed import superposed_decode

PROMPT = "class Foo:\n    def __init__(self):\n        self.alpha = 1\n        self.beta = 2\n"


@pytest.fixture(scope="module", params=["gpt2", "llama-codellama"])
def saved(request, tmp_path_factory):
    lm = family_lm(request.param)
    directory = tmp_path_factory.mktemp(request.param)
    lm.model.save_pretrained(str(directory), safe_serialization=True)
    lm.tokenizer.save_pretrained(str(directory))
    return directory


def top_tokens(lm, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        logits, _ = model_forward(lm.model, input_ids=torch.tensor([ids]), use_cache=False)
    return logits[0].float().argmax(-1)  # (T,)


def test_int8_quantises_every_linear_layer_and_keeps_decoding(saved, monkeypatch, tmp_path):
    monkeypatch.setenv("SUPERPOSE_CACHE_DIR", str(tmp_path))
    fp32 = load_model(saved, "cpu")
    int8 = load_model(saved, "cpu", quantize="int8")
    assert int8.quantize == "int8" and fp32.quantize == "none"
    from torch.ao.nn.quantized.dynamic import Linear as DynamicInt8Linear

    modules = list(int8.model.modules())
    assert sum(isinstance(m, DynamicInt8Linear) for m in modules) >= 8
    assert not any(type(m) is torch.nn.Linear for m in modules)
    assert not any(type(m).__name__ == "Conv1D" for m in modules)  # GPT-2's converted too
    ids = fp32.encode(PROMPT * 3)
    agreement = float((top_tokens(fp32, ids) == top_tokens(int8, ids)).float().mean())
    assert agreement >= 0.8  # int8 rounding moves few argmaxes, even of a random model
    req = DecodeRequest(prompt_ids=ids[:30], max_new_tokens=8)
    greedy = greedy_decode(int8, req)
    one = superposed_decode(
        int8, DecodeRequest(prompt_ids=ids[:30], max_new_tokens=8, verify=False)
    )
    assert one.drafts[0].token_ids == greedy.drafts[0].token_ids  # k=1 = greedy, in int8 too
    four = superposed_decode(int8, DecodeRequest(prompt_ids=ids[:30], max_new_tokens=8, k=4))
    assert four.forward_calls == 8 and four.drafts


def test_bfloat16_weights_decode_and_mostly_agree(saved, monkeypatch, tmp_path):
    monkeypatch.setenv("SUPERPOSE_CACHE_DIR", str(tmp_path))
    fp32 = load_model(saved, "cpu", dtype="float32")
    bf16 = load_model(saved, "cpu", dtype="bfloat16")
    assert bf16.dtype == torch.bfloat16
    assert next(bf16.model.parameters()).dtype == torch.bfloat16
    ids = fp32.encode(PROMPT * 3)
    agreement = float((top_tokens(fp32, ids) == top_tokens(bf16, ids)).float().mean())
    assert agreement >= 0.8
    greedy = greedy_decode(bf16, DecodeRequest(prompt_ids=ids[:30], max_new_tokens=8))
    one = superposed_decode(
        bf16, DecodeRequest(prompt_ids=ids[:30], max_new_tokens=8, verify=False)
    )
    assert one.drafts[0].token_ids == greedy.drafts[0].token_ids


def test_invalid_precision_options_are_refused(saved):
    with pytest.raises(ModelLoadError, match="dtype"):
        load_model(saved, "cpu", dtype="float8")
    with pytest.raises(ModelLoadError, match="quantize"):
        load_model(saved, "cpu", quantize="int4")
    with pytest.raises(ModelLoadError, match="float32"):
        quantize_int8(torch.nn.Sequential(torch.nn.Linear(4, 4)).to(torch.bfloat16))

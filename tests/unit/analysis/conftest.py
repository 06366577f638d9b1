"""Every analysis test runs three times: with each environment re-parsed whole, with only
the top-level statements around the edit re-parsed (the rest of the module read from the
document's own tree) wherever that is possible, and, where the edit is inside a class's
body, with only the class's header and the body statements around the edit re-parsed.
All must give the same answers."""

from __future__ import annotations

import pytest

import analysis.context


@pytest.fixture(autouse=True, params=["whole", "statement", "body"])
def environment_parse(request, monkeypatch):
    share = -1.0 if request.param == "whole" else 1.0
    monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", share)
    monkeypatch.setattr(analysis.context, "BODY_RANGES", request.param == "body")
    return request.param

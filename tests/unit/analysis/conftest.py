"""Every analysis test runs twice: with each environment re-parsed whole, and with only
the top-level statements around the edit re-parsed (the rest of the module read from the
document's own tree) wherever that is possible. Both must give the same answers."""

from __future__ import annotations

import pytest

import analysis.context


@pytest.fixture(autouse=True, params=["whole", "range"])
def environment_parse(request, monkeypatch):
    share = -1.0 if request.param == "whole" else 1.0
    monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", share)
    return request.param

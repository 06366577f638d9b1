"""Right after a '.', drafts start with the members people write there."""

from __future__ import annotations

import torch

from models.monitor import MemberMonitor, preferred_members

MEMBERS = frozenset({"alpha", "beta", "_cache", "__replace__", "__class__"})


def test_preferred_members():
    assert preferred_members(MEMBERS, own=False) == {"alpha", "beta"}
    assert preferred_members(MEMBERS, own=True) == {"alpha", "beta", "_cache"}
    dunders = frozenset({"__len__", "__iter__"})
    assert preferred_members(dunders, own=False) == dunders  # never empty


class Oracle:
    def members(self, extra, trim=0):
        return MEMBERS


def allowed_words(tiny_lm, tail: str, draft: str = "") -> set[str]:
    monitor = MemberMonitor(tiny_lm.table, Oracle(), tail, tiny_lm.eos_ids)
    ids = tiny_lm.encode(draft) if draft else []
    generated = torch.tensor([ids], dtype=torch.long).reshape(1, -1)  # (1, t)
    scores = monitor(generated, torch.zeros(1, tiny_lm.vocab_size))  # (1, V)
    allowed = torch.isfinite(scores[0]).nonzero().flatten().tolist()
    return {tiny_lm.table.texts[i] for i in allowed}


def test_the_mask_after_a_dot_leaves_out_dunders_and_others_privates(tiny_lm):
    other = allowed_words(tiny_lm, "x = obj.")
    assert other and all(not t.startswith("_") for t in other)
    own = allowed_words(tiny_lm, "        x = self.")
    assert any(t.startswith("_") and not t.startswith("__") for t in own) or "_" in own
    assert not any(t.startswith("__") for t in own)
    # typing "_" asks for private names: "_cache" may be spelled on ("c", "ca", ...)
    typed = allowed_words(tiny_lm, "x = obj._")
    assert any(t and "cache".startswith(t) for t in typed)
    assert not any(t and "lpha".startswith(t) for t in typed)  # "_alpha" is no member


class SelfOracle:
    """`self.` at a statement start: members known, new attributes may be assigned."""

    def members(self, extra, trim=0):
        return frozenset({"count", "step"})

    def assignable(self, extra, trim=0):
        return True


def test_new_attributes_must_reach_their_assignment(tiny_lm):
    monitor = MemberMonitor(tiny_lm.table, SelfOracle(), "    def go(self):\n        ", set())
    assert monitor.unfinished_attribute("self.total = 0") is None
    assert monitor.unfinished_attribute("self.total += 1") is None
    assert monitor.unfinished_attribute("self.count") is None  # a member: nothing to assign
    assert monitor.unfinished_attribute("self.tot") == len("self.")  # ends inside the name
    assert monitor.unfinished_attribute("self.total") == len("self.")
    assert monitor.unfinished_attribute("self.total\n        x = 1") == len("self.")
    assert monitor.unfinished_attribute("x = 1\n        self.totl") == len("x = 1\n        self.")


def test_asked_for_drafts_are_steered_to_members_where_new_names_are_allowed():
    from tests.unit.models.test_monitor import NEW_ID, NEW_TABLE, AssignableOracle

    tail = "class A:\n    def f(self):\n        self."
    scores = torch.zeros(1, NEW_TABLE.vocab_size)  # (1, V)
    outs = {}
    for steer in (False, True):
        monitor = MemberMonitor(NEW_TABLE, AssignableOracle(tail), tail, {0}, steer_new_names=steer)
        outs[steer] = monitor(torch.zeros(1, 0, dtype=torch.long), scores)[0]
        assert monitor.stats(())["monitor_preferred_steps"] == int(steer)
    plain, steered = outs[False], outs[True]
    # the same tokens stay possible: members and new names alike ...
    assert torch.equal(torch.isfinite(plain), torch.isfinite(steered))
    assert torch.isfinite(plain[NEW_ID["new"]]) and torch.isfinite(plain[NEW_ID["alpha"]])
    # ... but spelling a member ("alpha", "al") gets the bonus, a new name does not
    bonus = MemberMonitor(NEW_TABLE, AssignableOracle(tail), tail, {0}).prefer_bonus
    for member in ("alpha", "al"):
        assert steered[NEW_ID[member]] == plain[NEW_ID[member]] + bonus
    for new_name in ("new", "_", "attr"):
        assert steered[NEW_ID[new_name]] == plain[NEW_ID[new_name]]

"""DotPrompts over every dereference point (issue 14, item 6): the points and their judge,
the verdicts (valid / invalid / unknown, never inflated), the pipeline measured through its
own hooks, the summaries and the plug-in rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks import dotprompts as dp
from benchmarks.plugin import load
from lsp_server.pipeline import PipelineOptions
from models.monitor import MemberMonitor

SOURCE = """class Base:
    def ping(self):
        return 1


class Point(Base):
    def __init__(self, x):
        self.x = x

    def norm(self):
        return self.x * self.x


class Remote(dict):
    pass


def use(p: Point, q, text: str):
    p.norm()
    q.anything()
    text.upper()
    return Point(1).x
"""


@pytest.fixture(scope="module")
def points(tmp_path_factory) -> list[dp.DotPoint]:
    path = Path(tmp_path_factory.mktemp("dp")) / "geometry.py"
    path.write_text(SOURCE)
    return dp.file_points("geometry.py", path, SOURCE)


def point_at(points: list[dp.DotPoint], marker: str) -> dp.DotPoint:
    dot = SOURCE.index(marker) + marker.index(".")
    return next(p for p in points if p.dot == dot)


def test_every_member_access_is_a_point_with_the_judges_facts(points):
    assert len(points) == SOURCE.count(".")  # every "." here is a member access
    norm = point_at(points, "p.norm()")
    assert norm.target == "norm()" and norm.document.endswith(
        "    p.\n    q.anything()\n" + ("    text.upper()\n    return Point(1).x\n")
    )
    assert norm.judge is not None and {"norm", "ping", "x"} <= norm.judge
    assert norm.in_file_class  # Point and Base are defined in the file
    own = point_at(points, "self.x = x")
    assert own.in_file_class and own.target_assigned
    unknown = point_at(points, "q.anything")
    assert unknown.judge is None and not unknown.in_file_class
    literal = point_at(points, "text.upper")
    assert literal.judge is not None and not literal.in_file_class  # a builtin, not in-file
    call = point_at(points, "Point(1).x")
    assert call.judge is not None and not call.in_file_class  # a call, not `self.`/`obj.`


def test_verdicts_are_valid_invalid_or_unknown(points):
    norm = point_at(points, "p.norm()")
    assert dp.verdict("norm()", norm, None, False) == "valid"  # the file's own identifier
    assert dp.verdict("ping()", norm, None, False) == "valid"  # a member (judge)
    assert dp.verdict("size()", norm, None, False) == "invalid"
    assert dp.verdict("size()", norm, frozenset({"size"}), False) == "valid"  # request's set
    assert dp.verdict("", norm, None, False) == "invalid"  # nothing after the dot
    unknown = point_at(points, "q.anything")
    assert dp.verdict("anything()", unknown, None, False) == "valid"
    assert dp.verdict("other()", unknown, None, False) == "unknown"  # never counted valid
    own = point_at(points, "self.x = x")
    assert dp.verdict("x.y", own, frozenset({"norm"}), True) == "valid"  # x: the judge's
    assert dp.verdict("fresh = 1", own, frozenset({"norm"}), True) == "valid"  # new attribute
    assert dp.verdict("fresh = 1", own, frozenset({"norm"}), False) == "invalid"
    # a line that creates the attribute: spelling it is valid only as the assignment
    text = "def f(self):\n    self.fresh = 1\n"
    created = dp.DotPoint("f.py", "file:///f.py", text, text.index("."), "self", None, False, 2)
    assert created.target_assigned
    assert dp.verdict("fresh = 2", created, frozenset({"a"}), True) == "valid"
    assert dp.verdict("fresh.y", created, frozenset({"a"}), True) == "invalid"
    assert dp.verdict("fresh.y", created, None, False) == "unknown"


WRAPPER = """class Wrapper:
    def __init__(self, inner):
        self.inner = inner

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def size(self):
        return self.inner.size()
"""


def test_open_receivers_judge_declared_names_valid_and_others_unknown(tmp_path):
    path = tmp_path / "wrapper.py"
    path.write_text(WRAPPER)
    found = dp.file_points("wrapper.py", path, WRAPPER)
    dot = WRAPPER.index("self.inner.size") + len("self")
    point = next(p for p in found if p.dot == dot)
    assert point.judge is None  # __getattr__: any name may be served
    assert point.declared is not None and {"inner", "size"} <= point.declared
    assert dp.verdict("inner.size()", point, None, False) == "valid"  # the file's own
    assert dp.verdict("size()", point, None, False) == "valid"  # Wrapper declares it
    assert dp.verdict("other()", point, None, False) == "unknown"  # never counted valid
    # the class is defined in the file but its member set is open: counted, never a
    # target point (no identifier there can be judged invalid)
    assert not point.in_file_class and point.open_in_file_class
    closed = point_at(dp.file_points("geometry.py", path, SOURCE), "p.norm()")
    assert closed.declared is None  # the member set decides there
    assert closed.in_file_class and not closed.open_in_file_class


def test_samples_are_uniform_plus_distinct_in_file_points(points):
    uniform, extra = dp.sample_points(points, 3, 4, seed=1)
    assert len(uniform) == 3 and {p.key for p in uniform}.isdisjoint({p.key for p in extra})
    assert all(p.in_file_class for p in extra)
    again = dp.sample_points(points, 3, 4, seed=1)
    assert [p.key for p in again[0]] == [p.key for p in uniform]


def test_requests_run_through_the_pipeline_with_its_monitor_timed(tiny_lm, points):
    pipeline = dp.MeasuredPipeline(tiny_lm)
    norm = point_at(points, "p.norm()")
    options = PipelineOptions(k=2, decoder="superposed", multiline="never", max_new_tokens=4)
    row = dp.complete(pipeline, norm, dp.SUPERPOSED_ON, options, keystroke=True)
    assert row["resolved"] and 1 <= len(row["drafts"]) <= 2
    assert set(row["verdicts"]) <= {"valid", "invalid", "unknown"}
    # the monitor answered from the request's oracle: the first identifier is a member
    assert row["verdicts"][0] == "valid"
    assert row["analysis_ms"] >= row["oracle_ms"] > 0 and row["keystroke_analysis_ms"] > 0
    times = pipeline.times.summary()
    assert times.get("constrained", {}).get("count", 0) > 0
    # the pipeline still finds its monitor (the timed one is a MemberMonitor)
    found = pipeline.constraints(
        *_constraint_args(pipeline, norm), PipelineOptions(monitor=True), oracle=None
    )
    assert any(isinstance(c, MemberMonitor) and type(c) is dp.TimedMemberMonitor for c in found)
    off = dp.complete(
        pipeline,
        norm,
        dp.GREEDY_OFF,
        PipelineOptions(k=1, decoder="greedy", monitor=False, multiline="never", max_new_tokens=4),
    )
    assert off["resolved"] and off["constrained_steps"] == 0


def _constraint_args(pipeline, point):
    from analysis.document import Document
    from lsp_server.prompt import build_prompt

    doc = Document(point.uri, point.document, "python")
    prompt = build_prompt(pipeline.lm, point.document, point.offset, 4)
    return doc, point.offset, prompt, "python"


def test_summaries_and_rows_answer_every_target():
    def row(arm, verdicts, match, resolved, in_file, source="a.py", dot=1):
        return {
            "arm": arm,
            "verdicts": verdicts,
            "match": match,
            "drafts": ["x"] * len(verdicts),
            "resolved": resolved,
            "in_file_class": in_file,
            "uniform": True,
            "source": source,
            "dot": dot,
            "constrained_steps": 1,
            "definitions_tokens": 0,
            "analysis_ms": 3.0,
            "keystroke_analysis_ms": 1.0,
            "facts_ms": 1.0,
            "oracle_ms": 1.0,
            "definitions_ms": 1.0,
            "ms": 10.0,
        }

    big = dp.DotPoint("a.py", "file:///a.py", "x", 1, "p", None, True, 2500)
    small = dp.DotPoint("b.py", "file:///b.py", "x", 2, "q", None, False, 10)
    points = {big.key: big, small.key: small}
    rows = [
        row(dp.GREEDY_ON, ["valid"], [True], True, True),
        row(dp.GREEDY_ON, ["unknown"], [False], False, False, "b.py", 2),
    ]
    arm = dp.summarise_arm(rows, points)
    assert arm["valid_resolved"] == 1.0 and arm["valid_all"] == 0.5
    assert arm["unknown_all"] == 0.5 and arm["analysis_ms_large_files"]["count"] == 1
    result = {
        "arms": {dp.GREEDY_ON: arm, dp.GREEDY_OFF: arm, dp.SUPERPOSED_ON: arm},
        "in_file": {dp.GREEDY_ON: dp.summarise_in_file(rows[:1])},
        "coverage": {"share": 0.6, "points": 2, "resolved": 1},
        "monitor_overhead_ms": {},
    }
    rows_out = load("dotprompts").rows(result)
    declared = {t.key for t in dp.PLUGIN.targets}
    assert {r.target.key for r in rows_out if r.target is not None} == declared
    verdicts = {r.target.key: r.verdict() for r in rows_out if r.target is not None}
    assert verdicts["dotprompts.valid_member"] == "met"
    assert verdicts["dotprompts.resolved_share"] == "met"
    assert verdicts["dotprompts.next_identifier_gain"] == "**missed**"  # on == off
    assert verdicts["dotprompts.valid_drafts"] == "not measured"


def test_large_file_points_are_distinct_and_summarised_for_the_cost_target():
    def point(source, dot, lines):
        return dp.DotPoint(source, f"file:///{source}", "x", dot, "p", None, False, lines)

    pool = [point("big.py", d, 2500) for d in range(10)] + [point("small.py", 1, 50)]
    taken = {("big.py", 0), ("big.py", 1)}
    drawn = dp.sample_large(pool, 5, taken, seed=3)
    assert len(drawn) == 5 and all(p.lines >= dp.LARGE_FILE_LINES for p in drawn)
    assert not {p.key for p in drawn} & taken
    assert [p.key for p in dp.sample_large(pool, 5, taken, seed=3)] == [p.key for p in drawn]
    assert len(dp.sample_large(pool, 50, taken, seed=3)) == 8  # what there is
    rows = [
        {
            "source": "big.py",
            "analysis_ms": ms,
            "keystroke_analysis_ms": None,
            "facts_ms": 1.0,
            "oracle_ms": ms - 1.0,
        }
        for ms in (2.0, 4.0, 30.0)
    ]
    summary = dp.summarise_large(rows)
    assert summary["n"] == 3 and summary["files"] == ["big.py"]
    assert summary["analysis_ms"]["p50"] == 4.0 and summary["keystroke_analysis_ms"]["count"] == 0
    # the cost targets read these samples when the report has them: greedy's, and the
    # server's default decoding's (superposed), asked at the same large-file points
    default = dp.summarise_large([dict(r, analysis_ms=r["analysis_ms"] + 3.0) for r in rows])
    result = {
        "arms": {},
        "in_file": {},
        "coverage": {},
        "monitor_overhead_ms": {},
        "large_files": summary,
        "large_files_superposed": default,
    }
    found = {r.target: r for r in load("dotprompts").rows(result) if r.target is not None}
    cost, cost_k4 = found[dp.ANALYSIS], found[dp.ANALYSIS_DEFAULT]
    assert cost.measured == 4.0 and cost.verdict() == "met" and "n=3" in cost.value
    assert cost_k4.measured == 7.0 and cost_k4.verdict() == "**missed**"
    assert dp.arms_at("large", dp.FULL_ARMS) == [dp.GREEDY_ON, dp.SUPERPOSED_ON]
    assert dp.arms_at("large", [dp.GREEDY_OFF]) == []  # no large-file points drawn then
    assert dp.arms_at("uniform", dp.FULL_ARMS) == list(dp.FULL_ARMS)


def test_whole_reparse_flag_makes_every_environment_re_parse_the_whole_document(monkeypatch):
    import analysis.context

    monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", 0.25)
    # the flag is read before the arguments are checked: a bad count stops the run there
    assert dp.main(["--whole-reparse", "--prompts", "0"]) == 2
    assert analysis.context.RANGE_PARSE_SHARE < 0
    assert dp.environment_parse() == "whole document"


def test_statement_ranges_flag_makes_a_class_body_edit_re_parse_the_whole_class(monkeypatch):
    import analysis.context

    monkeypatch.setattr(analysis.context, "RANGE_PARSE_SHARE", 0.25)
    monkeypatch.setattr(analysis.context, "BODY_RANGES", True)
    assert "class's header" in dp.environment_parse()
    assert dp.main(["--statement-ranges", "--prompts", "0"]) == 2
    assert analysis.context.BODY_RANGES is False
    assert dp.environment_parse() == "top-level statements around the edit"

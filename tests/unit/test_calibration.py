"""Ghost-text calibration: positions from held-out segments, prefix labels, the threshold."""

from __future__ import annotations

from benchmarks.calibration import calibration_positions, choose, prefix_labels
from benchmarks.common import heldout_halves
from models.corpus import CorpusFile
from models.decoding import Draft

SOURCE = """def area(shape, scale=1.0):
    width = shape.width * scale
    height = shape.height * scale
    if width > height:
        return width * height
    return height * width


def volume(box):
    total = box.a * box.b
    total = total * box.c
    return total
"""


def test_positions_cut_segments_and_keep_the_code_after_them():
    positions = calibration_positions([("m.py", SOURCE)], 12, seed=3)
    assert len(positions) == 12
    for document, offset, truth in positions:
        assert truth  # the rest of the segment, from the cursor on
        assert document[:offset] + truth + document[offset:] == SOURCE
    assert calibration_positions([("m.py", SOURCE)], 12, seed=3) == positions


def test_prefix_labels_follow_the_truth_and_skip_the_healed_text(tiny_lm):
    ids = tiny_lm.encode("alpha = 1")
    draft = Draft(tiny_lm.table.decode(ids), ids, -1.0, "length")
    labels = prefix_labels(tiny_lm, draft, "", "alpha = 1\n")
    assert labels and all(labels)
    wrong = prefix_labels(tiny_lm, draft, "", "alpine")
    assert wrong[-1] is False
    healed = prefix_labels(tiny_lm, draft, "alpha = 1", "x")
    assert all(label is None for label in healed)  # only the healed text: nothing shown


def test_the_threshold_saves_most_within_the_wrong_budget():
    grid = [
        {"threshold": 0.2, "savings": 0.30, "wrong_per_100": 20.0},
        {"threshold": 0.4, "savings": 0.25, "wrong_per_100": 9.0},
        {"threshold": 0.6, "savings": 0.20, "wrong_per_100": 4.0},
    ]
    assert choose(grid, 10.0) == 0.4
    assert choose(grid, 5.0) == 0.6
    assert choose(grid, 1.0) == 0.6  # nothing within budget: the fewest wrong
    costs = [
        {"wrong_cost": 2.0, "savings": 0.30, "wrong_per_100": 9.0},
        {"wrong_cost": 4.0, "savings": 0.30, "wrong_per_100": 6.0},
        {"wrong_cost": 8.0, "savings": 0.22, "wrong_per_100": 3.0},
    ]
    assert choose(costs, 10.0, "wrong_cost") == 4.0  # a tie in savings: the surer one
    assert choose(costs, 5.0, "wrong_cost") == 8.0
    near = [
        {"wrong_cost": 4.0, "savings": 0.3824, "wrong_per_100": 7.46},
        {"wrong_cost": 5.0, "savings": 0.3817, "wrong_per_100": 6.55},
        {"wrong_cost": 6.0, "savings": 0.3768, "wrong_per_100": 5.60},
    ]
    # within half a point of the most keystrokes saved: the fewest wrong ghost texts
    assert choose(near, 8.0, "wrong_cost") == 5.0
    assert choose(near, 8.0, "wrong_cost", tie=0.0) == 4.0  # exact ties only
    assert choose(near, 8.0, "wrong_cost", tie=0.01) == 6.0


def test_calibration_and_evaluation_halves_are_disjoint_and_stable(tmp_path):
    files = [CorpusFile(f"pkg/mod{i}.py", tmp_path / f"m{i}.py") for i in range(40)]
    calibration, evaluation = heldout_halves(files)
    assert calibration and evaluation
    assert {f.relpath for f in calibration}.isdisjoint({f.relpath for f in evaluation})
    assert len(calibration) + len(evaluation) == 40
    assert heldout_halves(list(reversed(files)))[0] == list(reversed(calibration))

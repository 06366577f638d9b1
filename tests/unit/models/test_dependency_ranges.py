"""The declared dependency ranges are the tested ones (issue 20).

CI runs the suite on the newest releases and on ``.ci/oldest-constraints.txt``; these
tests keep that file equal to the lower bounds of ``pyproject.toml`` and make sure the
packages with breaking major releases are bounded above.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[3]
BOUNDED_ABOVE = ("transformers", "torch", "pygls", "tree-sitter")


def _requirements() -> dict[str, Requirement]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    reqs = [Requirement(r) for r in data["project"]["dependencies"]]
    return {r.name.lower(): r for r in reqs}


def _oldest_pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / ".ci" / "oldest-constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name, version = re.fullmatch(r"([A-Za-z0-9_.-]+)==(\S+)", line).groups()
        pins[name.lower()] = version
    return pins


def _lower_bound(req: Requirement) -> str | None:
    return next((s.version for s in req.specifier if s.operator == ">="), None)


def test_every_dependency_has_a_tested_lower_bound():
    reqs, pins = _requirements(), _oldest_pins()
    for name, req in reqs.items():
        lower = _lower_bound(req)
        assert lower is not None, f"{name} has no lower bound"
        assert pins.get(name) == lower, (
            f"{name}: pyproject says >={lower}, CI pins {pins.get(name)}"
        )
    assert set(pins) == set(reqs), "the oldest-versions CI constraints name other packages"


def test_packages_with_breaking_majors_are_bounded_above():
    reqs = _requirements()
    for name in BOUNDED_ABOVE:
        uppers = [s for s in reqs[name].specifier if s.operator == "<"]
        assert uppers, f"{name} has no upper bound"
        lower = Version(_lower_bound(reqs[name]))
        upper = Version(uppers[0].version)
        # the bound stops before the next major (0.x: before the next minor)
        if lower.major == 0:
            assert upper.major == 0 and upper.minor <= lower.minor + 2
        else:
            assert upper.major == lower.major + 1 and upper.minor == 0


def test_the_running_environment_is_inside_the_declared_ranges():
    for name, req in _requirements().items():
        installed = metadata.version(name)
        assert req.specifier.contains(installed, prereleases=True), (
            f"{name} {installed} is outside {req.specifier}"
        )

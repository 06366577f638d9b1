"""The training corpora: stdlib split, stdlib tests, capped site-packages, near-copy filter."""

from __future__ import annotations

from pathlib import Path

from models.corpus import (
    CorpusFile,
    dedupe_files,
    extended_files,
    looks_generated,
    near_copy_filter,
    package_sources,
    site_package_files,
    stdlib_files,
    stdlib_test_files,
)

CODE = "\n".join(
    f"def function_number_{i}(argument):\n    return argument * {i}" for i in range(40)
)


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_stdlib_tests_are_exactly_what_the_stdlib_corpus_leaves_out(tmp_path):
    write(tmp_path, "json/__init__.py", CODE)
    write(tmp_path, "test/test_json.py", CODE)
    write(tmp_path, "idlelib/idle_test/test_x.py", CODE)
    write(tmp_path, "email/test_helper.py", CODE)
    write(tmp_path, "site-packages/pkg/mod.py", CODE)
    core = {f.relpath for f in stdlib_files(tmp_path)}
    tests = {f.relpath for f in stdlib_test_files(tmp_path)}
    assert core == {"json/__init__.py"}
    assert tests == {"test/test_json.py", "idlelib/idle_test/test_x.py", "email/test_helper.py"}


def test_site_packages_are_capped_per_package_and_skip_data(tmp_path):
    for i in range(10):
        write(tmp_path, f"big/mod_{i}.py", CODE)  # ~2.9 k characters each
    write(tmp_path, "small/only.py", CODE)
    write(tmp_path, "single_module.py", CODE)
    write(tmp_path, "data/table.py", "TABLE = [" + "1, " * 600 + "]\n")
    write(tmp_path, "pkg-1.0.dist-info/RECORD.py", CODE)
    write(tmp_path, "__editable__/x.py", CODE)
    files = site_package_files(tmp_path, cap=len(CODE) * 3)
    by_package: dict[str, int] = {}
    for f in files:
        top = f.relpath.split("/")[1]
        by_package[top] = by_package.get(top, 0) + 1
        assert f.relpath.startswith("site-packages/")
    assert by_package == {"big": 3, "small": 1, "single_module.py": 1}


def test_looks_generated():
    assert not looks_generated(CODE)
    assert looks_generated("x = '" + "a" * 2000 + "'\n")
    assert looks_generated("\n".join(["VALUE_" + "x" * 100 + " = 1"] * 10))


def test_near_copies_of_heldout_files_are_dropped(tmp_path):
    held = CorpusFile("log.py", write(tmp_path, "held/log.py", CODE))
    copy = CorpusFile("a", write(tmp_path, "a.py", CODE.replace("argument * 3", "arg * 3")))
    partial_lines = CODE.splitlines()[:10] + [f"other_line_{i} = compute({i})" for i in range(90)]
    partial = CorpusFile("b", write(tmp_path, "b.py", "\n".join(partial_lines)))
    unrelated = CorpusFile("c", write(tmp_path, "c.py", "import os\nprint(os.getcwd())\n" * 5))
    kept, dropped = near_copy_filter([copy, partial, unrelated], [held])
    assert [f.relpath for f in dropped] == ["a"]
    assert [f.relpath for f in kept] == ["b", "c"]


def test_extended_files_combine_tests_and_packages_without_heldout_copies(tmp_path):
    std, site = tmp_path / "std", tmp_path / "site"
    held = CorpusFile("copy.py", write(std, "copy.py", CODE))
    write(std, "test/test_copy.py", "import copy\n\nassert copy.copy(1) == 1\n")
    write(site, "vendored/copy.py", CODE)
    write(site, "fresh/mod.py", "import sys\nprint(sys.argv[0])\n")
    extra, dropped = extended_files([held], stdlib=std, site=site)
    assert sorted(f.relpath for f in extra) == ["site-packages/fresh/mod.py", "test/test_copy.py"]
    assert [f.relpath for f in dropped] == ["site-packages/vendored/copy.py"]


def test_files_mostly_repeating_earlier_ones_are_dropped(tmp_path):
    first = CorpusFile("a", write(tmp_path, "a.py", CODE))
    copied = CorpusFile("b", write(tmp_path, "b.py", CODE + "\nEXTRA_NAME = compute(1)\n"))
    lines = CODE.splitlines()[:20] + [f"other_line_{i} = compute({i})" for i in range(60)]
    partial = CorpusFile("c", write(tmp_path, "c.py", "\n".join(lines)))
    kept, dropped = dedupe_files([first, copied, partial])
    assert [f.relpath for f in kept] == ["a", "c"]
    assert [f.relpath for f in dropped] == ["b"]


def test_vendored_copies_inside_packages_are_skipped(tmp_path):
    write(tmp_path, "tool/core.py", CODE)
    write(tmp_path, "tool/_vendor/other/mod.py", CODE.replace("argument", "value"))
    files = site_package_files(tmp_path)
    assert [f.relpath for f in files] == ["site-packages/tool/core.py"]


def test_package_sources_name_distribution_and_licence(tmp_path):
    write(tmp_path, "tool/core.py", CODE)
    write(tmp_path, "single.py", CODE)
    info = tmp_path / "tool_dist-1.2.dist-info"
    write(info, "METADATA", "Name: tool-dist\nVersion: 1.2\nLicense-Expression: MIT\n\nbody")
    write(info, "RECORD", "tool/core.py,sha256=x,1\ntool_dist-1.2.dist-info/METADATA,,\n")
    other = tmp_path / "single-0.1.dist-info"
    write(
        other,
        "METADATA",
        "Name: single\nVersion: 0.1\nClassifier: License :: OSI Approved :: BSD License\n",
    )
    write(other, "RECORD", "single.py,,\n")
    sources = package_sources(tmp_path)
    assert sources["tool"] == {"distribution": "tool-dist", "version": "1.2", "license": "MIT"}
    assert sources["single.py"]["license"] == "BSD License"
    assert "tool_dist-1.2.dist-info" not in sources

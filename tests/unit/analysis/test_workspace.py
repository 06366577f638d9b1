"""Workspace walk, module lookup and stdlib modules read from source."""

from __future__ import annotations

import os

import pytest
from analysis_testing import write_files

from analysis.workspace import StdlibModules, WorkspaceIndex, default_stdlib


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    write_files(
        root,
        {
            "main.py": "import pkg\n",
            "web/app.ts": "export const x = 1;\n",
            "web/view.tsx": "",
            "web/old.js": "",
            "pkg/__init__.py": "",
            "pkg/mod.py": "",
            "pkg/sub/__init__.py": "",
            "pkg/sub/deep.py": "",
            "nspkg/part.py": "",
            "src/srcpkg/__init__.py": "",
            "notes.txt": "",
            ".git/hooks/hook.py": "",
            ".hidden/secret.py": "",
            "node_modules/lib/index.js": "",
            "env/pyvenv.cfg": "home = /usr\n",
            "env/lib/site.py": "",
            "__pycache__/x.py": "",
            "build/gen.py": "",
            "dist/out.js": "",
            ".tox/t.py": "",
            "big.py": "x = 1\n" * 400,
        },
    )
    outside = tmp_path / "outside"
    write_files(outside, {"leak.py": "", "dir/inner.py": ""})
    os.symlink(outside / "leak.py", root / "leak.py")
    os.symlink(outside / "dir", root / "linked_dir")
    os.symlink(root / "pkg" / "mod.py", root / "alias.py")  # inside the root: kept
    return root


def test_walk_skips_vcs_venv_node_modules_build_hidden_big_and_outside_symlinks(project):
    index = WorkspaceIndex(project, max_file_bytes=1000)
    calls = []
    count = index.build(progress=lambda done, total: calls.append((done, total)))
    names = sorted(str(p.relative_to(project)) for p in index.paths())
    assert names == sorted(
        [
            "alias.py",
            "main.py",
            "nspkg/part.py",
            "pkg/__init__.py",
            "pkg/mod.py",
            "pkg/sub/__init__.py",
            "pkg/sub/deep.py",
            "src/srcpkg/__init__.py",
            "web/app.ts",
            "web/old.js",
            "web/view.tsx",
        ]
    )
    assert count == len(names)
    assert calls[0] == (0, count) and calls[-1] == (count, count)
    assert [done for done, _ in calls] == list(range(count + 1))


def test_module_path_for_packages_relative_imports_and_src_layout(project):
    index = WorkspaceIndex(project)
    index.build()
    assert index.module_path("pkg") == project / "pkg" / "__init__.py"
    assert index.module_path("pkg.sub.deep") == project / "pkg" / "sub" / "deep.py"
    assert index.module_path("srcpkg") == project / "src" / "srcpkg" / "__init__.py"
    assert index.module_path("nspkg") == project / "nspkg" / "__init__.py"  # namespace package
    deep = project / "pkg" / "sub" / "deep.py"
    assert index.module_path("mod", from_file=deep, level=2) == project / "pkg" / "mod.py"
    assert index.module_path("", from_file=deep, level=1) == project / "pkg" / "sub" / "__init__.py"
    assert index.module_path("missing") is None
    assert index.module_path("leak") is None  # a symlink out of the root
    assert index.module_path("x", from_file=deep, level=9) is None


def test_python_module_prefers_the_workspace_then_the_stdlib(project):
    index = WorkspaceIndex(project)
    write_files(project, {"json.py": "shadow = 1\n"})
    assert "shadow" in index.python_module("json", project / "main.py", 0).namespace.names
    assert index.python_module("textwrap", project / "main.py", 0).is_stdlib
    assert index.python_module("math", None, 0) is None  # C extension, no source


def test_update_and_remove_file(project):
    index = WorkspaceIndex(project)
    index.build()
    path = project / "pkg" / "mod.py"
    index.update_file(path, "changed = 1\n")
    assert "changed" in index.module_at(path).namespace.names
    index.update_file(project / "new.py", "fresh = 2\n")
    assert project / "new.py" in index.paths()
    index.remove_file(project / "new.py")
    assert project / "new.py" not in index.paths()


def test_generation_counts_changes_apart_from_one_file(project):
    index = WorkspaceIndex(project)
    index.build()
    mine, other = project / "app" / "mine.py", project / "app" / "other.py"
    before = index.generation_without(mine)
    index.update_file(mine, "x = 1\n")  # the open buffer of the file being analysed
    assert index.generation_without(mine) == before
    assert index.generation_without(other) > before  # ... is news to every other file's analysis
    index.update_file(other, "y = 2\n")
    index.remove_file(other)
    assert index.generation_without(mine) == before + 2
    index.build()
    assert index.generation_without(mine) == before + 3


def test_js_module_resolution(project):
    index = WorkspaceIndex(project)
    app = project / "web" / "app.ts"
    assert index.js_module_path("./view", app) == project / "web" / "view.tsx"
    assert index.js_module_path("./old.js", app) == project / "web" / "old.js"
    assert index.js_module_path("react", app) is None
    assert index.js_module_path("../../outside/leak", app) is None


def test_stdlib_modules_are_parsed_not_imported():
    stdlib = default_stdlib()
    json_module = stdlib.module("json")
    assert json_module.is_package and {"dumps", "loads"} <= set(json_module.namespace.names)
    assert stdlib.module("os.path").name in ("posixpath", "ntpath")
    assert stdlib.module("math") is None
    assert stdlib.module("not a module") is None
    assert stdlib.python_module("decoder", json_module.path, 1).name == "json.decoder"


def test_stdlib_loader_never_executes_code(tmp_path):
    write_files(tmp_path, {"evil.py": "raise SystemExit('executed')\nname = 1\n"})
    module = StdlibModules(tmp_path).module("evil")
    assert "name" in module.namespace.names

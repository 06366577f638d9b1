"""Checks of the Emacs client (editor-clients/emacs/superpose.el).

- byte-compiles with warnings as errors in a bare Emacs (`emacs -Q`: no eglot, no lsp-mode)
  and, where installed, with eglot and lsp-mode loaded;
- its pure helpers (draft formatting, UTF-16 <-> point conversion, draft insertion, status
  lines) behave, run inside Emacs;
- end to end with eglot: Emacs in batch mode opens a Python file, eglot connects to the real
  superpose-ls through `superpose-eglot-setup`, `eglot-completion-at-point` returns the drafts
  and `superpose-drafts` inserts the chosen one (driver: emacs_e2e.el).
Skips (with the reason) when emacs, eglot or lsp-mode is not installed:
editor-clients/install-test-deps.sh installs them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from editor_testing import (
    CURSOR_CHARACTER,
    CURSOR_LINE,
    MODEL_READY_TIMEOUT_S,
    ROOT,
    SETTINGS,
    SOURCE,
    server_command,
)

SUPERPOSE_EL = ROOT / "editor-clients" / "emacs" / "superpose.el"
DRIVER = Path(__file__).with_name("emacs_e2e.el")
EMACS = shutil.which("emacs")

pytestmark = pytest.mark.skipif(
    EMACS is None,
    reason="emacs is not installed: run editor-clients/install-test-deps.sh (Debian emacs-nox)",
)


def emacs(*args: str, bare: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Runs Emacs in batch mode (`-Q` when bare, else with Debian's site-start packages)."""
    command = [EMACS, "--batch", *(["-Q"] if bare else []), *args]
    return subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def has_library(name: str) -> bool:
    proc = emacs("--eval", f'(kill-emacs (if (locate-library "{name}") 0 1))', bare=False)
    return proc.returncode == 0


def byte_compile(tmp_path: Path, *requires: str) -> subprocess.CompletedProcess[str]:
    target = tmp_path / "superpose.el"
    shutil.copy(SUPERPOSE_EL, target)
    loads = " ".join(f"(require '{feature})" for feature in requires)
    return emacs(
        "--eval",
        f"(progn {loads} (setq byte-compile-error-on-warn t))",
        "-f",
        "batch-byte-compile",
        str(target),
        bare=not requires,
    )


def test_byte_compiles_without_eglot_or_lsp_mode(tmp_path: Path) -> None:
    proc = byte_compile(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "superpose.elc").is_file()


def test_byte_compiles_with_eglot_and_lsp_mode(tmp_path: Path) -> None:
    missing = [name for name in ("eglot", "lsp-mode") if not has_library(name)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (editor-clients/install-test-deps.sh)")
    proc = byte_compile(tmp_path, "eglot", "lsp-mode")
    assert proc.returncode == 0, proc.stderr


def test_recipes_register_with_eglot_and_lsp_mode() -> None:
    missing = [name for name in ("eglot", "lsp-mode") if not has_library(name)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (editor-clients/install-test-deps.sh)")
    script = f"""
(progn
  (load "{SUPERPOSE_EL}" nil t)
  (setq superpose-settings '(:drafts 2))
  (superpose-eglot-setup)
  (require 'lsp-mode)
  (superpose-lsp-mode-setup)
  (let ((entry (car eglot-server-programs))
        (client (gethash 'superpose lsp-clients)))
    (princ (json-encode
            (list (cons 'eglot_modes (vconcat (mapcar #'symbol-name (car entry))))
                  (cons 'eglot_contact (vconcat (mapcar #'prin1-to-string (cdr entry))))
                  (cons 'eglot_subclass
                        (if (child-of-class-p 'superpose-eglot-server 'eglot-lsp-server)
                            t
                          :json-false))
                  (cons 'lsp_add_on (if (lsp--client-add-on? client) t :json-false))
                  (cons 'lsp_init (funcall (lsp--client-initialization-options client))))))))
"""
    proc = emacs("--eval", "(require 'json)", "--eval", script, bare=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert "python-mode" in out["eglot_modes"]
    assert out["eglot_contact"] == ["superpose-eglot-server", '"superpose-ls"']
    assert out["eglot_subclass"] is True
    assert out["lsp_add_on"] is True
    assert out["lsp_init"] == {"drafts": 2}


def test_helpers_format_convert_and_insert() -> None:
    script = f"""
(progn
  (load "{SUPERPOSE_EL}" nil t)
  (require 'json)
  (with-temp-buffer
    (insert "a = '😀'\\nxs = [1]\\n")
    (let* ((emoji-end (superpose--position-to-point '(:line 0 :character 7)))
           (col (progn (goto-char (point-min)) (end-of-line) (superpose--utf16-column))))
      (superpose-insert-draft
       '(:text "ys.append(2)\\nzs = xs" :range (:start (:line 1 :character 0)
                                                   :end (:line 1 :character 2))))
      (princ (json-encode
              (list (cons 'emoji_end (- emoji-end (point-min)))
                    (cons 'col col)
                    (cons 'buffer (buffer-string))
                    (cons 'point (- (point) (point-min)))
                    (cons 'fmt (superpose--format-draft '(:text "x = 1\\ny = 2" :score -0.5) 1))
                    (cons 'fmt_blank (superpose--format-draft '(:text "\\n    return" :score nil) 2))
                    (cons 'status (vconcat (superpose-status-lines
                                            '(:model "default" :device "cpu" :state "ready"
                                              :latency_ms (:p95 30 :p50 12)))))
                    (cons 'nested (vconcat (superpose-status-lines
                                            '(:model "m" :device "cpu" :state "loading"
                                              :last_latency_ms 99.6
                                              :latency_ms (:invoked (:count 2 :p50 80)
                                                           :automatic (:count 0))))))
                    (cons 'hash_get (let ((h (make-hash-table :test 'equal)))
                                      (puthash "text" "from lsp-mode" h)
                                      (superpose--get h :text)))))))))
"""
    proc = emacs("--eval", script)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["emoji_end"] == len("a = '😀")  # 7 UTF-16 units = 6 code points
    assert out["col"] == 8  # "a = '😀'" is 8 UTF-16 units
    assert out["buffer"] == "a = '😀'\nys.append(2)\nzs = xs = [1]\n"
    assert out["point"] == len("a = '😀'\nys.append(2)\nzs = xs")
    assert out["fmt"] == "1. x = 1  [score -0.50, 2 lines]"
    assert out["fmt_blank"] == "2.     return  [score n/a, 2 lines]"
    assert out["status"] == [
        "model: default",
        "device: cpu",
        "state: ready",
        "latency: p50 12 ms, p95 30 ms",
    ]
    assert out["nested"] == [
        "model: m",
        "device: cpu",
        "state: loading",
        "last completion: 100 ms",
        "latency: invoked p50 80 ms",
    ]
    assert out["hash_get"] == "from lsp-mode"


def test_eglot_end_to_end_with_the_real_server(tmp_path: Path) -> None:
    if not has_library("eglot"):
        pytest.skip("eglot not installed (Emacs < 29 needs elpa-eglot: install-test-deps.sh)")
    source = tmp_path / "demo.py"
    source.write_text(SOURCE)
    result_path = tmp_path / "result.json"
    env = dict(
        os.environ,
        SUPERPOSE_EL=str(SUPERPOSE_EL),
        SUPERPOSE_CMD=json.dumps(server_command()),
        SUPERPOSE_SETTINGS=json.dumps(SETTINGS),
        SUPERPOSE_FILE=str(source),
        SUPERPOSE_LINE=str(CURSOR_LINE),
        SUPERPOSE_CHARACTER=str(CURSOR_CHARACTER),
        SUPERPOSE_RESULT=str(result_path),
        SUPERPOSE_TIMEOUT=str(MODEL_READY_TIMEOUT_S),
        HOME=str(tmp_path),
    )
    proc = subprocess.run(
        [EMACS, "--batch", "-l", str(DRIVER)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=MODEL_READY_TIMEOUT_S + 120,
        stdin=subprocess.DEVNULL,
    )
    assert result_path.exists(), f"no result (exit {proc.returncode}): {proc.stderr[-3000:]}"
    out = json.loads(result_path.read_text())
    assert out["ok"] is True, f"{out.get('error')}\n{out.get('messages')}\n{proc.stderr[-3000:]}"
    assert out["server_class"] == "superpose-eglot-server"
    assert out["status"]["state"] == "ready"
    assert out["status"]["settings"]["drafts"] == SETTINGS["drafts"]
    # completion-at-point through eglot offers the drafts.
    assert 1 <= len(out["completion"]) <= SETTINGS["drafts"]
    # superpose-drafts showed every draft and inserted the first one at its range.
    assert 1 <= len(out["picker"]) <= SETTINGS["drafts"]
    assert out["picker"][0].startswith("1. ")
    chosen = out["chosen"]
    lines = out["before"].split("\n")
    start, end = chosen["range"]["start"], chosen["range"]["end"]
    assert start["line"] == end["line"] == CURSOR_LINE
    line = lines[CURSOR_LINE]
    lines[CURSOR_LINE] = line[: start["character"]] + chosen["text"] + line[end["character"] :]
    assert out["after"] == "\n".join(lines)
    assert out["after"] != out["before"]
    messages = out["messages"]
    assert "superpose: monitor-guided decoding off" in messages
    assert "superpose: monitor-guided decoding on" in messages
    assert any(m.startswith("superpose: model: ") and "state: ready" in m for m in messages)

"""Checks of the Emacs client (editor-clients/emacs/superpose.el).

- byte-compiles with warnings as errors in a bare Emacs (`emacs -Q`: no eglot, no lsp-mode)
  and, where installed, with eglot and lsp-mode loaded;
- its pure helpers (draft formatting, UTF-16 <-> point conversion, draft insertion, status
  lines) behave, run inside Emacs;
- end to end in `emacs --batch` (driver: emacs_ghost_e2e.el), once per way `superpose-mode`
  reaches the real superpose-ls: its own connection while eglot runs the user's Python server
  (jedi-language-server when installed) in the same buffer, eglot with superpose-ls as the
  server (`(superpose-eglot-setup t)`), and lsp-mode with superpose-ls as an add-on client.
  Typing shows the server's drafts as an overlay; M-\\ asks for all drafts, M-n/M-p cycle,
  M-f / C-e / TAB accept a word, a line, the draft (the buffer is checked after each), typing
  the shown text keeps it without a new request, `superpose-toggle` off stops requests, the
  server's accept counters move; `superpose-drafts` inserts the chosen draft at its range,
  the monitor toggles, `superpose-status` reports; through eglot, `completion-at-point` offers
  the drafts.
Skips (with the reason) when emacs, eglot or lsp-mode is not installed:
editor-clients/install-test-deps.sh installs them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from editor_testing import (
    CURSOR_LINE,
    MODEL_READY_TIMEOUT_S,
    ROOT,
    SETTINGS,
    SOURCE,
    server_command,
)

SUPERPOSE_EL = ROOT / "editor-clients" / "emacs" / "superpose.el"
GHOST_DRIVER = Path(__file__).with_name("emacs_ghost_e2e.el")
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
  (superpose-eglot-setup t)
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


def test_eglot_setup_keeps_the_users_python_server() -> None:
    """Without REPLACE, superpose-eglot-setup never takes a mode eglot already serves."""
    if not has_library("eglot"):
        pytest.skip("eglot not installed (install-test-deps.sh)")
    script = f"""
(progn
  (load "{SUPERPOSE_EL}" nil t)
  (require 'eglot)
  (let* ((before (superpose--eglot-entry-for 'python-mode))
         (messages nil))
    (advice-add 'message :before
                (lambda (fmt &rest args) (push (apply #'format fmt args) messages)))
    (superpose-eglot-setup)
    (princ (json-encode
            (list (cons 'unchanged (if (eq before (superpose--eglot-entry-for 'python-mode))
                                       t
                                     :json-false))
                  (cons 'python_served_before
                        (if (superpose--eglot-entry-for 'python-mode) t :json-false))
                  (cons 'messages (vconcat messages)))))))
"""
    proc = emacs("--eval", "(require 'json)", "--eval", script, bare=False)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["python_served_before"] is True  # eglot's own default Python server
    assert out["unchanged"] is True
    assert any("kept them" in m for m in out["messages"])


def ghost_run(backend: str, tmp_path: Path) -> dict:
    """Runs emacs_ghost_e2e.el with `backend`; returns its JSON report."""
    source = tmp_path / "demo.py"
    source.write_text(SOURCE)
    (tmp_path / ".git").mkdir()  # a project root for eglot and lsp-mode
    result_path = tmp_path / "result.json"
    other = shutil.which("jedi-language-server", path=str(Path(sys.executable).parent))
    env = dict(
        os.environ,
        SUPERPOSE_EL=str(SUPERPOSE_EL),
        SUPERPOSE_CMD=json.dumps(server_command()),
        SUPERPOSE_SETTINGS=json.dumps(SETTINGS),
        SUPERPOSE_FILE=str(source),
        SUPERPOSE_LINE=str(CURSOR_LINE),
        SUPERPOSE_RESULT=str(result_path),
        SUPERPOSE_TIMEOUT=str(MODEL_READY_TIMEOUT_S),
        SUPERPOSE_BACKEND=backend,
        SUPERPOSE_OTHER_SERVER=json.dumps([other]) if other and backend == "own" else "",
        HOME=str(tmp_path),
    )
    proc = subprocess.run(
        [EMACS, "--batch", "-l", str(GHOST_DRIVER)],
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
    out["other_server"] = other if backend == "own" else None
    return out


@pytest.fixture(scope="module", params=["own", "eglot", "lsp-mode"])
def ghost(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict:
    backend = request.param
    needs = {"eglot": ["eglot"], "lsp-mode": ["lsp-mode"], "own": []}[backend]
    missing = [name for name in needs if not has_library(name)]
    if missing:
        pytest.skip(f"{', '.join(missing)} not installed (editor-clients/install-test-deps.sh)")
    out = ghost_run(backend, tmp_path_factory.mktemp(f"emacs-ghost-{backend}"))
    out["backend"] = backend
    return out


def word_part(text: str) -> str:
    """superpose-word-part: blanks, punctuation, then an identifier."""
    part = re.match(r"[ \t\n]*[^\w \t\n]*\w*", text).group(0)
    if part.strip() == "":
        part = re.match(r"[ \t\n]*.?", text, re.DOTALL).group(0)
    return part or text


def line_part(text: str) -> str:
    """superpose-line-part: up to the first line break (or a break and the next line)."""
    first = text.split("\n", 1)[0]
    if first:
        return first
    return "\n" + text[1:].split("\n", 1)[0] if text.startswith("\n") else text


def test_ghost_text_overlay_shows_the_servers_drafts(ghost: dict) -> None:
    typed = ghost["line_before"] + "i"
    first = ghost["first"]
    assert first, "no ghost text after typing"
    assert first["start"] == SOURCE.index(ghost["line_before"]) + len(typed)
    assert first["text"] == ghost["items"][0]
    assert re.fullmatch(r" SP( \d+ms)?", ghost["mode_line_ready"]), ghost["mode_line_ready"]
    if ghost["backend"] == "own":
        assert ghost["own_connection"] is True
        if ghost["other_server"]:
            # eglot still runs the user's Python server in that buffer
            assert ghost["other_server"] in ghost["eglot_server"]
            assert ghost["eglot_server_after"] == ghost["eglot_server"]


def test_suggest_key_and_cycling(ghost: dict) -> None:
    suggested = ghost["suggested"]
    items = ghost["suggested_items"]
    assert suggested, "M-\\ (superpose-suggest) showed no ghost text"
    assert suggested["text"] == items[0]
    if len(items) < 2:
        pytest.skip("the server sent one distinct draft even when asked: nothing to cycle")
    assert suggested["annotation"] == f" (1/{len(items)})"
    assert ghost["second"]["text"] == items[1]
    assert ghost["second"]["annotation"] == f" (2/{len(items)})"
    assert ghost["back"]["text"] == items[0]


def test_accept_word_and_line(ghost: dict) -> None:
    typed = ghost["line_before"] + "i"
    text = ghost["before_word"]["text"]
    word = word_part(text)
    assert ghost["after_word"] == typed + word
    rest = text[len(word) :]
    if rest:
        assert ghost["shown_after_word"]["text"] == rest
        assert ghost["after_line"] == typed + word + line_part(rest)
    else:
        assert ghost["shown_after_word"] is None


def test_typing_through_then_tab_accepts(ghost: dict) -> None:
    shown = ghost["typed_shown"]
    assert shown, "no ghost text after typing"
    assert ghost["through_shown"]["text"] == shown["text"][1:]
    assert ghost["through_requests"] == 0
    assert ghost["after_full"] == ghost["line_before"] + "i" + shown["text"]
    assert ghost["shown_after_full"] is None


def test_toggle_off_stops_ghost_text(ghost: dict) -> None:
    assert ghost["mode_line_off"] == " SP:off"
    assert ghost["requests_while_off"] == 0
    assert ghost["shown_while_off"] is None


def test_accepts_reach_the_server(ghost: dict) -> None:
    before, after = ghost["feedback_before"], ghost["feedback_after"]
    text = ghost["before_word"]["text"]
    word = word_part(text)
    rest = text[len(word) :]
    line = line_part(rest) if rest else ""
    ends = not rest or line == rest  # a piece that reaches the end counts as the accept
    assert after["accepts"] - before["accepts"] == 1 + (1 if ends else 0)
    assert after["partialAccepts"] - before["partialAccepts"] == (1 if rest else 0) + (
        1 if rest and not ends else 0
    )
    accepted = word + line + ghost["typed_shown"]["text"][1:]
    assert after["chars"] - before["chars"] == len(accepted)


def test_drafts_toggles_and_status_commands(ghost: dict) -> None:
    """superpose-drafts inserts the first draft at its range; toggles and status answer."""
    assert ghost["status"]["state"] == "ready"
    assert ghost["status"]["settings"]["drafts"] == SETTINGS["drafts"]
    assert 1 <= len(ghost["picker"]) <= SETTINGS["drafts"]
    assert ghost["picker"][0].startswith("1. ")
    chosen = ghost["chosen"]
    lines = ghost["before"].split("\n")
    start, end = chosen["range"]["start"], chosen["range"]["end"]
    assert start["line"] == end["line"] == CURSOR_LINE
    line = lines[CURSOR_LINE]
    lines[CURSOR_LINE] = line[: start["character"]] + chosen["text"] + line[end["character"] :]
    assert ghost["after"] == "\n".join(lines)
    assert ghost["after"] != ghost["before"]
    messages = ghost["messages"]
    assert "superpose: monitor-guided decoding off" in messages
    assert "superpose: monitor-guided decoding on" in messages
    assert any(m.startswith("superpose: model: ") and "state: ready" in m for m in messages)
    if ghost["backend"] == "eglot":
        # superpose-ls as the buffer's eglot server: completion-at-point offers the drafts
        assert ghost["server_class"] == "superpose-eglot-server"
        assert 1 <= len(ghost["completion"]) <= SETTINGS["drafts"]

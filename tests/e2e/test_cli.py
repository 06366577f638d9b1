"""The command line: `complete` on a sample file, bad usage exits 2, TCP on loopback."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "examples" / "shapes.py"
CLI = [sys.executable, "-m", "lsp_server"]


def run(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout)


def test_complete_prints_drafts_as_json():
    proc = run(
        "complete",
        str(SAMPLE),
        "--line",
        "20",
        "--character",
        "23",
        "--drafts",
        "3",
        "--max-new-tokens",
        "8",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert 1 <= len(payload["drafts"]) <= 3
    assert all({"text", "score"} <= set(d) for d in payload["drafts"])
    assert payload["timings"]["total_ms"] > 0


def test_complete_plain_output_and_greedy():
    proc = run(
        "complete",
        str(SAMPLE),
        "--line",
        "22",  # the end of the file: a new statement
        "--character",
        "0",
        "--decoder",
        "greedy",
        "--max-new-tokens",
        "6",
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("--- draft 1")


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def test_bad_usage_exits_2_with_one_line():
    assert "--line" in one_line_error(run("complete", str(SAMPLE), "--character", "1"))
    assert "no such file" in one_line_error(
        run("complete", "/nope.py", "--line", "0", "--character", "0")
    )
    assert "past the end" in one_line_error(
        run("complete", str(SAMPLE), "--line", "999", "--character", "0")
    )
    assert "drafts" in one_line_error(
        run("complete", str(SAMPLE), "--line", "0", "--character", "0", "--drafts", "0")
    )
    assert "invalid choice" in one_line_error(
        run("complete", str(SAMPLE), "--line", "0", "--character", "0", "--decoder", "magic")
    )
    one_line_error(run("frobnicate"))


def test_missing_model_path_exits_2(tmp_path):
    line = one_line_error(
        run(
            "complete",
            str(SAMPLE),
            "--line",
            "0",
            "--character",
            "0",
            "--model",
            str(tmp_path / "missing"),
        )
    )
    assert "missing" in line


def test_tcp_server_binds_loopback_by_default():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [*CLI, "serve", "--tcp", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        listening = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not listening:
            time.sleep(0.3)
            listening = [
                c.laddr
                for c in psutil.Process(proc.pid).net_connections("tcp")
                if c.status == psutil.CONN_LISTEN
            ]
        assert listening and all(addr.ip == "127.0.0.1" for addr in listening), listening
        body = json.dumps(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"processId": None, "rootUri": None, "capabilities": {}},
            }
        ).encode()
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            data = b""
            while b'"capabilities"' not in data:
                chunk = conn.recv(65536)
                assert chunk
                data += chunk
        assert b"inlineCompletionProvider" in data
    finally:
        proc.kill()
        proc.wait(10)


def test_bench_without_the_bench_extra_names_the_install_command(monkeypatch, capsys):
    import importlib.util

    from lsp_server import cli

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "jedi_language_server" else real(name, *a),
    )
    assert cli.main(["bench", "--quick", "--out", "/tmp/never-written"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'superpose-ls[bench]'" in err[0]
    assert "jedi_language_server" in err[0]


def test_calibrate_refuses_a_missing_model_path(tmp_path, capsys):
    from lsp_server import cli

    assert cli.main(["calibrate", "--model", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a directory" in err[0]

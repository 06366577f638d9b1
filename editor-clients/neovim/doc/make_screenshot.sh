#!/usr/bin/env bash
# Produces doc/superpose-drafts.png: real Neovim in tmux, the plugin attached to the real
# superpose-ls, `:SuperposeDrafts` listing the drafts; tmux capture-pane -> PNG (Pillow).
# Usage: editor-clients/neovim/doc/make_screenshot.sh [SERVER_CMD...]
#   NVIM=/path/to/nvim to use another Neovim; PYTHON=python with Pillow (default .venv).
set -euo pipefail
doc="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$doc/../../.." && pwd)"
nvim="${NVIM:-nvim}"
python="${PYTHON:-$root/.venv/bin/python}"
if [ "$#" -gt 0 ]; then cmd=("$@"); else cmd=("$root/.venv/bin/superpose-ls"); fi
work="$(mktemp -d)"
session="superpose-shot-$$"
trap 'tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$work"' EXIT

cat >"$work/demo.py" <<'PY'
import os


class Counter:
    def __init__(self, start):
        self.count = start
        self.history = []

    def increment(self, step):
        self.count += step
        self.history.append(step)
        return self.count


def main():
    counter = Counter(0)
    counter.
PY
cmd_lua="{"
for part in "${cmd[@]}"; do cmd_lua+="'$part',"; done
cmd_lua+="}"
cat >"$work/init.lua" <<LUA
vim.opt.runtimepath:prepend('$root/editor-clients/neovim')
vim.opt.number = true
vim.opt.swapfile = false
vim.opt.virtualedit = 'onemore'
require('superpose').setup({ cmd = $cmd_lua, settings = { drafts = 4 } })
LUA

capture() { tmux capture-pane -t "$session" -p "$@"; }
wait_for() { # wait_for PATTERN SECONDS
  for _ in $(seq 1 $(($2 * 4))); do
    capture | grep -q -- "$1" && return 0
    sleep 0.25
  done
  echo "make_screenshot: timed out waiting for: $1" >&2
  capture >&2
  return 1
}

tmux new-session -d -s "$session" -x 100 -y 32 -c "$work" "$nvim --clean -u init.lua demo.py"
sleep 1
for _ in $(seq 1 120); do
  tmux send-keys -t "$session" ':SuperposeStatus' Enter
  sleep 1
  if capture | grep -q "state:  ready"; then break; fi
  tmux send-keys -t "$session" Enter
done
tmux send-keys -t "$session" Enter ':17' Enter 'A' Escape ':SuperposeDrafts' Enter
wait_for "Type number" 60
capture -e >"$work/screen.ansi"
"$python" "$doc/render_ansi.py" "$work/screen.ansi" "$doc/superpose-drafts.png" 100
tmux send-keys -t "$session" Escape ':qa!' Enter
echo "wrote $doc/superpose-drafts.png"

#!/usr/bin/env bash
# Regenerates the editor screenshots of docs/editors/ from the current model: real Neovim and
# real Emacs (-nw) in tmux, each attached to the real superpose-ls of this checkout, on
# examples/shapes.py; tmux capture-pane -> PNG (editor-clients/neovim/doc/render_ansi.py,
# Pillow + DejaVu Sans Mono). Writes:
#   docs/editors/neovim-ghost-text.png    Neovim 0.7: ghost text after typing `shape.a` (line 21)
#   docs/editors/emacs-ghost-text.png     Emacs: superpose-mode ghost text at the same place
#   editor-clients/neovim/doc/superpose-drafts.png   :SuperposeDrafts listing the drafts
# Usage: docs/editors/make_screenshots.sh   (NVIM=..., EMACS=..., PYTHON=... to override)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
nvim="${NVIM:-nvim}"
emacs="${EMACS:-emacs}"
python="${PYTHON:-$root/.venv/bin/python}"
server="$root/.venv/bin/superpose-ls"
render="$root/editor-clients/neovim/doc/render_ansi.py"
work="$(mktemp -d)"
session="superpose-shot-$$"
trap 'tmux kill-session -t "$session" 2>/dev/null || true; rm -rf "$work"' EXIT
cp "$root/examples/shapes.py" "$work/shapes.py"
git -C "$work" init -q 2>/dev/null || true   # a project root

capture() { tmux capture-pane -t "$session" -p "$@"; }
wait_for() { # wait_for PATTERN SECONDS
  for _ in $(seq 1 $(($2 * 4))); do
    capture | grep -q -- "$1" && return 0
    sleep 0.25
  done
  echo "make_screenshots: timed out waiting for: $1" >&2
  capture >&2
  return 1
}
shot() { # shot OUT.png COLUMNS
  capture -e >"$work/screen.ansi"
  "$python" "$render" "$work/screen.ansi" "$1" "$2"
  echo "wrote $1"
}

# ---- Neovim: ghost text after typing `.a` at `total += shape`, then :SuperposeDrafts
cat >"$work/init.lua" <<LUA
vim.opt.runtimepath:prepend('$root/editor-clients/neovim')
vim.opt.number = true
vim.opt.swapfile = false
vim.opt.laststatus = 2
vim.opt.virtualedit = 'onemore'
vim.opt.statusline = " %f %= %{v:lua.require'superpose'.statusline()} "
require('superpose').setup({ cmd = { '$server' }, settings = { drafts = 4 } })
LUA
tmux new-session -d -s "$session" -x 100 -y 30 -c "$work" "$nvim --clean -u init.lua shapes.py"
wait_for_re() { # wait_for_re EXTENDED-REGEX SECONDS
  for _ in $(seq 1 $(($2 * 4))); do
    capture | grep -Eq -- "$1" && return 0
    sleep 0.25
  done
  echo "make_screenshots: timed out waiting for: $1" >&2
  capture >&2
  return 1
}
wait_for_re ' superpose *$' 240   # the statusline: attached and the model ready
# line 21 is `        total += shape.`: delete the dot and type `.a`, as a user would
tmux send-keys -t "$session" ':21' Enter '$' 'x' 'a' '.'
sleep 0.3
tmux send-keys -t "$session" 'a'
wait_for_re 'shape\.a[A-Za-z_(]' 60
sleep 0.5
shot "$here/neovim-ghost-text.png" 100
tmux send-keys -t "$session" Escape
sleep 0.5   # an Escape followed at once by a key reads as Alt+key
tmux send-keys -t "$session" 'l' ':SuperposeDrafts' Enter
wait_for "Type number" 60
shot "$root/editor-clients/neovim/doc/superpose-drafts.png" 100
tmux send-keys -t "$session" Escape
sleep 0.5
tmux send-keys -t "$session" ':qa!' Enter
sleep 1
tmux kill-session -t "$session" 2>/dev/null || true

# ---- Emacs: superpose-mode next to nothing else, same place
cat >"$work/init.el" <<ELISP
(setq inhibit-startup-screen t)
(load "$root/editor-clients/emacs/superpose.el" nil t)
(setq superpose-server-command '("$server"))
(add-hook 'python-mode-hook #'superpose-mode)
(global-display-line-numbers-mode 1)
ELISP
tmux new-session -d -s "$session" -x 100 -y 30 -c "$work" "$emacs -nw -Q -l init.el shapes.py"
wait_for_re "Python SP[ )]" 240   # the mode line: connected and the model ready
tmux send-keys -t "$session" 'M-g' 'g' '21' Enter 'C-e' 'BSpace' '.'
sleep 0.3
tmux send-keys -t "$session" 'a'
wait_for_re 'shape\.a[A-Za-z_(]' 60
sleep 0.5
shot "$here/emacs-ghost-text.png" 100
tmux send-keys -t "$session" 'C-x' 'C-c'
sleep 0.5
tmux send-keys -t "$session" 'n'
sleep 0.3
tmux send-keys -t "$session" 'yes' Enter

#!/usr/bin/env bash
# Installs the editors the editor-client tests (tests/editors/) run against:
#   neovim                      Debian's package (headless end-to-end test)
#   emacs-nox, elpa-eglot       byte-compile check and eglot end-to-end test
#   elpa-lsp-mode               byte-compile check against lsp-mode
#   nodejs, npm                 VS Code extension build and unit tests (only if npm is missing)
# and runs `npm ci` in editor-clients/vscode when node_modules is missing.
#
# Idempotent: every part is skipped when already present. Parts that cannot be installed
# (no apt-get, not root, no network) are reported and skipped; the matching tests then skip
# with a reason. Exit status is 0 unless --strict is given and something could not be installed.
#
# Usage: editor-clients/install-test-deps.sh [--no-neovim] [--no-emacs] [--no-lsp-mode]
#                                            [--no-node] [--strict]
# Measured on a 2-core Debian 12 machine: neovim ~13 s, emacs-nox ~17 s, elpa-eglot ~13 s,
# elpa-lsp-mode ~33 s, npm ci ~15 s.
set -u

want_neovim=1 want_emacs=1 want_lsp_mode=1 want_node=1 strict=0
for arg in "$@"; do
  case "$arg" in
    --no-neovim) want_neovim=0 ;;
    --no-emacs) want_emacs=0 ;;
    --no-lsp-mode) want_lsp_mode=0 ;;
    --no-node) want_node=0 ;;
    --strict) strict=1 ;;
    -h | --help)
      sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'
      exit 0
      ;;
    *)
      echo "install-test-deps: unknown option $arg" >&2
      exit 2
      ;;
  esac
done

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
failed=()
apt_updated=0

log() { echo "install-test-deps: $*"; }

can_apt() {
  command -v apt-get >/dev/null 2>&1 || return 1
  [ "$(id -u)" = 0 ] && return 0
  command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null
}

apt_install() {
  # apt_install PACKAGE...: installs the Debian packages that are not installed yet.
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" ||
      missing+=("$pkg")
  done
  [ "${#missing[@]}" = 0 ] && return 0
  if ! can_apt; then
    log "cannot install ${missing[*]} (apt-get unavailable or not root); skipping"
    failed+=("${missing[@]}")
    return 1
  fi
  local sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo -n"
  if [ "$apt_updated" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get update -qq || true
    apt_updated=1
  fi
  local started=$SECONDS
  if DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null; then
    log "installed ${missing[*]} in $((SECONDS - started)) s"
  else
    log "apt-get install ${missing[*]} failed; skipping"
    failed+=("${missing[@]}")
    return 1
  fi
}

if [ "$want_neovim" = 1 ]; then
  if command -v nvim >/dev/null 2>&1; then
    log "neovim present: $(nvim --version | head -n 1)"
  else
    apt_install neovim
  fi
fi

if [ "$want_emacs" = 1 ]; then
  if command -v emacs >/dev/null 2>&1; then
    log "emacs present: $(emacs --version | head -n 1)"
  else
    apt_install emacs-nox
  fi
  # eglot is built into Emacs >= 29; older Debian Emacs needs the elpa package.
  if command -v emacs >/dev/null 2>&1 &&
    ! emacs --batch --eval '(kill-emacs (if (locate-library "eglot") 0 1))' >/dev/null 2>&1; then
    apt_install elpa-eglot
  fi
  if [ "$want_lsp_mode" = 1 ] && command -v emacs >/dev/null 2>&1 &&
    ! emacs --batch --eval '(kill-emacs (if (locate-library "lsp-mode") 0 1))' >/dev/null 2>&1; then
    apt_install elpa-lsp-mode
  fi
fi

if [ "$want_node" = 1 ]; then
  if ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
  fi
  if command -v npm >/dev/null 2>&1; then
    log "node $(node --version), npm $(npm --version 2>/dev/null)"
    if [ ! -d "$here/vscode/node_modules" ]; then
      started=$SECONDS
      if (cd "$here/vscode" && npm ci --no-audit --no-fund --loglevel=error); then
        log "npm ci in editor-clients/vscode took $((SECONDS - started)) s"
      else
        log "npm ci failed"
        failed+=("vscode-node_modules")
      fi
    fi
  fi
fi

if [ "${#failed[@]}" -gt 0 ]; then
  log "not installed: ${failed[*]}"
  [ "$strict" = 1 ] && exit 1
fi
exit 0

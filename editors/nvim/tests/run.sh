#!/usr/bin/env bash
# Headless Neovim smoke test for the cl-lsp client (works with Neovim 0.7.2+).
#
#   CL_LSP_CMD="cl-lsp --stdio" CL_LSP_FILE=examples/a.py CL_LSP_LINE=3 CL_LSP_COL=4 \
#   CL_LSP_OUT=/tmp/out.py [CL_LSP_ACTION="Generate docstring"] editors/nvim/tests/run.sh
#
# Opens CL_LSP_FILE, waits for the client, requests a completion at (CL_LSP_LINE 1-based,
# CL_LSP_COL 0-based byte) and applies the first item's edit -- or applies the code action
# whose title contains CL_LSP_ACTION -- then writes the buffer to CL_LSP_OUT.
# Exit status 0 on success, 1 on failure (reason on stderr). See smoke.lua for all variables.
# NVIM=/path/to/nvim selects the binary; CL_LSP_TIMEOUT_MS bounds each phase (default 60000).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export CL_LSP_PLUGIN_DIR="$(dirname "$here")"
export CL_LSP_SMOKE_LUA="$here/smoke.lua"
nvim="${NVIM:-nvim}"
command -v "$nvim" >/dev/null || { echo "cl-lsp smoke: FAIL: $nvim not found" >&2; exit 1; }
for v in CL_LSP_FILE CL_LSP_LINE CL_LSP_COL CL_LSP_OUT; do
  [[ -n "${!v:-}" ]] || { echo "cl-lsp smoke: FAIL: $v is required" >&2; exit 1; }
done
# Whole-run guard: two phases plus start-up and shutdown.
limit=$(( ${CL_LSP_TIMEOUT_MS:-60000} * 2 / 1000 + 30 ))
# A private XDG state so the user's config, shada and swap files stay out of it.
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
status=0
XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data" XDG_STATE_HOME="$tmp/state" \
XDG_CACHE_HOME="${CL_LSP_NVIM_CACHE:-$tmp/cache}" \
  timeout "$limit" "$nvim" --headless -u NONE -i NONE -n \
    --cmd 'lua vim.opt.runtimepath:prepend(os.getenv("CL_LSP_PLUGIN_DIR"))' \
    -c 'lua dofile(os.getenv("CL_LSP_SMOKE_LUA"))' </dev/null || status=$?
if [[ $status -eq 124 ]]; then
  echo "cl-lsp smoke: FAIL: nvim timed out after ${limit}s" >&2
fi
[[ $status -eq 0 ]] && exit 0 || exit 1

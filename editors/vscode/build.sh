#!/usr/bin/env bash
# Build the cl-lsp VS Code extension: clean install, type check + bundle, package a .vsix.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund
npm run compile
npm run package
ls -l ./*.vsix

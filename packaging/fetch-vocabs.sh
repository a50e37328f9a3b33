#!/usr/bin/env bash
# Keep llama.cpp's real tokenizer vocabularies (vocab-only GGUFs, no weights) in a user
# cache, for tests and benchmarks (cl_lsp/testing/real_vocab.py). The llama-cpp-python
# sdist vendors them under vendor/llama.cpp/models/ggml-vocab-*.gguf; we take them from the
# same release the build uses and never commit them.
#
#   bash packaging/fetch-vocabs.sh      -> ${XDG_CACHE_HOME:-~/.cache}/cl-lsp/vocabs/<version>/
set -euo pipefail

version="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
dest="${CL_LSP_VOCAB_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cl-lsp/vocabs/$version}"

if ls "$dest"/ggml-vocab-llama-spm.gguf >/dev/null 2>&1; then
  exit 0
fi
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
# pip's HTTP cache usually holds this sdist already (build-llama-cpp.sh built from it).
python -m pip download --quiet --no-deps --no-binary :all: -d "$scratch" "llama-cpp-python==$version"
mkdir -p "$dest"
python - "$scratch"/llama_cpp_python-"$version".tar.gz "$dest" <<'PY'
import os, re, sys, tarfile

sdist, dest = sys.argv[1], sys.argv[2]
wanted = re.compile(r"^[^/]+/vendor/llama\.cpp/models/(ggml-vocab-[\w.-]+\.gguf)$")
found = 0
with tarfile.open(sdist) as tar:
    for member in tar:
        m = wanted.match(member.name)
        if not (m and member.isfile()):
            continue
        data = tar.extractfile(member).read()
        tmp = os.path.join(dest, m.group(1) + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, os.path.join(dest, m.group(1)))  # atomic for concurrent readers
        found += 1
if not found:
    sys.exit(f"no ggml-vocab-*.gguf in {sdist}")
print(f"{found} vocabularies in {dest}", file=sys.stderr)
PY

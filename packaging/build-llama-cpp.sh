#!/usr/bin/env bash
# Build (once) and install llama-cpp-python for this machine's backend.
#
# llama-cpp-python installs from source only. We build the wheel ourselves with explicit
# CMake flags and keep it in a cache keyed by version and flags, because pip's own wheel
# cache ignores CMAKE_ARGS and would hand a CPU build to a CUDA request (or the reverse).
#
#   CL_LSP_BACKEND=cpu (default) | cpu-exact | cuda | metal | native
#
# cpu on x86_64 targets AVX2/FMA/F16C without AVX-512/AMX: llama.cpp's AMX kernels crashed
# (SIGSEGV in ggml_backend_amx_mul_mat) on a Sapphire Rapids VM where we tested, and a
# native build would not run on an older CPU sharing the cache. `native` tunes for this CPU.
# cpu-exact is cpu without llamafile's tinyBLAS (which takes only passes of 2+ tokens):
# then SmolLM2 Q4_1's logits are bit-identical in a one-token and a multi-token pass, so
# speculative decoding returns exactly the plain greedy tokens (logit difference 0.0, was
# up to ~0.5; every replay keystroke identical). Not every format gets there (a Q4_K_M
# model still differed by ~0.05). Cost here: ~0.8x prefill speed for Q4_1 and Q4_K_M,
# 0.78x for Q4_0 (tinyBLAS also serves F16 attention, Q8_0 and F32 in batches).
set -euo pipefail

version="${LLAMA_CPP_PYTHON_VERSION:-0.3.36}"
backend="${CL_LSP_BACKEND:-cpu}"
arch="$(uname -m)"
common="-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF"

case "$backend" in
  cpu)
    if [ "$arch" = "x86_64" ]; then
      flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF"
    else
      flags="-DGGML_NATIVE=ON"
    fi ;;
  cpu-exact)
    if [ "$arch" = "x86_64" ]; then
      flags="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF -DGGML_LLAMAFILE=OFF"
    else
      flags="-DGGML_NATIVE=ON -DGGML_LLAMAFILE=OFF"
    fi ;;
  cuda) flags="-DGGML_CUDA=ON" ;;
  metal) flags="-DGGML_METAL=ON" ;;
  native) flags="-DGGML_NATIVE=ON" ;;
  *) echo "CL_LSP_BACKEND must be cpu, cpu-exact, cuda, metal or native (got $backend)" >&2; exit 2 ;;
esac

key="$(printf '%s %s %s' "$version" "$flags $common" "$(python -c 'import sys; print(sys.version_info[:2])')" | sha256sum | cut -c1-12)"
cache="${CL_LSP_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cl-lsp/wheels}/$backend-$arch-$key"

if ! ls "$cache"/llama_cpp_python-"$version"-*.whl >/dev/null 2>&1; then
  echo "building llama-cpp-python $version ($backend: $flags); this takes a few minutes" >&2
  mkdir -p "$cache"
  CMAKE_ARGS="$flags $common" CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}" \
    python -m pip wheel --no-deps --no-cache-dir -w "$cache" "llama-cpp-python==$version"
fi
python -m pip install --no-deps --force-reinstall "$cache"/llama_cpp_python-"$version"-*.whl
# Its own runtime dependencies (installed --no-deps above).
python -m pip install "numpy>=1.20" "jinja2>=2.11.3" "diskcache>=5.6.1" "typing-extensions>=4.5"

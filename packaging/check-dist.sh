#!/usr/bin/env bash
# Build the sdist and the wheel (the wheel from the sdist, as pip does), check that every
# subpackage and every grammars/*/*.scm query is inside, install the wheel into a fresh
# venv and run the installed (non-editable) `cl-lsp` from outside the source tree.
#
#   bash packaging/check-dist.sh            offline: the fresh venv gets its dependencies
#                                           from the active environment (a .pth line), so
#                                           only cl-lsp itself comes from the wheel
#   CL_LSP_CHECK_DEPS=1 bash packaging/...  also resolve the wheel's dependencies from the
#                                           package index (network), with llama-cpp-python
#                                           from build-llama-cpp.sh's wheel cache when built
#   CL_LSP_DIST_DIR=dir                     where the sdist and wheel go (default: dist/)
#
# Run it with the project's venv active. Exit status 0 when everything checks out.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
dist="${CL_LSP_DIST_DIR:-$root/dist}"
python="${PYTHON:-python}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "check-dist: FAIL: $*" >&2; exit 1; }
say() { echo "check-dist: $*" >&2; }

rm -rf "$dist" && mkdir -p "$dist"
say "building sdist and wheel into $dist"
# Isolated, as pip builds it; without network, fall back to this environment's setuptools.
if ! "$python" -m build --outdir "$dist" . >"$work/build.log" 2>&1; then
  say "isolated build failed (offline?); retrying with --no-isolation"
  "$python" -m build --no-isolation --skip-dependency-check --outdir "$dist" . >>"$work/build.log" 2>&1 \
    || { tail -40 "$work/build.log" >&2; fail "python -m build failed"; }
fi
wheel="$(ls "$dist"/cl_lsp-*.whl)"
sdist="$(ls "$dist"/cl_lsp-*.tar.gz)"
say "built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KB), $(basename "$sdist")"

# Every package (a folder of cl_lsp with __init__.py) and every query file must ship.
"$python" - "$wheel" "$sdist" <<'EOF' || fail "the wheel or sdist misses files (above)"
import sys, tarfile, zipfile
from pathlib import Path

wheel, sdist = sys.argv[1:3]
names = set(zipfile.ZipFile(wheel).namelist())
sdist_names = {n.split("/", 1)[1] for n in tarfile.open(sdist).getnames() if "/" in n}
missing = []
for init in sorted(Path("cl_lsp").rglob("__init__.py")):
    if "__pycache__" not in init.parts and init.as_posix() not in names:
        missing.append(f"wheel: {init.as_posix()} (add the package to pyproject.toml)")
for module in sorted(Path("cl_lsp").rglob("*.py")):
    if "__pycache__" not in module.parts and module.as_posix() not in names:
        missing.append(f"wheel: {module.as_posix()}")
queries = sorted(Path("grammars").glob("*/*.scm"))
if not queries:
    missing.append("no grammars/*/*.scm in the source tree?")
for query in queries:
    inside = "cl_lsp/grammars/" + query.relative_to("grammars").as_posix()
    if inside not in names:
        missing.append(f"wheel: {inside}")
    if query.as_posix() not in sdist_names:
        missing.append(f"sdist: {query.as_posix()}")
for path in ("pyproject.toml", "README.md"):
    if path not in sdist_names:
        missing.append(f"sdist: {path}")
for m in missing:
    print("  missing", m, file=sys.stderr)
print(f"check-dist: {len(queries)} query files, "
      f"{sum(1 for n in names if n.endswith('/__init__.py'))} packages in the wheel", file=sys.stderr)
sys.exit(1 if missing else 0)
EOF

say "installing the wheel into a fresh venv"
"$python" -m venv "$work/venv"
venv_py="$work/venv/bin/python"
if [[ "${CL_LSP_CHECK_DEPS:-0}" == "1" ]]; then
  llama_wheel="$(ls "${CL_LSP_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cl-lsp/wheels}"/*/llama_cpp_python-*.whl 2>/dev/null | head -1 || true)"
  "$venv_py" -m pip install -q ${llama_wheel:+"$llama_wheel"} "$wheel" || fail "pip install of the wheel failed"
else
  "$venv_py" -m pip install -q --no-deps "$wheel" || fail "pip install --no-deps of the wheel failed"
  # Dependencies from the active environment, appended after the venv's own site-packages
  # (a plain path: .pth files there, such as an editable cl-lsp, are not processed).
  deps="$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  site="$("$venv_py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  echo "$deps" > "$site/zz-cl-lsp-check-deps.pth"
fi

cd "$work"  # away from the source tree: nothing may come from it
version="$("$work/venv/bin/cl-lsp" --version)" || fail "cl-lsp --version failed"
say "installed: $version"
"$venv_py" - <<'EOF' || fail "the installed package does not work"
import sys
from pathlib import Path

import cl_lsp
from cl_lsp.core.languages import query

location = Path(cl_lsp.__file__).resolve()
assert Path(sys.prefix).resolve() in location.parents, f"cl_lsp imported from {location}"
assert query("python", "tags"), "no python tags query"
for language in ("javascript", "typescript", "go", "rust", "c", "cpp", "java", "bash"):
    try:
        assert query(language, "tags"), language
    except LookupError:
        pass
from cl_lsp import doctor, models  # noqa: F401  the new modules are importable
from cl_lsp.engine import remote  # noqa: F401
print(f"check-dist: queries load from {location.parent}", file=sys.stderr)
EOF
"$work/venv/bin/cl-lsp" model list >/dev/null || fail "cl-lsp model list failed"
say "OK"

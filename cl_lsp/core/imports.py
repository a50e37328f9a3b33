"""Resolve import statements to workspace files, one resolver per language."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from cl_lsp.core.filters import normpath
from cl_lsp.core.symbols import Import

if TYPE_CHECKING:
    from cl_lsp.core.index import RepositoryIndex

# ---------------------------------------------------------------------------------------
# Import resolution per language


class Resolver:
    """Path lookups over the indexed files (the caller holds the index lock)."""

    def __init__(self, index: RepositoryIndex, from_path: str) -> None:
        self.index = index
        self.from_path = from_path
        self.from_dir = from_path.rsplit("/", 1)[0] if "/" in from_path else ""

    def exists(self, path: str) -> bool:
        return self.index.has_file(path)

    def first(self, candidates: list[str]) -> str | None:
        for cand in candidates:
            norm = normpath(cand)
            if norm is not None and self.exists(norm):
                return norm
        return None

    def join(self, base: str, rel: str) -> str:
        return f"{base}/{rel}" if base else rel

    def by_suffix(self, suffixes: list[str]) -> str | None:
        """A known file ending with one of `suffixes` (as whole components), the one
        closest to the importing file first."""
        for suffix in suffixes:
            name = suffix.rsplit("/", 1)[-1]
            same_name = self.index.files_named(name)
            hits = [p for p in same_name if p == suffix or p.endswith("/" + suffix)]
            if hits:
                return min(hits, key=self._distance)
        return None

    def files_in(self, folder: str) -> frozenset[str]:
        return self.index.files_in_folder(folder)

    def dir_files(self, dir_suffix: str, exts: tuple[str, ...]) -> list[str]:
        """Files directly inside folders ending with `dir_suffix`, nearest folder first."""
        out: list[str] = []
        for folder in self.index.folders():
            if folder == dir_suffix or folder.endswith("/" + dir_suffix):
                out.extend(p for p in self.index.files_in_folder(folder) if p.endswith(exts))
        return sorted(out, key=lambda p: (self._distance(p), p))

    def _distance(self, path: str) -> tuple[int, int, str]:
        a, b = self.from_path.split("/")[:-1], path.split("/")[:-1]
        common = 0
        for x, y in zip(a, b, strict=False):
            if x != y:
                break
            common += 1
        return (len(a) + len(b) - 2 * common, len(path), path)

    def module_def(self, name: str) -> str | None:
        """A file declaring the namespace/package `name` (C#, PHP, Java)."""
        defs = [d for d in self.index.definitions_named(name) if d.kind == "module"]
        return min((d.path for d in defs), key=self._distance) if defs else None


def _resolve_python(r: Resolver, imp: Import) -> str | None:
    module = imp.module
    dots = len(module) - len(module.lstrip("."))
    rest = module[dots:].replace(".", "/")
    if dots:
        base_parts = r.from_dir.split("/") if r.from_dir else []
        if dots - 1 > len(base_parts):
            return None
        base = "/".join(base_parts[: len(base_parts) - (dots - 1)])
        target = r.join(base, rest) if rest else base
        return (
            r.first(
                [
                    f"{target}.py",
                    f"{target}.pyi",
                    r.join(target, "__init__.py"),
                    r.join(target, "__init__.pyi"),
                ]
            )
            if target or rest
            else r.first(["__init__.py"])
        )
    for prefix in ("", "src/", "lib/", "python/"):
        found = r.first(
            [
                f"{prefix}{rest}.py",
                f"{prefix}{rest}.pyi",
                f"{prefix}{rest}/__init__.py",
                f"{prefix}{rest}/__init__.pyi",
            ]
        )
        if found:
            return found
    if "/" in rest:  # a package nested somewhere (monorepo): match the dotted path's tail
        return r.by_suffix([f"{rest}.py", f"{rest}/__init__.py", f"{rest}.pyi"])
    # A script's own folder comes first on sys.path: `import helper` next to it.
    return r.first([r.join(r.from_dir, f"{rest}.py"), r.join(r.from_dir, f"{rest}/__init__.py")])


_JS_EXTS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mjs", ".cjs", ".mts", ".cts")


def _resolve_js(r: Resolver, imp: Import) -> str | None:
    spec = imp.module.split("?", 1)[0]
    if spec.startswith("."):
        target = r.join(r.from_dir, spec)
    elif spec.startswith("/"):
        target = spec.lstrip("/")
    elif spec.startswith(("@/", "~/")):
        target = "src/" + spec[2:]
    else:
        return None  # a package: node_modules are not indexed
    stem = re.sub(r"\.(m|c)?jsx?$", "", target)  # TS sources import "./x.js"
    candidates = [target]
    for base in dict.fromkeys([target, stem]):
        candidates += [base + ext for ext in _JS_EXTS]
        candidates += [f"{base}/index{ext}" for ext in _JS_EXTS]
    return r.first(candidates)


_C_INCLUDE_DIRS = ("", "include/", "src/", "inc/", "lib/")


def _resolve_c(r: Resolver, imp: Import) -> str | None:
    header = imp.module
    candidates = [r.join(r.from_dir, header)] + [d + header for d in _C_INCLUDE_DIRS]
    return r.first(candidates) or r.by_suffix([header])


def _resolve_go(r: Resolver, imp: Import) -> str | None:
    path = imp.module
    mod = r.index.go_module()
    if mod and (path == mod or path.startswith(mod + "/")):
        rel_dir = path[len(mod) :].lstrip("/")
        files = [p for p in r.files_in(rel_dir) if p.endswith(".go")]
        files = sorted(p for p in files if not p.endswith("_test.go")) or sorted(files)
        if files:
            return files[0]
    parts = path.split("/")
    if "." not in parts[0]:
        return None  # the standard library ("fmt", "net/http")
    for start in range(len(parts) - 1):  # the longest tail (2+ parts) that is a folder
        files = [
            p for p in r.dir_files("/".join(parts[start:]), (".go",)) if not p.endswith("_test.go")
        ]
        if files:
            return files[0]
    return None


def _rust_crate_dir(r: Resolver) -> str:
    parts = r.from_dir.split("/") if r.from_dir else []
    for depth in range(len(parts), -1, -1):
        base = "/".join(parts[:depth])
        if any(r.exists(r.join(base, f)) for f in ("lib.rs", "main.rs")):
            return base
    return "src" if r.files_in("src") else ""


def _rust_module_dir(r: Resolver) -> str:
    """Where submodules of the importing file live (`mod x;` in foo.rs -> foo/x.rs)."""
    name = r.from_path.rsplit("/", 1)[-1]
    if name in ("mod.rs", "lib.rs", "main.rs"):
        return r.from_dir
    return r.join(r.from_dir, name[: -len(".rs")])


def _resolve_rust(r: Resolver, imp: Import) -> str | None:
    segments = [s for s in imp.module.split("::") if s]
    if imp.text.lstrip().startswith(("mod ", "pub mod ", "pub(crate) mod ")):
        base = r.join(_rust_module_dir(r), segments[0]) if segments else ""
        return r.first([f"{base}.rs", f"{base}/mod.rs"])
    if not segments:
        return None
    head = segments[0]
    if head == "crate":
        base, segments = _rust_crate_dir(r), segments[1:]
    elif head == "self":
        base, segments = _rust_module_dir(r), segments[1:]
    elif head == "super":
        base = _rust_module_dir(r)
        while segments and segments[0] == "super":  # each `super` is one module up
            base = base.rsplit("/", 1)[0] if "/" in base else ""
            segments = segments[1:]
    else:
        base = _rust_crate_dir(r)  # a crate-local module used without `crate::` (2015)
    for end in range(len(segments), 0, -1):  # `a::b::Item`: the module is the longest file
        target = r.join(base, "/".join(segments[:end]))
        found = r.first([f"{target}.rs", f"{target}/mod.rs"])
        if found:
            return found
    return None


def _resolve_dotted_java_like(r: Resolver, imp: Import, ext: str) -> str | None:
    parts = imp.module.split(".")
    for end in range(len(parts), 0, -1):  # static imports name a member: drop the tail
        found = r.by_suffix(["/".join(parts[:end]) + ext])
        if found:
            return found
    found = r.module_def(imp.module)
    if found:
        return found
    for start in range(len(parts)):  # a package folder (wildcard import, C# namespace)
        files = r.dir_files("/".join(parts[start:]), (ext,))
        if files:
            return files[0]
    return None


def _resolve_java(r: Resolver, imp: Import) -> str | None:
    return _resolve_dotted_java_like(r, imp, ".java")


def _resolve_csharp(r: Resolver, imp: Import) -> str | None:
    return r.module_def(imp.module) or _resolve_dotted_java_like(r, imp, ".cs")


def _resolve_php(r: Resolver, imp: Import) -> str | None:
    module = imp.module
    if module.endswith(".php"):  # require/include
        return r.first([r.join(r.from_dir, module.lstrip("/")), module.lstrip("/")])
    parts = [p for p in module.replace("\\", "/").split("/") if p]
    names = [parts + [n] for n in imp.names] or [parts]
    for full in names:
        for start in range(len(full)):  # PSR-4 drops a vendor prefix: try shorter tails
            found = r.by_suffix(["/".join(full[start:]) + ".php"])
            if found:
                return found
    return r.module_def(module.lstrip("\\"))


def _resolve_bash(r: Resolver, imp: Import) -> str | None:
    path = imp.module
    if "$" in path:
        return None
    return r.first([r.join(r.from_dir, path), path.lstrip("/")])


RESOLVERS: dict[str, Callable[[Resolver, Import], str | None]] = {
    "python": _resolve_python,
    "javascript": _resolve_js,
    "typescript": _resolve_js,
    "tsx": _resolve_js,
    "c": _resolve_c,
    "cpp": _resolve_c,
    "go": _resolve_go,
    "rust": _resolve_rust,
    "java": _resolve_java,
    "c_sharp": _resolve_csharp,
    "php": _resolve_php,
    "bash": _resolve_bash,
}

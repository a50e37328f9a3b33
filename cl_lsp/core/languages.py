"""Map LSP language ids and file extensions to tree-sitter grammars and our query files."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import PurePath

import tree_sitter as ts


@dataclass(frozen=True)
class LanguageSpec:
    """One language cl-lsp understands."""

    name: str  # our key; also the folder under grammars/
    module: str  # the per-language grammar wheel
    loader: str  # the function in that module returning the language pointer
    extensions: tuple[str, ...]
    language_ids: tuple[str, ...]  # LSP languageId values
    line_comment: str  # how a context snippet is commented out in this language


LANGUAGES: tuple[LanguageSpec, ...] = (
    LanguageSpec("python", "tree_sitter_python", "language", (".py", ".pyi"), ("python",), "#"),
    LanguageSpec(
        "javascript",
        "tree_sitter_javascript",
        "language",
        (".js", ".mjs", ".cjs", ".jsx"),
        ("javascript", "javascriptreact"),
        "//",
    ),
    LanguageSpec(
        "typescript",
        "tree_sitter_typescript",
        "language_typescript",
        (".ts", ".mts", ".cts"),
        ("typescript",),
        "//",
    ),
    LanguageSpec(
        "tsx", "tree_sitter_typescript", "language_tsx", (".tsx",), ("typescriptreact",), "//"
    ),
    LanguageSpec("java", "tree_sitter_java", "language", (".java",), ("java",), "//"),
    LanguageSpec("c", "tree_sitter_c", "language", (".c", ".h"), ("c",), "//"),
    LanguageSpec(
        "cpp",
        "tree_sitter_cpp",
        "language",
        (".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".ipp"),
        ("cpp",),
        "//",
    ),
    LanguageSpec("c_sharp", "tree_sitter_c_sharp", "language", (".cs",), ("csharp",), "//"),
    LanguageSpec("php", "tree_sitter_php", "language_php", (".php",), ("php",), "//"),
    LanguageSpec("go", "tree_sitter_go", "language", (".go",), ("go",), "//"),
    LanguageSpec("rust", "tree_sitter_rust", "language", (".rs",), ("rust",), "//"),
    LanguageSpec(
        "bash", "tree_sitter_bash", "language", (".sh", ".bash"), ("shellscript", "bash", "sh"), "#"
    ),
)

_BY_NAME = {spec.name: spec for spec in LANGUAGES}
_BY_EXTENSION = {ext: spec for spec in LANGUAGES for ext in spec.extensions}
_BY_LANGUAGE_ID = {lid: spec for spec in LANGUAGES for lid in spec.language_ids}


def spec_by_name(name: str) -> LanguageSpec | None:
    return _BY_NAME.get(name)


def detect(
    path: str | PurePath | None = None, language_id: str | None = None
) -> LanguageSpec | None:
    """The language of a document: its LSP languageId wins, then the file extension."""
    if language_id and language_id in _BY_LANGUAGE_ID:
        return _BY_LANGUAGE_ID[language_id]
    if path is not None:
        return _BY_EXTENSION.get(PurePath(path).suffix.lower())
    return None


@cache
def ts_language(name: str) -> ts.Language:
    """The tree-sitter Language for one of our language names (loaded once)."""
    spec = _BY_NAME[name]
    module = importlib.import_module(spec.module)
    return ts.Language(getattr(module, spec.loader)())


def new_parser(name: str) -> ts.Parser:
    """A fresh parser: tree-sitter parsers are not thread-safe, so callers own theirs."""
    return ts.Parser(ts_language(name))


def query_source(name: str, kind: str) -> str | None:
    """Our own query file grammars/<name>/<kind>.scm, read from the installed package."""
    path = resources.files("cl_lsp.grammars") / name / f"{kind}.scm"
    if not path.is_file():
        return None
    return path.read_text(encoding="utf-8")


@cache
def query(name: str, kind: str) -> ts.Query | None:
    """The compiled query grammars/<name>/<kind>.scm, or None when we ship none."""
    source = query_source(name, kind)
    if source is None:
        return None
    return ts.Query(ts_language(name), source)

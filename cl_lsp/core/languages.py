"""Map LSP language ids and file extensions to tree-sitter grammars and our query files."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from importlib import resources
from pathlib import PurePath

import tree_sitter as ts

# JavaScript/TypeScript nodes whose value is a function: `const f = () => ...` defines `f`.
JS_FUNCTION_VALUES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function"}
)


@dataclass(frozen=True)
class DocStyle:
    """How one language writes documentation for a definition."""

    inside: bool  # Python: a string literal as the body's first statement
    open: str  # first line (after the indentation), e.g. "/**", or "" for line comments
    line: str  # prefix of each content line, e.g. " * ", "/// ", "# "
    close: str  # last line, e.g. " */", or ""
    params: str = ""  # "jsdoc" | "phpdoc" | "csharp" | "doxygen" | "" (summary only)


@dataclass(frozen=True)
class LanguageSpec:
    """One language cl-lsp understands: grammar, file kinds, and what features need."""

    name: str  # our key; also the folder under grammars/
    module: str  # the per-language grammar wheel
    loader: str  # the function in that module returning the language pointer
    extensions: tuple[str, ...]
    language_ids: tuple[str, ...]  # LSP languageId values
    line_comment: str  # how a context snippet is commented out in this language
    display_name: str = ""  # how prompts and messages name it ("C#")
    doc: DocStyle | None = None  # its documentation convention (docstring actions)
    # Definition node types -> a kind for the UI ("function", "class"...): what a
    # docstring action documents.
    definitions: Mapping[str, str] = field(default_factory=dict, hash=False)
    # Nodes that carry a definition and own the comment in front of it (decorators...).
    definition_wrappers: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        return self.display_name or self.name


_BLOCK_DOC = ("/**", " * ", " */")
_JS_DEFINITIONS = {
    "function_declaration": "function",
    "generator_function_declaration": "function",
    "class_declaration": "class",
    "method_definition": "method",
    "lexical_declaration": "function",
    "variable_declaration": "function",
}
_TS_DEFINITIONS = {
    **_JS_DEFINITIONS,
    "interface_declaration": "interface",
    "abstract_class_declaration": "class",
    "type_alias_declaration": "type",
    "enum_declaration": "enum",
    "function_signature": "function",
    "method_signature": "method",
    "abstract_method_signature": "method",
}

_TYPESCRIPT = LanguageSpec(
    "typescript",
    "tree_sitter_typescript",
    "language_typescript",
    (".ts", ".mts", ".cts"),
    ("typescript",),
    "//",
    display_name="TypeScript",
    doc=DocStyle(False, *_BLOCK_DOC, "tsdoc"),
    definitions=_TS_DEFINITIONS,
    definition_wrappers=("export_statement",),
)

LANGUAGES: tuple[LanguageSpec, ...] = (
    LanguageSpec(
        "python",
        "tree_sitter_python",
        "language",
        (".py", ".pyi"),
        ("python",),
        "#",
        display_name="Python",
        doc=DocStyle(True, '"""', "", '"""'),
        definitions={"function_definition": "function", "class_definition": "class"},
        definition_wrappers=("decorated_definition",),
    ),
    LanguageSpec(
        "javascript",
        "tree_sitter_javascript",
        "language",
        (".js", ".mjs", ".cjs", ".jsx"),
        ("javascript", "javascriptreact"),
        "//",
        display_name="JavaScript",
        doc=DocStyle(False, *_BLOCK_DOC, "jsdoc"),
        definitions=_JS_DEFINITIONS,
        definition_wrappers=("export_statement",),
    ),
    _TYPESCRIPT,
    replace(
        _TYPESCRIPT,
        name="tsx",
        loader="language_tsx",
        extensions=(".tsx",),
        language_ids=("typescriptreact",),
    ),
    LanguageSpec(
        "java",
        "tree_sitter_java",
        "language",
        (".java",),
        ("java",),
        "//",
        display_name="Java",
        doc=DocStyle(False, *_BLOCK_DOC, "jsdoc"),
        definitions={
            "method_declaration": "method",
            "constructor_declaration": "constructor",
            "class_declaration": "class",
            "interface_declaration": "interface",
            "enum_declaration": "enum",
            "record_declaration": "record",
        },
    ),
    LanguageSpec(
        "c",
        "tree_sitter_c",
        "language",
        (".c", ".h"),
        ("c",),
        "//",
        display_name="C",
        doc=DocStyle(False, *_BLOCK_DOC, "doxygen"),
        definitions={"function_definition": "function"},
    ),
    LanguageSpec(
        "cpp",
        "tree_sitter_cpp",
        "language",
        (".cc", ".cpp", ".cxx", ".hpp", ".hh", ".hxx", ".ipp"),
        ("cpp",),
        "//",
        display_name="C++",
        doc=DocStyle(False, *_BLOCK_DOC, "doxygen"),
        definitions={
            "function_definition": "function",
            "class_specifier": "class",
            "struct_specifier": "struct",
        },
        definition_wrappers=("template_declaration",),
    ),
    LanguageSpec(
        "c_sharp",
        "tree_sitter_c_sharp",
        "language",
        (".cs",),
        ("csharp",),
        "//",
        display_name="C#",
        doc=DocStyle(False, "", "/// ", "", "csharp"),
        definitions={
            "method_declaration": "method",
            "constructor_declaration": "constructor",
            "class_declaration": "class",
            "interface_declaration": "interface",
            "struct_declaration": "struct",
            "record_declaration": "record",
            "enum_declaration": "enum",
        },
    ),
    LanguageSpec(
        "php",
        "tree_sitter_php",
        "language_php",
        (".php",),
        ("php",),
        "//",
        display_name="PHP",
        doc=DocStyle(False, *_BLOCK_DOC, "phpdoc"),
        definitions={
            "function_definition": "function",
            "method_declaration": "method",
            "class_declaration": "class",
            "interface_declaration": "interface",
            "trait_declaration": "trait",
        },
    ),
    LanguageSpec(
        "go",
        "tree_sitter_go",
        "language",
        (".go",),
        ("go",),
        "//",
        display_name="Go",
        doc=DocStyle(False, "", "// ", ""),
        definitions={
            "function_declaration": "function",
            "method_declaration": "method",
            "type_declaration": "type",
        },
    ),
    LanguageSpec(
        "rust",
        "tree_sitter_rust",
        "language",
        (".rs",),
        ("rust",),
        "//",
        display_name="Rust",
        doc=DocStyle(False, "", "/// ", ""),
        definitions={
            "function_item": "function",
            "function_signature_item": "function",
            "struct_item": "struct",
            "enum_item": "enum",
            "trait_item": "trait",
            "mod_item": "module",
        },
    ),
    LanguageSpec(
        "bash",
        "tree_sitter_bash",
        "language",
        (".sh", ".bash"),
        ("shellscript", "bash", "sh"),
        "#",
        display_name="Bash",
        doc=DocStyle(False, "", "# ", ""),
        definitions={"function_definition": "function"},
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

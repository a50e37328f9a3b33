"""Extract definitions, imports and references from one file with our tree-sitter queries.

The queries live in grammars/<language>/tags.scm; their capture names are documented in the
header of each file. This module turns query matches into the plain records of symbols.py:
signatures are the definition headers as written, docs are docstrings or the comment block
right above a definition, scopes are the dotted names of enclosing definitions.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import tree_sitter as ts

from cl_lsp.core.languages import JS_FUNCTION_VALUES, new_parser, query
from cl_lsp.core.symbols import Definition, FileTags, Import

MAX_SIGNATURE_CHARS = 300
MAX_DOC_CHARS = 600

# Definitions that give their name to what they contain; a function inside one is a method.
_CLASS_LIKE = frozenset({"class", "interface", "struct", "trait", "enum", "impl"})
# Definitions that never contain others worth scoping (a typedef around a struct).
_NOT_CONTAINERS = frozenset({"type", "variable", "constant", "property", "macro"})
_FUNCTION_LIKE = frozenset({"function", "method"})
_VALUE_KINDS = frozenset({"variable", "constant", "property"})

# Parents that belong to a definition: its doc comment sits above them, not above the node.
_DOC_WRAPPERS = frozenset(
    {
        "decorated_definition",
        "export_statement",
        "template_declaration",
        "type_definition",
        "type_declaration",
        "const_declaration",
        "var_declaration",
        "expression_statement",
        "declaration_command",
        "ambient_declaration",
    }
)
# Parents whose leading keywords are part of the header (`export`, `template <...>`).
_SIG_WRAPPERS = frozenset({"export_statement", "template_declaration", "ambient_declaration"})
# Go `type X struct` / `const X = 1`: the keyword is on the parent when it has one spec.
_SIG_WRAPPERS_SINGLE = frozenset({"type_declaration", "const_declaration", "var_declaration"})

# Where a header ends: the first of these below the definition node.
_BODY_TYPES = frozenset(
    {
        "block",
        "compound_statement",
        "statement_block",
        "class_body",
        "interface_body",
        "enum_body",
        "declaration_list",
        "field_declaration_list",
        "enum_variant_list",
        "enumerator_list",
        "constructor_body",
        "enum_member_declaration_list",
        "accessor_list",
        "object_type",
    }
)
# Subtrees that never hold the body but may hold braces (defaults, type literals).
_NOT_BODY = frozenset(
    {
        "parameters",
        "formal_parameters",
        "parameter_list",
        "type_parameters",
        "type_parameter_list",
        "template_parameter_list",
        "arguments",
        "argument_list",
        "type_annotation",
        "decorator",
        "modifiers",
        "attribute_list",
        "superclasses",
        "class_heritage",
        "base_list",
        "base_class_clause",
        "trait_bounds",
        "where_clause",
        "type_arguments",
    }
)
_CONSTANT_NAME = re.compile(r"^_*[A-Z][A-Z0-9_]*$")
_QUOTED = re.compile(r"""["'`]([^"'`]+)["'`]""")

_local = threading.local()


def content_hash(source: bytes) -> str:
    """The content key of a file version (the index caches tags by it)."""
    return hashlib.blake2b(source, digest_size=16).hexdigest()


def parse(language: str, source: bytes) -> ts.Tree:
    """Parse with this thread's parser for `language` (parsers are not thread-safe)."""
    parsers: dict[str, ts.Parser] | None = getattr(_local, "parsers", None)
    if parsers is None:
        parsers = _local.parsers = {}
    parser = parsers.get(language)
    if parser is None:
        parser = parsers[language] = new_parser(language)
    return parser.parse(source)


def extract_tags(path: str, language: str, source: bytes, tree: ts.Tree | None = None) -> FileTags:
    """Definitions, imports and referenced identifiers of one file version."""
    digest = content_hash(source)
    q = query(language, "tags")
    if q is None:
        return FileTags(path=path, language=language, content_hash=digest)
    if tree is None:
        tree = parse(language, source)
    collected = _collect(ts.QueryCursor(q).matches(tree.root_node))
    definitions = _definitions(collected, path, source)
    imports = _imports(collected.imports, language)
    return FileTags(
        path=path,
        language=language,
        content_hash=digest,
        definitions=tuple(definitions),
        imports=tuple(imports),
        references=frozenset(collected.references),
    )


# ---------------------------------------------------------------------------------------
# Sorting query matches


@dataclass
class _RawDef:
    node: ts.Node
    name: ts.Node
    kind: str
    scope_name: str = ""


@dataclass
class _Collected:
    defs: list[_RawDef]
    scopes: dict[tuple[int, int], str]  # scope-opening node span -> name (impl blocks)
    imports: dict[tuple[int, int], tuple[ts.Node, list[str], list[str]]]
    references: set[str]


def _text(node: ts.Node) -> str:
    return (node.text or b"").decode("utf-8", "replace")


def _collect(matches: Iterable[tuple[int, dict[str, list[ts.Node]]]]) -> _Collected:
    out = _Collected(defs=[], scopes={}, imports={}, references=set())
    for _, caps in matches:
        refs = caps.get("reference")
        if refs is not None:
            out.references.update(_text(n) for n in refs)
        if "import" in caps:
            _add_import(out, caps)
            continue
        if "scope" in caps and "name" in caps:
            node = caps["scope"][0]
            out.scopes[(node.start_byte, node.end_byte)] = _text(caps["name"][0])
            continue
        for cap, nodes in caps.items():
            if cap.startswith("definition.") and "name" in caps:
                scope = caps.get("scope.name")
                out.defs.append(
                    _RawDef(
                        node=nodes[0],
                        name=caps["name"][0],
                        kind=cap.partition(".")[2],
                        scope_name=_text(scope[0]).replace("::", ".") if scope else "",
                    )
                )
                break
    return out


def _add_import(out: _Collected, caps: dict[str, list[ts.Node]]) -> None:
    stmt = caps["import"][0]
    key = (stmt.start_byte, stmt.end_byte)
    entry = out.imports.get(key)
    if entry is None:
        entry = out.imports[key] = (stmt, [], [])
    for node in caps.get("import.module", ()):
        text = _text(node)
        if text not in entry[1]:
            entry[1].append(text)
    for node in caps.get("import.name", ()):
        text = _text(node)
        if text not in entry[2]:
            entry[2].append(text)


# ---------------------------------------------------------------------------------------
# Definitions


def _span(node: ts.Node) -> tuple[int, int]:
    return (node.start_byte, node.end_byte)


def _definitions(collected: _Collected, path: str, source: bytes) -> list[Definition]:
    # One record per node: a node matched by several patterns keeps its first, most
    # specific kind (patterns for functions precede those for plain variables).
    by_span: dict[tuple[int, int, str], _RawDef] = {}
    for raw in collected.defs:
        key = (raw.node.start_byte, raw.node.end_byte, _text(raw.name))
        old = by_span.get(key)
        if old is None or (old.kind in _VALUE_KINDS and raw.kind not in _VALUE_KINDS):
            by_span[key] = raw
    raws = sorted(by_span.values(), key=lambda r: r.node.start_byte)
    containers: dict[tuple[int, int], tuple[str, str]] = {
        span: (name, "impl") for span, name in collected.scopes.items()
    }
    for raw in raws:
        if raw.kind not in _NOT_CONTAINERS:
            containers.setdefault(_span(raw.node), (_text(raw.name), raw.kind))
    return [_definition(raw, containers, path, source) for raw in raws]


def _enclosing(
    node: ts.Node, containers: dict[tuple[int, int], tuple[str, str]]
) -> list[tuple[str, str]]:
    """(name, kind) of the definitions around `node`, outermost first."""
    found: list[tuple[str, str]] = []
    seen = {_span(node)}  # wrappers share their child's span: count each span once
    parent = node.parent
    while parent is not None:
        span = _span(parent)
        hit = containers.get(span) if span not in seen else None
        seen.add(span)
        if hit is not None:
            found.append(hit)
        parent = parent.parent
    found.reverse()
    return found


def _definition(
    raw: _RawDef,
    containers: dict[tuple[int, int], tuple[str, str]],
    path: str,
    source: bytes,
) -> Definition:
    node, name = raw.node, _text(raw.name)
    outer = _enclosing(node, containers)
    scope_parts = [n for n, _ in outer]
    kind = raw.kind
    if raw.scope_name:
        scope_parts.append(raw.scope_name)
        if kind == "function":
            kind = "method"
    elif kind == "function" and outer and outer[-1][1] in _CLASS_LIKE:
        kind = "method"
    if kind == "variable" and _CONSTANT_NAME.match(name) and len(name) > 1:
        kind = "constant"
    top = _doc_anchor(node)
    return Definition(
        name=name,
        kind=kind,
        path=path,
        start_line=_sig_start(node).start_point.row,
        end_line=_end_line(node),
        signature=_signature(node, kind, source),
        doc=_doc(node, top),
        scope=".".join(scope_parts),
    )


def _end_line(node: ts.Node) -> int:
    """The last line with text: `#define` nodes end at column 0 of the next line."""
    row, col = node.end_point
    return row - 1 if col == 0 and row > node.start_point.row else row


# ---------------------------------------------------------------------------------------
# Signatures


def _sig_start(node: ts.Node) -> ts.Node:
    parent = node.parent
    while parent is not None and (
        parent.type in _SIG_WRAPPERS
        or (parent.type in _SIG_WRAPPERS_SINGLE and parent.named_child_count == 1)
    ):
        node, parent = parent, parent.parent
    return node


def _header_end(node: ts.Node) -> int | None:
    """Byte offset where the header ends: the body, or Python's `:` before the block."""
    body = node.child_by_field_name("body")
    if body is not None and node.type in ("function_definition", "class_definition"):
        for child in node.children:
            if child.type == ":":
                return child.end_byte
    if body is not None:
        return body.start_byte
    # Breadth-first, shallow: `const f = () => {...}`, Go `type T struct {...}`.
    frontier = [node]
    for _ in range(3):
        nxt: list[ts.Node] = []
        for item in frontier:
            for child in item.children:
                if child.type in _BODY_TYPES or child.type == "{":
                    return child.start_byte
                if child.type in _NOT_BODY:
                    continue
                inner = child.child_by_field_name("body")
                if inner is not None and child.type in JS_FUNCTION_VALUES:
                    return inner.start_byte
                nxt.append(child)
        frontier = nxt
    return None


def _signature(node: ts.Node, kind: str, source: bytes) -> str:
    start = _sig_start(node).start_byte
    end = None if kind in _VALUE_KINDS else _header_end(node)
    if end is None or end <= start:
        end = node.end_byte
    text = source[start:end].decode("utf-8", "replace").rstrip()
    if kind in _VALUE_KINDS and "\n" in text:
        text = text.split("\n", 1)[0].rstrip() + " ..."
    return _one_line(text)


def _one_line(text: str) -> str:
    if "\n" in text:
        text = " ".join(part.strip() for part in text.splitlines() if part.strip())
        text = re.sub(r"([(\[<]) ", r"\1", text)
        text = re.sub(r" ([)\]>])", r"\1", text)
        text = re.sub(r",\s*([)\]])", r"\1", text)
    if len(text) > MAX_SIGNATURE_CHARS:
        text = text[: MAX_SIGNATURE_CHARS - 3].rstrip() + "..."
    return text


# ---------------------------------------------------------------------------------------
# Docs


def _doc_anchor(node: ts.Node) -> ts.Node:
    """The node whose preceding comments document `node` (decorators, export, typedef)."""
    parent = node.parent
    while parent is not None and parent.type in _DOC_WRAPPERS:
        if parent.type in _SIG_WRAPPERS_SINGLE and parent.named_child_count > 1:
            break
        node, parent = parent, parent.parent
    return node


def _python_docstring(node: ts.Node) -> str | None:
    if node.type not in ("function_definition", "class_definition"):
        return None
    body = node.child_by_field_name("body")
    if body is None or body.named_child_count == 0:
        return None
    first = body.named_children[0]
    if first.type == "expression_statement" and first.named_child_count == 1:
        string = first.named_children[0]
        if string.type == "string":
            return _text(string)
    return None


def _is_comment(node: ts.Node) -> bool:
    return "comment" in node.type


def _doc(node: ts.Node, anchor: ts.Node) -> str:
    doc = _python_docstring(node)
    if doc is None:
        return _cap(_leading_comments(anchor), "")
    # Keep a cut docstring a valid literal: the context builder renders it as code.
    close = re.search(r"(\"\"\"|'''|\"|')$", doc)
    return _cap(doc, close.group(1) if close is not None else "")


def _cap(doc: str, closing: str) -> str:
    if len(doc) <= MAX_DOC_CHARS:
        return doc
    return doc[: MAX_DOC_CHARS - 3 - len(closing)].rstrip() + "..." + closing


def _leading_comments(anchor: ts.Node) -> str:
    """The comment block that ends on the line above `anchor` (no blank line between)."""
    parts: list[str] = []
    line = anchor.start_point.row
    sib = anchor.prev_named_sibling
    while sib is not None:
        if sib.type in ("attribute_item", "attribute_list", "decorator"):
            line = sib.start_point.row
            sib = sib.prev_named_sibling
            continue
        if not _is_comment(sib) or sib.end_point.row < line - 1:
            break
        before = sib.prev_sibling
        if before is not None and before.end_point.row == sib.start_point.row:
            break  # a trailing comment of the previous statement
        parts.append(_text(sib).rstrip())
        line = sib.start_point.row
        sib = sib.prev_named_sibling
    parts.reverse()
    return "\n".join(parts)


# ---------------------------------------------------------------------------------------
# Imports


def _unquote(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] in "\"'`<" and text[-1] in "\"'`>":
        return text[1:-1]
    return text


def _rust_use(text: str) -> tuple[str, tuple[str, ...]]:
    """`crate::a::{B, C as D}` -> ("crate::a", ("B", "C")); `a::b::*` -> ("a::b", ())."""
    text = " ".join(text.split())
    if text.endswith("::*"):
        return text[:-3], ()
    head, sep, rest = text.partition("::{")
    if not sep:
        return text, ()
    names = []
    for item in rest.rstrip("}").split(","):
        word = item.strip().split(" as ")[0].strip()
        if word and word not in ("self", "*") and "{" not in word:
            names.append(word)
    return head, tuple(names)


def _imports(
    raw: dict[tuple[int, int], tuple[ts.Node, list[str], list[str]]], language: str
) -> list[Import]:
    out: list[Import] = []
    for _, (stmt, modules, names) in sorted(raw.items()):
        text = _one_line(_text(stmt).strip())
        line = stmt.start_point.row
        if not modules:
            quoted = _QUOTED.search(text)  # PHP `require __DIR__ . '/x.php'`
            if quoted is None:
                continue
            modules = [quoted.group(1)]
        for module in modules:
            mod, found = _unquote(module), tuple(names) if len(modules) == 1 else ()
            if language == "rust":
                mod, found = _rust_use(mod)
            out.append(Import(module=mod, names=found, line=line, text=text))
    return out

"""Where documentation goes: the definitions of a file and, for each, the slot its
documentation fills in that language's convention.

PEP 257 docstrings inside the body; JSDoc/TSDoc, Javadoc, Doxygen, PHPDoc `/** */` blocks,
C# `///` XML, Go `//` doc comments, Rust `///`, Bash `#` lines before the definition. The
existing documentation is found too, so an action replaces it instead of duplicating it.
Pure functions over text and tree-sitter trees; offsets index the Python string.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import tree_sitter as ts

from .languages import JS_FUNCTION_VALUES, DocStyle, spec_by_name
from .syntax_tree import SourceText

# --------------------------------------------------------------------------- conventions
# Each language's convention, definition nodes and wrappers are on its LanguageSpec.


def doc_style(language: str | None) -> DocStyle | None:
    """The documentation convention of a language; None where docs are not supported."""
    spec = spec_by_name(language) if language else None
    return spec.doc if spec is not None else None


_COMMENT_TYPES = ("comment", "line_comment", "block_comment", "doc_comment")


def supports_docs(language: str | None) -> bool:
    return doc_style(language) is not None


# --------------------------------------------------------------------------- doc slots


@dataclass
class DocSlot:
    """Where one definition's documentation goes, and what is there already."""

    name: str
    kind: str  # function | method | class | ...
    language: str
    def_start: int  # the definition (with decorators/exports/attributes)
    def_end: int
    header_end: int  # end of the signature line(s): what the model is shown at least
    insert: int  # where the new documentation starts (a line start, or after ":")
    indent: str  # indentation of the documentation's lines
    existing: tuple[int, int] | None  # current documentation, whole lines, to replace
    params: list[str] = field(default_factory=list)
    returns: bool = False  # has a non-empty return statement or declared return type
    inline_body: bool = False  # Python `def f(): return 1`: the body shares the line
    blank_after: bool = False  # PEP 257: a blank line after a class docstring
    replace_to: int | None = None  # an insertion that also replaces [insert, replace_to)

    @property
    def span(self) -> tuple[int, int]:
        """The range the new documentation replaces (empty for an insertion)."""
        if self.existing is not None:
            return self.existing
        return (self.insert, self.replace_to if self.replace_to is not None else self.insert)

    @property
    def documented(self) -> bool:
        return self.existing is not None


def _name_of(node: ts.Node, src: SourceText) -> str | None:
    name = node.child_by_field_name("name")
    if name is not None:
        return src.node_text(name)
    if node.type in ("lexical_declaration", "variable_declaration"):
        for child in node.named_children:
            if child.type == "variable_declarator":
                value = child.child_by_field_name("value")
                if value is not None and value.type in JS_FUNCTION_VALUES:
                    inner = child.child_by_field_name("name")
                    return src.node_text(inner) if inner is not None else None
        return None
    if node.type == "type_declaration":
        for child in node.named_children:
            if child.type in ("type_spec", "type_alias"):
                inner = child.child_by_field_name("name")
                return src.node_text(inner) if inner is not None else None
        return None
    declarator = node.child_by_field_name("declarator")
    while declarator is not None:
        if declarator.type in (
            "identifier",
            "field_identifier",
            "qualified_identifier",
            "destructor_name",
            "operator_name",
        ):
            return src.node_text(declarator)
        declarator = declarator.child_by_field_name("declarator")
    return None


def _function_node(node: ts.Node) -> ts.Node:
    """For `const f = () => ...`, the arrow function; else the node itself."""
    if node.type in ("lexical_declaration", "variable_declaration"):
        for child in node.named_children:
            if child.type != "variable_declarator":
                continue
            value = child.child_by_field_name("value")
            if value is not None:
                return value
    return node


def _parameter_list(node: ts.Node) -> ts.Node | None:
    target = _function_node(node)
    params = target.child_by_field_name("parameters")
    if params is not None:
        return params
    declarator = node.child_by_field_name("declarator")
    while declarator is not None:
        params = declarator.child_by_field_name("parameters")
        if params is not None:
            return params
        declarator = declarator.child_by_field_name("declarator")
    return None


_PARAM_SKIP = frozenset({"self", "cls", "this", "void", "_"})


def _param_names(node: ts.Node, src: SourceText) -> list[str]:
    params = _parameter_list(node)
    if params is None:
        return []
    names: list[str] = []
    for child in params.named_children:
        name = _param_name(child, src)
        if name and name not in _PARAM_SKIP and name not in names:
            names.append(name)
    return names


def _param_name(node: ts.Node, src: SourceText) -> str | None:
    if node.type in ("identifier", "word"):
        return src.node_text(node)
    if node.type in ("comment", "line_comment", "block_comment"):
        return None
    for field_name in ("name", "pattern", "declarator", "left"):
        inner = node.child_by_field_name(field_name)
        if inner is not None:
            return _param_name(inner, src)
    if node.type == "variable_name":  # PHP: keep the "$"
        return src.node_text(node)
    for child in node.named_children:
        if child.type in (
            "identifier",
            "variable_name",
            "list_splat_pattern",
            "dictionary_splat_pattern",
        ):
            return _param_name(child, src) if child.type != "identifier" else src.node_text(child)
    if node.type in ("list_splat_pattern", "dictionary_splat_pattern", "rest_pattern"):
        for child in node.named_children:
            return _param_name(child, src)
    if node.type in ("typed_parameter", "typed_default_parameter", "default_parameter"):
        for child in node.named_children:
            return _param_name(child, src)
    if node.type in ("pointer_declarator", "reference_declarator", "array_declarator"):
        for child in node.named_children:
            return _param_name(child, src)
    return None


_RETURN_TYPE_FIELDS = ("return_type", "result", "returns", "type")
_NO_RETURN = frozenset({"void", "None", "-> None", ": void", "()", "Unit"})


def _returns(node: ts.Node, src: SourceText, kind: str) -> bool:
    if kind in (
        "class",
        "struct",
        "interface",
        "enum",
        "trait",
        "module",
        "record",
        "type",
        "constructor",
    ):
        return False
    target = _function_node(node)
    for name in _RETURN_TYPE_FIELDS:
        child = target.child_by_field_name(name)
        if child is not None:
            text = src.node_text(child).strip().lstrip(":").strip()
            return bool(text) and text not in _NO_RETURN
    body = target.child_by_field_name("body")
    if body is None:
        return False
    return _has_value_return(body, 0)


def _has_value_return(node: ts.Node, depth: int) -> bool:
    if depth > 40:
        return False
    for child in node.named_children:
        if child.type in (
            "function_definition",
            "class_definition",
            "function_declaration",
            "arrow_function",
            "function_expression",
            "lambda",
            "closure_expression",
        ):
            continue
        if child.type == "return_statement" and child.named_child_count > 0:
            return True
        if _has_value_return(child, depth + 1):
            return True
    return False


def _definition_nodes(root: ts.Node, language: str) -> Iterator[ts.Node]:
    spec = spec_by_name(language)
    kinds = spec.definitions if spec is not None else {}
    stack = [root]
    while stack:
        node = stack.pop()
        if node.type in kinds:
            yield node
        if node.type in ("ERROR",):
            continue
        stack.extend(reversed(node.children))


def _outer(node: ts.Node, language: str) -> ts.Node:
    """The node the documentation belongs in front of: decorators, `export`, templates."""
    spec = spec_by_name(language)
    wrappers = spec.definition_wrappers if spec is not None else ()
    while node.parent is not None and node.parent.type in wrappers:
        node = node.parent
    return node


def _leading_attributes(node: ts.Node) -> ts.Node:
    """Rust `#[...]` and C# `[...]` attributes before an item belong below its doc comment."""
    first = node
    prev = node.prev_named_sibling
    while (
        prev is not None
        and prev.type == "attribute_item"
        and prev.end_point[0] >= first.start_point[0] - 1
    ):
        first = prev
        prev = prev.prev_named_sibling
    return first


def _is_doc_comment(comment: str, language: str) -> bool:
    text = comment.lstrip()
    if language in ("javascript", "typescript", "tsx", "java", "php"):
        return text.startswith("/**")
    if language in ("c", "cpp"):
        return text.startswith(("/**", "///", "//!", "/*!"))
    if language in ("c_sharp", "rust"):
        return text.startswith("///")
    if language in ("go", "bash"):
        return text.startswith("//" if language == "go" else "#") and not text.startswith("#!")
    return False


def _existing_comment(first: ts.Node, src: SourceText, language: str) -> tuple[int, int] | None:
    """The doc comment directly above `first` (contiguous lines, no blank line between)."""
    start_line = first.start_point[0]
    prev = first.prev_sibling
    begin: ts.Node | None = None
    while prev is not None and prev.type in _COMMENT_TYPES:
        if prev.end_point[0] < start_line - 1:
            break
        if not _is_doc_comment(src.node_text(prev), language):
            break
        # Only comments alone on their lines.
        if src.text[src.line_start(src.start(prev)) : src.start(prev)].strip():
            break
        begin = prev
        start_line = prev.start_point[0]
        if language not in ("go", "bash", "rust", "c_sharp", "c", "cpp") or src.node_text(
            prev
        ).startswith("/*"):
            break  # block comments: one is the whole doc
        prev = prev.prev_sibling
    if begin is None:
        return None
    start = src.line_start(src.start(begin))
    end = src.line_start(src.start(first))
    return start, end


def _python_slot(node: ts.Node, src: SourceText, kind: str, name: str) -> DocSlot | None:
    body = node.child_by_field_name("body")
    outer = _outer(node, "python")
    def_start = src.line_start(src.start(outer))
    if body is None or body.named_child_count == 0:
        return None
    first = body.named_children[0]
    header_end = src.start(body)
    existing = None
    if (
        first.type == "expression_statement"
        and first.named_child_count == 1
        and first.named_children[0].type in ("string", "concatenated_string")
    ):
        start = src.line_start(src.start(first))
        if src.text[start : src.start(first)].strip():
            start = src.start(first)
        end = src.end(first)
        if end < len(src.text) and src.text[end] == "\n":
            end += 1
        existing = (start, end)
    same_line = first.start_point[0] == node.start_point[0] and (
        src.text[src.line_start(src.start(first)) : src.start(first)].strip() != ""
    )
    if same_line and existing is None:
        # `def f(): return 1`: the docstring goes on its own line, the body below it.
        header_indent = src.indent_at(src.start(node))
        indent = header_indent + _unit_indent(src.text)
        insert = src.start(first)
        while insert > 0 and src.text[insert - 1] in " \t":
            insert -= 1
        replace_to: int | None = src.start(first)
        inline = True
    else:
        indent = src.indent_at(src.start(first))
        insert = src.line_start(src.start(first)) if existing is None else existing[0]
        replace_to = None
        inline = False
    return DocSlot(
        name=name,
        kind="method" if kind == "function" and _inside_class(node) else kind,
        language="python",
        def_start=def_start,
        def_end=src.end(outer),
        header_end=header_end,
        insert=insert,
        indent=indent,
        existing=existing,
        params=_param_names(node, src) if kind == "function" else [],
        returns=_returns(node, src, kind),
        inline_body=inline,
        blank_after=kind == "class" and existing is None and not inline,
        replace_to=replace_to,
    )


def _inside_class(node: ts.Node) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.type == "class_definition":
            return True
        if parent.type == "function_definition":
            return False
        parent = parent.parent
    return False


def _unit_indent(text: str) -> str:
    """The file's indentation unit: a tab, or the most common small step of spaces."""
    steps: Counter[int] = Counter()
    previous = 0
    for line in text.splitlines()[:2000]:
        if not line.strip():
            continue
        if line.startswith("\t"):
            return "\t"
        width = len(line) - len(line.lstrip(" "))
        if width > previous and width - previous <= 8:
            steps[width - previous] += 1
        previous = width
    return " " * (steps.most_common(1)[0][0] if steps else 4)


def _comment_slot(node: ts.Node, src: SourceText, language: str, kind: str, name: str) -> DocSlot:
    outer = _outer(node, language)
    first = _leading_attributes(outer) if language in ("rust",) else outer
    start = src.line_start(src.start(first))
    # A definition that does not start its line (`x; int f() {}`) gets no doc slot.
    indent = src.indent_at(src.start(first))
    existing = _existing_comment(first, src, language)
    body = _function_node(node).child_by_field_name("body")
    header_end = src.start(body) if body is not None else src.end(node)
    return DocSlot(
        name=name,
        kind=kind,
        language=language,
        def_start=start,
        def_end=src.end(outer),
        header_end=header_end,
        insert=existing[0] if existing else start,
        indent=indent,
        existing=existing,
        params=_param_names(node, src),
        returns=_returns(node, src, kind),
    )


def doc_slots(text: str, language: str, src: SourceText | None = None) -> list[DocSlot]:
    """Every documentable definition of the file, in document order."""
    spec = spec_by_name(language)
    if spec is None or spec.doc is None:
        return []
    src = src or SourceText(text, language)
    slots: list[DocSlot] = []
    seen: set[int] = set()
    for node in _definition_nodes(src.tree.root_node, language):
        kind = spec.definitions[node.type]
        name = _name_of(node, src)
        if not name:
            continue
        if src.text[
            src.line_start(src.start(_outer(node, language))) : src.start(_outer(node, language))
        ].strip():
            continue  # not the first thing on its line: nowhere clean to put a comment
        if language == "python":
            slot = _python_slot(node, src, kind, name)
        else:
            slot = _comment_slot(node, src, language, kind, name)
        if slot is not None and slot.insert not in seen:
            seen.add(slot.insert)
            slots.append(slot)
    slots.sort(key=lambda s: s.def_start)
    return slots


def slot_at(text: str, language: str, start: int, end: int | None = None) -> DocSlot | None:
    """The innermost definition containing the cursor (or the selection)."""
    end = start if end is None else end
    best: DocSlot | None = None
    for slot in doc_slots(text, language):
        lo = min(slot.def_start, slot.existing[0]) if slot.existing else slot.def_start
        if lo <= start and end <= max(slot.def_end, lo):
            if best is None or slot.def_end - slot.def_start <= best.def_end - best.def_start:
                best = slot
    return best


def undocumented(text: str, language: str) -> list[DocSlot]:
    return [slot for slot in doc_slots(text, language) if not slot.documented]

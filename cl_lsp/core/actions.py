"""Code actions without the model: docstring slots, fix regions, edits and their checks.

Pure functions over text and tree-sitter trees (no LSP, no llama.cpp):

- `doc_slots` finds the functions, methods and classes of a file and, for each, where its
  documentation goes in that language's convention (PEP 257 docstrings inside the body;
  JSDoc/TSDoc, Javadoc, Doxygen, PHPDoc `/** */` blocks, C# `///` XML, Go `//` doc comments,
  Rust `///`, Bash `#` lines before the definition) and the existing documentation, which
  an action replaces instead of duplicating.
- `DocParts` + `render_doc` turn model-written pieces (summary, parameter and return
  descriptions) into a correctly delimited, indented block; `doc_frame` gives the text
  before and after one piece, which is what the model infills.
- `fix_region` picks the smallest enclosing statement or block around a diagnostic;
  `verify_fix` accepts a rewrite only when nothing outside the region changes, the file
  parses with fewer errors (and none on the diagnostic's line), and the rewrite keeps the
  region's words; `minimal_edit` shrinks a replacement to the characters that change.

All offsets are indices into the Python string (not tree-sitter bytes).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from difflib import SequenceMatcher

import tree_sitter as ts

from .languages import new_parser

# --------------------------------------------------------------------------- text/bytes


class SourceText:
    """A text with its UTF-8 bytes, its tree, and byte <-> string offset conversion."""

    def __init__(self, text: str, language: str, tree: ts.Tree | None = None) -> None:
        self.text = text
        self.language = language
        self.data = text.encode("utf-8", "surrogatepass")
        self.ascii = len(self.data) == len(text)
        self._b2c: list[int] | None = None
        self.tree = tree if tree is not None else new_parser(language).parse(self.data)

    def char(self, byte: int) -> int:
        if self.ascii:
            return byte
        if self._b2c is None:
            table = [0] * (len(self.data) + 1)
            b = 0
            for i, ch in enumerate(self.text):
                n = len(ch.encode("utf-8", "surrogatepass"))
                for k in range(n):
                    table[b + k] = i
                b += n
            table[b] = len(self.text)
            self._b2c = table
        return self._b2c[max(0, min(byte, len(self.data)))]

    def byte(self, char: int) -> int:
        if self.ascii:
            return char
        return len(self.text[:char].encode("utf-8", "surrogatepass"))

    def node_text(self, node: ts.Node) -> str:
        return self.data[node.start_byte : node.end_byte].decode("utf-8", "replace")

    def start(self, node: ts.Node) -> int:
        return self.char(node.start_byte)

    def end(self, node: ts.Node) -> int:
        return self.char(node.end_byte)

    def line_start(self, offset: int) -> int:
        return self.text.rfind("\n", 0, offset) + 1

    def line_end(self, offset: int) -> int:
        end = self.text.find("\n", offset)
        return len(self.text) if end == -1 else end

    def indent_at(self, offset: int) -> str:
        start = self.line_start(offset)
        line = self.text[start : self.line_end(offset)]
        return line[: len(line) - len(line.lstrip(" \t"))]


# --------------------------------------------------------------------------- conventions


@dataclass(frozen=True)
class DocStyle:
    """How one language writes documentation for a definition."""

    inside: bool  # Python: a string literal as the body's first statement
    open: str  # first line (after the indentation), e.g. "/**", or "" for line comments
    line: str  # prefix of each content line, e.g. " * ", "/// ", "# "
    close: str  # last line, e.g. " */", or ""
    params: str = ""  # "jsdoc" | "phpdoc" | "csharp" | "doxygen" | "" (summary only)


STYLES: dict[str, DocStyle] = {
    "python": DocStyle(True, '"""', "", '"""'),
    "javascript": DocStyle(False, "/**", " * ", " */", "jsdoc"),
    "typescript": DocStyle(False, "/**", " * ", " */", "tsdoc"),
    "tsx": DocStyle(False, "/**", " * ", " */", "tsdoc"),
    "java": DocStyle(False, "/**", " * ", " */", "jsdoc"),
    "php": DocStyle(False, "/**", " * ", " */", "phpdoc"),
    "c": DocStyle(False, "/**", " * ", " */", "doxygen"),
    "cpp": DocStyle(False, "/**", " * ", " */", "doxygen"),
    "c_sharp": DocStyle(False, "", "/// ", "", "csharp"),
    "go": DocStyle(False, "", "// ", ""),
    "rust": DocStyle(False, "", "/// ", ""),
    "bash": DocStyle(False, "", "# ", ""),
}

# Definition node types per language, with a kind for the UI.
_DEFINITIONS: dict[str, dict[str, str]] = {
    "python": {"function_definition": "function", "class_definition": "class"},
    "javascript": {
        "function_declaration": "function",
        "generator_function_declaration": "function",
        "class_declaration": "class",
        "method_definition": "method",
        "lexical_declaration": "function",
        "variable_declaration": "function",
    },
    "java": {
        "method_declaration": "method",
        "constructor_declaration": "constructor",
        "class_declaration": "class",
        "interface_declaration": "interface",
        "enum_declaration": "enum",
        "record_declaration": "record",
    },
    "c": {"function_definition": "function"},
    "cpp": {
        "function_definition": "function",
        "class_specifier": "class",
        "struct_specifier": "struct",
    },
    "c_sharp": {
        "method_declaration": "method",
        "constructor_declaration": "constructor",
        "class_declaration": "class",
        "interface_declaration": "interface",
        "struct_declaration": "struct",
        "record_declaration": "record",
        "enum_declaration": "enum",
    },
    "php": {
        "function_definition": "function",
        "method_declaration": "method",
        "class_declaration": "class",
        "interface_declaration": "interface",
        "trait_declaration": "trait",
    },
    "go": {
        "function_declaration": "function",
        "method_declaration": "method",
        "type_declaration": "type",
    },
    "rust": {
        "function_item": "function",
        "function_signature_item": "function",
        "struct_item": "struct",
        "enum_item": "enum",
        "trait_item": "trait",
        "mod_item": "module",
    },
    "bash": {"function_definition": "function"},
}
_TS_EXTRA = {
    "interface_declaration": "interface",
    "abstract_class_declaration": "class",
    "type_alias_declaration": "type",
    "enum_declaration": "enum",
    "function_signature": "function",
    "method_signature": "method",
    "abstract_method_signature": "method",
}
_DEFINITIONS["typescript"] = {**_DEFINITIONS["javascript"], **_TS_EXTRA}
_DEFINITIONS["tsx"] = _DEFINITIONS["typescript"]

# Nodes that carry a definition and own the comment in front of it.
_WRAPPERS = {
    "python": ("decorated_definition",),
    "javascript": ("export_statement",),
    "typescript": ("export_statement",),
    "tsx": ("export_statement",),
    "cpp": ("template_declaration",),
}

_COMMENT_TYPES = ("comment", "line_comment", "block_comment", "doc_comment")


def supports_docs(language: str | None) -> bool:
    return language in STYLES


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
                if value is not None and value.type in (
                    "arrow_function",
                    "function_expression",
                    "function",
                    "generator_function",
                ):
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
    kinds = _DEFINITIONS.get(language, {})
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
    wrappers = _WRAPPERS.get(language, ())
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
    if language not in STYLES:
        return []
    src = src or SourceText(text, language)
    slots: list[DocSlot] = []
    seen: set[int] = set()
    for node in _definition_nodes(src.tree.root_node, language):
        kind = _DEFINITIONS[language][node.type]
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


# --------------------------------------------------------------------------- python style

_GOOGLE = re.compile(r"^\s*(Args|Arguments|Returns|Yields|Raises|Attributes):\s*$", re.M)
_NUMPY = re.compile(r"^\s*(Parameters|Returns|Yields|Raises|Attributes)\s*\n\s*-{3,}\s*$", re.M)
_REST = re.compile(r"^\s*:(param|type|returns?|rtype|raises)\b[^:\n]*:", re.M)


def detect_python_style(*texts: str) -> str:
    """The docstring style a repository already uses: "google", "numpy" or "rest"."""
    counts = Counter({"google": 0, "numpy": 0, "rest": 0})
    for text in texts:
        counts["numpy"] += len(_NUMPY.findall(text))
        counts["rest"] += len(_REST.findall(text))
        # NumPy headers have no colon, so they never count as Google ones.
        counts["google"] += len(_GOOGLE.findall(text))
    style, n = counts.most_common(1)[0]
    return style if n > 0 else "google"


# --------------------------------------------------------------------------- rendering


@dataclass
class DocParts:
    """The pieces the model writes; rendered per language and style."""

    summary: str = ""
    params: dict[str, str] = field(default_factory=dict)
    returns: str | None = None

    def set_piece(self, piece: str, text: str) -> None:
        """Set one piece by name: "summary", "param:NAME" or "returns"."""
        if piece == "summary":
            self.summary = text
        elif piece.startswith("param:"):
            self.params[piece[6:]] = text
        else:
            self.returns = text


def _sanitize(text: str, limit: int = 300) -> str:
    """One line of prose: no control characters, no comment or string terminators."""
    text = "".join(ch if ch.isprintable() or ch == " " else " " for ch in text)
    for closer in ('"""', "'''", "*/", "-->"):
        text = text.replace(closer, " ")
    text = re.sub(r"\s+", " ", text).strip()
    text = text.rstrip('\\"')
    return text[:limit].rstrip('\\"').strip()


def _sentence(text: str, fallback: str) -> str:
    text = _sanitize(text) or fallback
    if text and text[0].islower() and not text.startswith(("$", "_")):
        text = text[0].upper() + text[1:]
    if text and text[-1] not in ".!?:":
        text += "."
    return text


def humanize(name: str) -> str:
    """`read_file` / `readFile` -> "Read file"."""
    base = name.split("::")[-1].split(".")[-1].lstrip("_$")
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", base).replace("_", " ").split()
    if not words:
        return name
    phrase = " ".join(w.lower() if i else w.capitalize() for i, w in enumerate(words))
    return phrase


def _content_lines(slot: DocSlot, parts: DocParts, style: str) -> list[str]:
    """Documentation lines without delimiters (may contain "" for blank lines)."""
    fallback = humanize(slot.name)
    summary = _sentence(parts.summary, fallback)
    language = slot.language
    if language == "go" and not summary.startswith(slot.name + " "):
        summary = f"{slot.name} {summary[0].lower()}{summary[1:]}" if summary else slot.name
    lines = [summary]
    params = [(p, _sanitize(parts.params.get(p, ""))) for p in slot.params if p in parts.params]
    returns = _sanitize(parts.returns) if parts.returns is not None else None
    has_returns = returns is not None
    kind = STYLES[language].params
    if language == "python":
        if params or has_returns:
            lines.append("")
        if style == "numpy":
            if params:
                lines += ["Parameters", "----------"]
                for name, text in params:
                    lines += [name, "    " + (text or "")]
                if has_returns:
                    lines.append("")
            if has_returns:
                lines += ["Returns", "-------", f"    {returns}"]
        elif style == "rest":
            lines += [f":param {name}: {text}".rstrip() for name, text in params]
            if has_returns:
                lines.append(f":returns: {returns}")
        else:
            if params:
                lines.append("Args:")
                lines += [f"    {name}: {text}".rstrip() for name, text in params]
            if has_returns:
                lines += ([""] if params else []) + ["Returns:", f"    {returns}"]
        return [line.rstrip() for line in lines]
    if kind == "csharp":
        body = ["<summary>", _xml(summary), "</summary>"]
        body += [f'<param name="{name}">{_xml(text)}</param>' for name, text in params]
        if has_returns:
            body.append(f"<returns>{_xml(returns or '')}</returns>")
        return body
    if kind in ("jsdoc", "tsdoc", "phpdoc", "doxygen"):
        tags = []
        for name, text in params:
            if kind == "tsdoc":
                tags.append(f"@param {name} - {text}".rstrip(" -"))
            else:
                tags.append(f"@param {name} {text}".rstrip())
        if has_returns:
            tag = "return" if kind in ("phpdoc", "doxygen") or language == "java" else "returns"
            tags.append(f"@{tag} {returns}".rstrip())
        if kind == "doxygen":
            lines = [f"@brief {summary}"]
        if tags:
            lines += [""] + tags
        return lines
    return lines


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_doc(slot: DocSlot, parts: DocParts, style: str = "google") -> str:
    """The complete documentation block, ready to insert at `slot.insert`."""
    lines = _content_lines(slot, parts, style)
    conv = STYLES[slot.language]
    indent = slot.indent
    if conv.inside:
        body = "\n".join(lines)
        quote = 'r"""' if "\\" in body else '"""'
        if len(lines) == 1:
            block = f'{indent}{quote}{lines[0]}"""'
        else:
            inner = "\n".join((indent + line) if line else "" for line in lines[1:])
            block = f'{indent}{quote}{lines[0]}\n{inner}\n{indent}"""'
        if slot.blank_after:
            block += "\n"
        if slot.inline_body:
            # After ":" of `def f(): body`: docstring and body each on their own line.
            return "\n" + block + "\n" + indent
        return block + "\n"
    out: list[str] = []
    if conv.open:
        out.append(indent + conv.open)
    prefix = conv.line
    for line in lines:
        out.append((indent + prefix + line).rstrip() if line else (indent + prefix).rstrip())
    if conv.close:
        out.append(indent + conv.close)
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class DocFrame:
    """Text around one piece the model writes: doc text before it and after it."""

    before: str  # from the start of the documentation block to the piece
    after: str  # from the piece to the end of the documentation block


def doc_frame(slot: DocSlot, parts: DocParts, style: str, piece: str) -> DocFrame:
    """Split the rendered documentation at `piece` ("summary", "param:NAME", "returns").

    Pieces are rendered with a marker; the text before the marker is the infill prefix's
    tail and the text after it the suffix's head. Later pieces that are not written yet
    render empty, which is what a model would see in a half-written docstring.
    """
    # A marker that survives sanitising and rendering in every style.
    token = "QQMARKERQQ"
    trial = DocParts(parts.summary, dict(parts.params), parts.returns)
    trial.set_piece(piece, token)
    rendered = render_doc(slot, trial, style)
    found = re.search(token, rendered, re.I)
    if found is None:
        return DocFrame(rendered, "")
    before, after = rendered[: found.start()], rendered[found.end() :]
    if piece == "summary" and after.startswith("."):
        after = after[1:]  # the sentence's full stop is the model's to write
    return DocFrame(before, after)


# --------------------------------------------------------------------------- syntax errors


@dataclass(frozen=True)
class SyntaxProblem:
    start: int
    end: int
    message: str
    missing: str | None = None  # the token tree-sitter would insert, for MISSING nodes


def _error_nodes(node: ts.Node) -> Iterator[ts.Node]:
    if not node.has_error:
        return
    stack = [node]
    while stack:
        current = stack.pop()
        if current.is_missing or current.type == "ERROR":
            yield current
            if current.type == "ERROR":
                # Nested errors are one problem; MISSING tokens inside are reported too.
                for child in current.children:
                    if child.has_error:
                        stack.extend(_missing_only(child))
                continue
        for child in reversed(current.children):
            if child.has_error or child.is_missing:
                stack.append(child)


def _missing_only(node: ts.Node) -> Iterator[ts.Node]:
    if node.is_missing:
        yield node
    for child in node.children:
        yield from _missing_only(child)


def count_errors(tree: ts.Tree) -> int:
    return sum(1 for _ in _error_nodes(tree.root_node))


def syntax_problems(src: SourceText, limit: int = 50) -> list[SyntaxProblem]:
    """tree-sitter ERROR and MISSING nodes as problems, in document order."""
    problems: list[SyntaxProblem] = []
    for node in _error_nodes(src.tree.root_node):
        start, end = src.start(node), src.end(node)
        if node.is_missing:
            token = node.type
            problems.append(SyntaxProblem(start, end, f"Syntax error: missing '{token}'", token))
        else:
            # Show the error on its first line only: an ERROR node can swallow a file.
            end = min(end, src.line_end(start)) if end > start else end
            snippet = src.text[start:end].strip()
            shown = snippet if len(snippet) <= 30 else snippet[:27] + "..."
            message = f"Syntax error near '{shown}'" if shown else "Syntax error"
            problems.append(SyntaxProblem(start, end, message))
        if len(problems) >= limit:
            break
    problems.sort(key=lambda p: (p.start, p.end))
    return problems


def error_lines(tree: ts.Tree) -> set[int]:
    lines: set[int] = set()
    for node in _error_nodes(tree.root_node):
        if node.is_missing or node.start_point[0] == node.end_point[0]:
            lines.add(node.start_point[0])
        else:
            lines.update(range(node.start_point[0], node.end_point[0] + 1))
    return lines


# --------------------------------------------------------------------------- fix regions

_STATEMENT_SUFFIXES = ("_statement", "_definition", "_declaration", "_item", "_clause")
_STATEMENT_TYPES = frozenset(
    {
        "ERROR",
        "block",
        "statement_block",
        "compound_statement",
        "expression_statement",
        "decorated_definition",
        "method_definition",
        "field_declaration",
        "lexical_declaration",
        "variable_declaration",
        "local_variable_declaration",
        "declaration",
        "command",
        "pipeline",
        "list",
        "let_declaration",
        "short_var_declaration",
        "assignment_statement",
        "element",
    }
)
MAX_REGION_LINES = 24


@dataclass(frozen=True)
class Region:
    start: int  # a line start
    end: int  # just after a line break (or the end of the text)

    def text(self, full: str) -> str:
        return full[self.start : self.end]


def _is_statement(node: ts.Node) -> bool:
    return node.type in _STATEMENT_TYPES or node.type.endswith(_STATEMENT_SUFFIXES)


def _whole_lines(src: SourceText, start: int, end: int) -> Region:
    a = src.line_start(start)
    b = src.line_end(max(start, end - 1) if end > start else end)
    if b < len(src.text):
        b += 1
    return Region(a, b)


def fix_region(src: SourceText, start: int, end: int, max_lines: int = MAX_REGION_LINES) -> Region:
    """The smallest enclosing statement or block around [start, end), as whole lines.

    Falls back to the diagnostic's own lines (plus the previous line, where a missing
    colon or bracket usually is) when the enclosing statement is too large.
    """
    lo, hi = src.byte(start), src.byte(max(start, end))
    node = src.tree.root_node.descendant_for_byte_range(lo, hi)
    candidate: Region | None = None
    while node is not None and node.parent is not None:
        if _is_statement(node):
            region = _whole_lines(src, src.start(node), src.end(node))
            lines = src.text.count("\n", region.start, region.end)
            if lines <= max_lines:
                candidate = region
                # A region that is entirely an error node: widen once to the enclosing
                # statement, the model needs the statement's start to see what broke.
                if node.type != "ERROR" or lines > 1:
                    break
            else:
                break
        node = node.parent
    diag = _whole_lines(src, start, end)
    if candidate is None or not (candidate.start <= diag.start and diag.end <= candidate.end):
        previous = src.line_start(max(0, diag.start - 1))
        candidate = Region(min(previous, diag.start), diag.end)
    return candidate


# --------------------------------------------------------------------------- edits


@dataclass(frozen=True)
class Edit:
    start: int
    end: int
    new_text: str

    def apply(self, text: str) -> str:
        return text[: self.start] + self.new_text + text[self.end :]


def minimal_edit(text: str, start: int, end: int, replacement: str) -> Edit:
    """Replace text[start:end] by `replacement`, trimmed to the characters that differ."""
    old = text[start:end]
    a = 0
    limit = min(len(old), len(replacement))
    while a < limit and old[a] == replacement[a]:
        a += 1
    b = 0
    while b < limit - a and old[len(old) - 1 - b] == replacement[len(replacement) - 1 - b]:
        b += 1
    return Edit(start + a, end - b, replacement[a : len(replacement) - b])


_WORD = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*|\d+(?:\.\d+)?")


def words(text: str) -> Counter[str]:
    return Counter(_WORD.findall(text))


@dataclass(frozen=True)
class Verdict:
    ok: bool
    reason: str
    errors_before: int = 0
    errors_after: int = 0


def verify_fix(
    src: SourceText,
    region: Region,
    replacement: str,
    diagnostic_line: int,
    *,
    syntax: bool = True,
    max_word_changes: int = 0,
    max_inserted: int = 4,
) -> Verdict:
    """Accept a rewrite of `region` only if it is an improvement that keeps the code.

    - it changes something, and only inside the region (by construction of the edit);
    - the file then has fewer tree-sitter errors than before (for a diagnostic from
      another tool on a file without syntax errors: still none), and none of the new
      errors touches the rewritten lines or the diagnostic's line;
    - the rewrite keeps the region's identifiers, keywords and numbers (a syntax fix adds
      punctuation; it does not delete code to make the parser happy). Up to
      `max_word_changes` words may differ for other tools' diagnostics;
    - for syntax errors: it only inserts (at most `max_inserted` non-whitespace
      characters) and removes nothing but whitespace. Deleting a stray token would fix
      some errors too, but it is also how a plausible wrong fix looks (`(a) =>` to
      `a =>`, a closing quote moved), and a wrong fix must never be offered.
    """
    old = region.text(src.text)
    if replacement == old:
        return Verdict(False, "no change")
    if not replacement.strip() and old.strip():
        return Verdict(False, "deletes the region")
    before = count_errors(src.tree)
    new_text = src.text[: region.start] + replacement + src.text[region.end :]
    tree = new_parser(src.language).parse(new_text.encode("utf-8", "surrogatepass"))
    after = count_errors(tree)
    if before > 0 and after >= before:
        return Verdict(False, "does not reduce syntax errors", before, after)
    if before == 0 and after > 0:
        return Verdict(False, "introduces syntax errors", before, after)
    first_line = src.text.count("\n", 0, region.start)
    new_last = first_line + replacement.count("\n")
    bad = error_lines(tree)
    shift = replacement.count("\n") - old.count("\n")
    diag_after = diagnostic_line if diagnostic_line < first_line else diagnostic_line + shift
    touched = set(range(first_line, new_last + 1)) | {diag_after}
    if bad & touched:
        return Verdict(False, "errors remain in the rewritten lines", before, after)
    diff = words(old) - words(replacement) + (words(replacement) - words(old))
    changed = sum(diff.values())
    if changed > (0 if syntax else max_word_changes):
        return Verdict(False, f"changes {changed} words of the code", before, after)
    if syntax:
        removed, added = char_changes(old, replacement)
        if removed:
            return Verdict(False, f"removes {removed} characters of code", before, after)
        if added > max_inserted:
            return Verdict(False, f"inserts {added} characters", before, after)
        if _ambiguous(src, region, replacement, after):
            return Verdict(
                False, "ambiguous: the same insertion elsewhere parses too", before, after
            )
    return Verdict(True, "ok", before, after)


MAX_AMBIGUITY_TRIES = 240


def _ambiguous(src: SourceText, region: Region, replacement: str, errors: int) -> bool:
    """Would the same inserted text fix the file at another place on the line as well?

    A dropped closing quote or bracket can be closed in several places that all parse
    (`return '; // x` -> `return ''; // x` or `return '; // x';`); the parser cannot tell
    which one the author meant, so such a fix is not offered. A missing colon or comma
    usually has one place only.
    """
    edit = minimal_edit(src.text, region.start, region.end, replacement)
    inserted = edit.new_text
    if edit.start != edit.end or not inserted.strip() or "\n" in inserted:
        return False
    # The inserted line, and the region's first line (where the author's edit usually is).
    positions: list[int] = []
    for anchor in (edit.start, region.start):
        positions += range(src.line_start(anchor), src.line_end(anchor) + 1)
    text = src.text
    tries = 0
    for position in sorted(set(positions)):
        if position == edit.start or tries >= MAX_AMBIGUITY_TRIES:
            continue
        inside_word = (
            0 < position < len(text) and text[position - 1].isalnum() and text[position].isalnum()
        )
        if inside_word:
            continue
        other = src.text[:position] + inserted + src.text[position:]
        if re.sub(r"\s+", "", other) == re.sub(r"\s+", "", edit.apply(src.text)):
            continue  # the same text (e.g. before or after a space)
        tries += 1
        tree = new_parser(src.language).parse(other.encode("utf-8", "surrogatepass"))
        if count_errors(tree) <= errors:
            return True
    return False


def char_changes(old: str, new: str) -> tuple[int, int]:
    """Non-whitespace characters removed from and added to `old` to make `new`."""
    a = re.sub(r"\s+", "", old)
    b = re.sub(r"\s+", "", new)
    removed = added = 0
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag in ("delete", "replace"):
            removed += i2 - i1
        if tag in ("insert", "replace"):
            added += j2 - j1
    return removed, added


def reindent(code: str, indent: str) -> str:
    """Shift a block so its least indented non-blank line starts at `indent`."""
    lines = code.split("\n")
    widths = [len(line) - len(line.lstrip(" \t")) for line in lines if line.strip()]
    if not widths:
        return code
    cut = min(widths)
    return "\n".join((indent + line[cut:]) if line.strip() else "" for line in lines)


def fix_candidates(raw: str, region_text: str, indent: str) -> list[str]:
    """Replacements to try from a model's rewrite: the same number of lines first, then
    one fewer and one more; indentation normalised to the region's."""
    text = raw.replace("\r\n", "\n")
    fence = re.search(r"```[^\n]*\n(.*?)(?:```|\Z)", text, re.S)
    if fence:
        text = fence.group(1)
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    n = max(1, region_text.rstrip("\n").count("\n") + 1)
    ends_newline = region_text.endswith("\n")
    # Keep the model's relative indentation when its first line matches the region's.
    out: list[str] = []
    for k in (n, n - 1, n + 1, n - 2, n + 2):
        if k < 1 or k > len(lines):
            continue
        chunk = "\n".join(lines[:k]).rstrip()
        if not chunk.strip():
            continue
        first = region_text.split("\n", 1)[0]
        base = first[: len(first) - len(first.lstrip(" \t"))]
        chunk = reindent(chunk, base)
        chunk = "\n".join(line.rstrip() for line in chunk.split("\n"))
        if ends_newline:
            chunk += "\n"
        if chunk not in out:
            out.append(chunk)
    merged = _merge_lines(lines, region_text)
    if merged is not None and merged not in out:
        out.append(merged)
    return out


def _merge_lines(model_lines: list[str], region_text: str) -> str | None:
    """The region with each line replaced by the model's version of it, where the model
    kept that line's words (so it only changed punctuation); other lines stay as they
    were. Small models fix the broken line and then wander off; this keeps the fix."""
    original = region_text.split("\n")
    trailing = original[-1] == ""
    if trailing:
        original = original[:-1]
    used = 0
    out: list[str] = []
    changed = False
    for line in original:
        want = words(line)
        replacement = line
        for j in range(used, min(len(model_lines), used + 4)):
            candidate = model_lines[j]
            if want and words(candidate) == want:
                indent = line[: len(line) - len(line.lstrip(" \t"))]
                replacement = indent + candidate.strip()
                used = j + 1
                break
        changed = changed or replacement != line
        out.append(replacement)
    if not changed:
        return None
    return "\n".join(out) + ("\n" if trailing else "")


def hint_comment(language: str, message: str, region_text: str, comment: str) -> str:
    """The hint placed before the region in the prompt: the diagnostic and the old code."""
    first = region_text.split("\n", 1)[0]
    indent = first[: len(first) - len(first.lstrip(" \t"))]
    message = _sanitize(message, 200)
    lines = [f"{indent}{comment} {message}. The original lines were:"]
    for line in region_text.rstrip("\n").split("\n"):
        shown = line[len(indent) :] if line.startswith(indent) else line
        lines.append(f"{indent}{comment}   {shown}")
    lines.append(f"{indent}{comment} Corrected:")
    return "\n".join(lines) + "\n"

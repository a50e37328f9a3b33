"""Decide what shape of completion fits the cursor: none, the rest of a line, or a block.

Pure core: text rules first (cheap), then one tree lookup for strings and comments.
Pass the document's already-parsed tree to keep this in the microseconds; without one, a
known language costs a full parse (about 10 ms for 2,000 lines of Python here).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import tree_sitter as ts

from .languages import new_parser, spec_by_name


class Shape(enum.Enum):
    NONE = "none"  # do not complete here
    LINE = "line"  # complete the current line only
    BLOCK = "block"  # an empty line: one or more lines may follow
    # The end of a complete statement: the rest of the line when the model extends it,
    # the lines below (ghost text under the cursor line) when the model starts a new one.
    CONTINUATION = "continuation"


@dataclass(frozen=True)
class ShapeDecision:
    shape: Shape
    reason: str


# Node types (across our grammars) whose inside is literal text, not code.
STRING_TYPES = frozenset(
    {
        "string",
        "concatenated_string",
        "string_literal",
        "raw_string_literal",
        "char_literal",
        "character_literal",
        "interpreted_string_literal",
        "rune_literal",
        "template_string",
        "regex",
        "verbatim_string_literal",
        "interpolated_string_expression",
        "encapsed_string",
        "heredoc",
        "heredoc_body",
        "nowdoc",
        "raw_string",
        "ansi_c_string",
        "translated_string",
        "text_block",
        "system_lib_string",
        "text_interpolation",  # PHP: HTML outside <?php ... ?>
    }
)
COMMENT_TYPES = frozenset(
    {"comment", "line_comment", "block_comment", "doc_comment", "html_comment"}
)
# Languages whose blocks open with `{` at the end of a line.
BRACE_BLOCK_LANGUAGES = frozenset(
    {"javascript", "typescript", "tsx", "java", "c", "cpp", "c_sharp", "php", "go", "rust"}
)
# Without a kept tree, parse at most this much of a document (see _literal_at).
MAX_PARSE_CHARS = 400_000
# Code islands inside strings: `${...}`, f"{...}", $(...) are code again.
CODE_ISLAND_TYPES = frozenset(
    {
        "interpolation",
        "template_substitution",
        "string_interpolation",
        "command_substitution",
        "expansion",
    }
)


def is_identifier_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def line_bounds(text: str, offset: int) -> tuple[int, int]:
    """Start and end (exclusive, before the newline) of the line holding offset."""
    start = text.rfind("\n", 0, offset) + 1
    end = text.find("\n", offset)
    return start, len(text) if end < 0 else end


def decide_shape(
    text: str, offset: int, language: str | None, tree: ts.Tree | None = None
) -> ShapeDecision:
    """The completion shape at a character offset of text.

    `tree` must be a parse of exactly `text` (utf-8) when given.
    """
    offset = max(0, min(offset, len(text)))
    if offset < len(text) and is_identifier_char(text[offset]):
        return ShapeDecision(Shape.NONE, "mid-word")
    start, end = line_bounds(text, offset)
    before, after = text[start:offset], text[offset:end]
    literal = _literal_at(text, offset, start, language, tree)
    if literal is not None:
        if literal == "comment" and not after.strip():
            # A comment after a complete statement: continue the comment or the code below.
            if _statement_ends_at(text, offset, language, tree):
                return ShapeDecision(Shape.CONTINUATION, "comment-continuation")
        return _inside_literal(literal, after)
    if after.strip():
        return ShapeDecision(Shape.LINE, "text-after-cursor")
    if before.strip():
        if _opens_block(before, language) and not _has_body(text, end, before):
            # `def f(x):|` or `if (x) {|`: what comes is the body, on the next lines.
            return ShapeDecision(Shape.BLOCK, "block-opener")
        if _statement_ends_at(text, offset, language, tree):
            return ShapeDecision(Shape.CONTINUATION, "end-of-line")
        return ShapeDecision(Shape.LINE, "end-of-line")
    return ShapeDecision(Shape.BLOCK, "empty-line")


# Languages where the end of a complete statement may continue below (see Shape).
CONTINUATION_LANGUAGES = frozenset({"python"})


def _statement_ends_at(text: str, offset: int, language: str | None, tree: ts.Tree | None) -> bool:
    """Whether the code on the cursor's line, up to the cursor (a trailing comment
    aside), ends a statement that parses cleanly.

    From the document's tree; where the tree is broken around it (code being written
    further down), from a parse of the line on its own.
    """
    if language not in CONTINUATION_LANGUAGES:
        return False
    start = text.rfind("\n", 0, offset) + 1
    if not text[start:offset].strip():
        return False
    if tree is None and len(text) <= MAX_PARSE_CHARS:
        tree = new_parser(language).parse(text.encode("utf-8", "surrogatepass"))
    verdict = None
    if tree is not None:
        head = text[:offset].rstrip().encode("utf-8", "surrogatepass")
        verdict = _tree_verdict(tree, head, len(text[:start].encode("utf-8", "surrogatepass")))
    if verdict is None:
        line = text[start:offset].strip().encode("utf-8", "surrogatepass")
        alone = new_parser(language).parse(line).root_node
        verdict = not alone.has_error and alone.named_child_count > 0
    return verdict


def _tree_verdict(tree: ts.Tree, head: bytes, line_start: int) -> bool | None:
    """The statement verdict at the end of `head` (bytes before the cursor, trailing
    space stripped); None where an ERROR node encloses it."""
    end = len(head)
    node: ts.Node | None = tree.root_node.descendant_for_byte_range(end - 1, end)
    if node is not None and node.type in COMMENT_TYPES:
        end = len(head[: node.start_byte].rstrip())  # the code before a trailing comment
        if end <= line_start:
            return False  # a comment on a line of its own
        node = tree.root_node.descendant_for_byte_range(end - 1, end)
    statement = None
    while node is not None:
        if node.type == "ERROR":
            return None
        if statement is None and node.end_byte == end and node.type.endswith("_statement"):
            statement = node
        node = node.parent
    return statement is not None and not statement.has_error


def _opens_block(before: str, language: str | None) -> bool:
    last = before.rstrip()[-1:]
    if language == "python":
        return last == ":"
    return last == "{" and language in BRACE_BLOCK_LANGUAGES


def _has_body(text: str, line_end: int, before: str) -> bool:
    """Whether the next non-blank line is indented deeper than the cursor's line."""
    indent = len(before) - len(before.lstrip())
    for line in text[line_end:].split("\n", 64)[1:64]:
        if line.strip():
            return len(line) - len(line.lstrip()) > indent
    return False


def _inside_literal(kind: str, after: str) -> ShapeDecision:
    # Prose continues a comment or docstring only at the end of its line; anywhere else a
    # model's guess inside literal text is more noise than help.
    if kind in ("comment", "docstring") and not after.strip():
        return ShapeDecision(Shape.LINE, f"{kind}-continuation")
    return ShapeDecision(Shape.NONE, f"inside-{kind}")


def _literal_at(
    text: str, offset: int, line_start: int, language: str | None, tree: ts.Tree | None
) -> str | None:
    """'string', 'docstring', 'comment' or None for code at the cursor."""
    if tree is None:
        if language is None or spec_by_name(language) is None:
            return None
        if len(text) > MAX_PARSE_CHARS:
            # A huge document without a kept tree: parse only the lines just before the
            # cursor (a literal opened further back is missed; a full parse would take
            # seconds and a gigabyte on every keystroke).
            if offset - line_start > MAX_PARSE_CHARS // 2:
                return None  # one enormous line (minified, data): treat as code
            # From the first line that starts within reach (the cursor's line at worst).
            cut = line_start - MAX_PARSE_CHARS // 2
            slice_start = 0 if cut <= 0 else text.find("\n", cut, line_start) + 1 or line_start
            slice_end = min(line_bounds(text, offset)[1], offset + MAX_PARSE_CHARS // 2)
            text, offset, line_start = (
                text[slice_start:slice_end],
                offset - slice_start,
                line_start - slice_start,
            )
        tree = new_parser(language).parse(text.encode("utf-8", "surrogatepass"))
    row = text.count("\n", 0, line_start)
    before = text[line_start:offset]
    point = (row, len(before.encode("utf-8", "surrogatepass")))
    kind = _enclosing_literal(tree, point)
    if kind is None and before.strip():
        # A line comment ends at its last character (or before trailing spaces): the
        # cursor after it is still in it. Look at the last character typed.
        last = (row, len(before.rstrip().encode("utf-8", "surrogatepass")) - 1)
        node = _innermost(tree, last, COMMENT_TYPES)
        if node is not None and node.end_point[0] == row and not _closed(node):
            return "comment"
    return kind


def _enclosing_literal(tree: ts.Tree, point: tuple[int, int]) -> str | None:
    node: ts.Node | None = tree.root_node.descendant_for_point_range(point, point)
    while node is not None:
        if node.type in CODE_ISLAND_TYPES and _strictly_inside(node, point):
            return None
        if node.type in COMMENT_TYPES and _strictly_inside(node, point):
            return "comment"
        if node.type in STRING_TYPES and _strictly_inside(node, point):
            return "docstring" if _is_docstring(node) else "string"
        node = node.parent
    return None


def _innermost(tree: ts.Tree, point: tuple[int, int], types: frozenset[str]) -> ts.Node | None:
    node: ts.Node | None = tree.root_node.descendant_for_point_range(point, point)
    while node is not None and node.type not in types:
        node = node.parent
    return node


def _strictly_inside(node: ts.Node, point: tuple[int, int]) -> bool:
    return node.start_point < point < node.end_point


def _closed(comment: ts.Node) -> bool:
    """A block comment that ends with its closer: after it is code again."""
    return comment.text is not None and comment.text.rstrip().endswith(b"*/")


def _is_docstring(node: ts.Node) -> bool:
    """A Python string that is a statement on its own (module/class/def docstring)."""
    parent = node.parent
    return (
        node.type == "string"
        and parent is not None
        and parent.type == "expression_statement"
        and parent.named_child_count == 1
    )

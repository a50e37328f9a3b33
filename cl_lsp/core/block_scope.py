"""How far down a multi-line completion may dedent: the scope around the cursor.

A block completion that finishes a loop body and goes on with the function's dedented
`return` is right; one that leaves the enclosing function or class is not. So the
post-processor stops at the end of the enclosing function or class (found in the
tree-sitter tree), at the indentation the suffix continues at, and at a new top-level
definition, instead of at every dedent. Python only: there indentation is the scope;
brace languages keep the first-dedent rule and their bracket checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import tree_sitter as ts

from .languages import new_parser

SCOPE_TYPES = frozenset({"function_definition", "class_definition"})
SCAN_LINES = 400  # indentation fallback: how far back to look for headers
MAX_PARSE_CHARS = 48_000  # with no tree, parse documents up to this size; scan bigger ones
_HEADER = re.compile(r"(?:async\s+)?(?:def|class)\s")
# A line at column 0 that starts a new top-level definition.
TOP_LEVEL_DEF = re.compile(r"(?:async\s+def|def|class)\s|@")
INDENTED_LANGUAGES = frozenset({"python"})


@dataclass(frozen=True)
class BlockScope:
    """Columns of the def/class headers around the cursor (innermost first) and the
    indentation of the suffix's next code line (None: no code follows)."""

    headers: tuple[int, ...]
    next_indent: int | None

    def floor(self, first_width: int) -> int:
        """Code lines narrower than this end a completion whose first line is
        `first_width` wide. Inside a def or class: the scope's body, but not below the
        level the suffix goes on at (the suffix must still fit after the completion).
        At module level: the first line's own level (any dedent ends it)."""
        enclosing = next((c for c in self.headers if c < first_width), None)
        if enclosing is None:
            return first_width
        after = self.next_indent if self.next_indent is not None else 0
        return min(first_width, max(enclosing + 1, after))

    def hard_floor(self, first_width: int) -> int:
        """Below `floor`, down to this, only block headers (`else:`) may go: they open
        the deeper level the suffix goes on at again. The enclosing scope's body."""
        enclosing = next((c for c in self.headers if c < first_width), None)
        return first_width if enclosing is None else min(first_width, enclosing + 1)


def block_scope(
    prefix: str, suffix: str, language: str | None, tree: ts.Tree | None = None
) -> BlockScope | None:
    """The scope of a cursor between prefix and suffix; None where the dedent rule stays.

    `tree`, when given, must be a parse of exactly prefix + suffix.
    """
    if language not in INDENTED_LANGUAGES:
        return None
    headers = _tree_headers(prefix, suffix, language, tree)
    if headers is None:
        headers = _scanned_headers(prefix)
    return BlockScope(headers, _next_indent(suffix))


def _tree_headers(
    prefix: str, suffix: str, language: str, tree: ts.Tree | None
) -> tuple[int, ...] | None:
    """Header columns of the def/class nodes around the last code before the cursor;
    None when the parse is broken there (an ERROR ancestor) or finds no scope."""
    code_end = len(prefix.rstrip())
    if code_end == 0:
        return ()
    head = prefix[:code_end].encode("utf-8", "surrogatepass")
    if tree is None:
        if len(prefix) + len(suffix) > MAX_PARSE_CHARS:
            return None  # a full parse would cost seconds: the indentation scan instead
        rest = (prefix[code_end:] + suffix).encode("utf-8", "surrogatepass")
        tree = new_parser(language).parse(head + rest)
    byte = len(head) - 1
    node: ts.Node | None = tree.root_node.descendant_for_byte_range(byte, byte + 1)
    columns: list[int] = []
    while node is not None:
        if node.type == "ERROR":
            return None
        if node.type in SCOPE_TYPES:
            columns.append(node.start_point[1])
        node = node.parent
    return tuple(columns) if columns else None


def _scanned_headers(prefix: str) -> tuple[int, ...]:
    """The same from indentation alone (a broken parse): each `def`/`class` line less
    indented than every code line after it."""
    columns: list[int] = []
    lowest: int | None = None
    for line in reversed(prefix.rsplit("\n", SCAN_LINES)[:-1]):
        stripped = line.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        width = _width(line)
        if lowest is not None and width >= lowest:
            continue
        lowest = width
        if _HEADER.match(stripped):
            columns.append(width)
        if width == 0:
            break
    return tuple(columns)


def _next_indent(suffix: str) -> int | None:
    """Indentation of the first code line after the cursor's line (comments skipped)."""
    start = suffix.find("\n") + 1
    while start > 0:
        end = suffix.find("\n", start)
        line = suffix[start : end if end >= 0 else len(suffix)]
        stripped = line.lstrip(" \t")
        if stripped and not stripped.startswith("#"):
            return _width(line)
        start = end + 1
    return None


def _width(line: str) -> int:
    stripped = line.lstrip(" \t")
    return len(line[: len(line) - len(stripped)].expandtabs(4))


_OPENS_BLOCK = re.compile(r""":\s*(?:#[^'"]*)?$""")


def opens_block(line: str) -> bool:
    """A Python line that ends with `:` (a trailing comment aside): a block header."""
    return bool(_OPENS_BLOCK.search(line))


def starts_top_level_definition(line: str) -> bool:
    return bool(TOP_LEVEL_DEF.match(line))

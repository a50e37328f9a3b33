"""Shared tree-sitter helpers for code actions: a text with its tree and offset
conversion, and the syntax problems (ERROR and MISSING nodes) a parse reports.

All offsets are indices into the Python string (not tree-sitter bytes).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

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


def count_syntax_problems(tree: ts.Tree) -> int:
    """How many problems `syntax_problems` reports for a tree: nested ERROR nodes count
    once, MISSING tokens inside them each (not postprocess.count_errors, which counts
    every ERROR and MISSING node and can leave a byte range out)."""
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

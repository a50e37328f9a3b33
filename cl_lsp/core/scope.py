"""Identifiers and the enclosing scope of a cursor, found by indentation and braces."""

from __future__ import annotations

import keyword
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cl_lsp.core.languages import spec_by_name

MAX_SCOPE_LINES_AFTER = 40
MODULE_SCOPE_LINES = 25  # cursor at top level: the lines above stand in for a scope

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Syntax across languages: never a reference to a definition.
KEYWORDS = frozenset(
    """self cls this super None True False null nullptr undefined true false nil
    if else elif for while do return break continue switch case default try catch except
    finally raise throw throws new delete var let const function func fn def class struct
    enum union interface type typedef import from export package use using namespace as in
    is not and or with yield async await lambda pass global nonlocal assert del
    int float bool char void long short double
    unsigned signed static public private protected final abstract override virtual extern
    inline volatile register sizeof typeof instanceof go defer chan select
    impl pub mut ref trait where loop crate mod dyn move unsafe include define ifdef ifndef
    endif pragma""".split()
) | frozenset(keyword.kwlist)
# Builtins and very common library names: noise to look up, unless the workspace defines
# one itself (click's `echo`, a `format` helper): then it is a reference like any other.
COMMON_BUILTINS = (
    frozenset(
        """print len str bytes list dict set tuple object echo map range match string number
    any boolean isinstance enumerate zip open sorted min max sum all getattr setattr
    hasattr iter next repr format""".split()
    )
    - KEYWORDS
)
COMMON_WORDS = KEYWORDS | COMMON_BUILTINS


def identifiers(text: str, defined: Callable[[str], bool] | None = None) -> list[str]:
    """Identifier tokens worth looking up: no keywords, and no common builtins unless
    `defined(name)` says the workspace defines that name."""
    return [t for t in IDENT.findall(text) if len(t) > 1 and worth_looking_up(t, defined)]


def worth_looking_up(name: str, defined: Callable[[str], bool] | None = None) -> bool:
    if name in KEYWORDS:
        return False
    return name not in COMMON_BUILTINS or (defined is not None and defined(name))


def token_set(text: str) -> frozenset[str]:
    return frozenset(IDENT.findall(text))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    inter = len(a & b)
    return inter / (len(a) + len(b) - inter)


_PY_HEADER = re.compile(r"^\s*(?:async\s+)?(?:def|class)\s")
_CONTROL = re.compile(r"^\s*(?:if|else|for|while|switch|catch|try|do|case|return)\b")


@dataclass(frozen=True)
class Scope:
    header: int  # 0-based line of the enclosing scope's header; -1 at module level
    start: int  # first line of the scope region (inclusive)
    end: int  # last line of the scope region (inclusive)
    outer: tuple[int, ...] = ()  # headers of the blocks around it (a method's class...)


def indent_of(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _is_code(line: str, comment: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith((comment, "/*", "*", "@"))


def _looks_like_function(line: str, python: bool) -> bool:
    if python:
        return bool(_PY_HEADER.match(line))
    return "(" in line and not _CONTROL.match(line)


def find_scope(lines: Sequence[str], cursor_line: int, language: str) -> Scope:
    """The enclosing function (or else outermost block) by indentation, judged only from
    lines other than the cursor's, so that typing on the cursor line never moves it."""
    spec = spec_by_name(language)
    comment = spec.line_comment if spec else "#"
    python = language == "python"
    openers: list[int] = []
    min_indent: int | None = None
    for number in range(cursor_line - 1, max(-1, cursor_line - 1 - 4000), -1):
        line = lines[number]
        if not _is_code(line, comment):
            continue
        indent = indent_of(line)
        if min_indent is None:
            # The nearest code line above: a header whose body we are starting, or not.
            if _opens_block(line, python):
                openers.append(_header_of(lines, number, comment))
            min_indent = indent
        elif indent < min_indent:
            if not line.lstrip().startswith(("}", ")", "]")):
                openers.append(_header_of(lines, number, comment))
            min_indent = indent
        if min_indent == 0:
            break
    functions = [n for n in openers if _looks_like_function(lines[n], python)]
    if python:
        # Methods: the innermost def; plain functions: the def itself.
        defs = [n for n in functions if lines[n].lstrip().startswith(("def", "async"))]
        header = defs[0] if defs else (functions[0] if functions else -1)
    else:
        header = functions[0] if functions else (openers[-1] if openers else -1)
    if header < 0:
        return Scope(-1, max(0, cursor_line - MODULE_SCOPE_LINES), cursor_line)
    outer = tuple(n for n in openers if n < header)
    return Scope(header, header, _scope_end(lines, header, cursor_line, comment), outer)


def _header_of(lines: Sequence[str], number: int, comment: str) -> int:
    """A lone "{" (Allman style) belongs to the code line above it."""
    if lines[number].strip() != "{":
        return number
    for above in range(number - 1, max(-1, number - 5), -1):
        if _is_code(lines[above], comment):
            return above
    return number


def _opens_block(line: str, python: bool) -> bool:
    stripped = line.rstrip()
    if python:
        return stripped.endswith(":") and bool(_PY_HEADER.match(line))
    return stripped.endswith("{") or stripped.endswith(")")


def _scope_end(lines: Sequence[str], header: int, cursor_line: int, comment: str) -> int:
    indent = indent_of(lines[header])
    limit = min(len(lines) - 1, cursor_line + MAX_SCOPE_LINES_AFTER)
    for number in range(cursor_line + 1, limit + 1):
        line = lines[number]
        if _is_code(line, comment) and indent_of(line) <= indent:
            return number if line.lstrip().startswith("}") else number - 1
    return limit

"""What the index knows about a file: definitions, imports and referenced identifiers.

These plain records are the contract between the tagger (tags.py), the index (index.py)
and the context builder (retrieval.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Definition:
    """A named definition (function, method, class, struct, type, constant...)."""

    name: str
    kind: str  # "function" | "method" | "class" | "type" | "variable" | "module" | ...
    path: str  # workspace-relative POSIX path
    start_line: int  # 0-based, inclusive
    end_line: int  # 0-based, inclusive
    signature: str  # the header as written, e.g. "def area(self, scale: float = 1.0) -> float:"
    doc: str = ""  # the doc comment / docstring, verbatim (may be empty)
    scope: str = ""  # dotted enclosing scope, e.g. "Shape" for a method of class Shape


@dataclass(frozen=True)
class Import:
    """An import/include statement; `module` as written, e.g. "pkg.util" or "../util"."""

    module: str
    names: tuple[str, ...]  # imported names, empty for a whole-module import
    line: int  # 0-based
    text: str  # the statement as written


@dataclass(frozen=True)
class FileTags:
    """Everything extracted from one file version."""

    path: str
    language: str
    content_hash: str
    definitions: tuple[Definition, ...] = ()
    imports: tuple[Import, ...] = ()
    references: frozenset[str] = field(default_factory=frozenset)  # identifiers used

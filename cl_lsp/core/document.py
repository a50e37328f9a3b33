"""A text document with LSP positions in any negotiated encoding.

LSP lines end at "\\n", "\\r\\n" or "\\r" only (not at the other separators that
str.splitlines knows), and `character` counts UTF-8, UTF-16 or UTF-32 code units.
Out-of-range positions are clamped, never an error: a stale client position must not
crash the server or corrupt the text.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from dataclasses import dataclass

import tree_sitter as ts

from cl_lsp.core.languages import detect, new_parser

_LINE_BREAK = re.compile(r"\r\n|\r|\n")

# No syntax tree above this size: tree-sitter keeps ~35 bytes per source byte (a 10 MB
# file cost 350 MB), and the index, the tree's only user, skips files over 1 MB anyway.
MAX_TREE_CHARS = 2_000_000

UTF8 = "utf-8"
UTF16 = "utf-16"
UTF32 = "utf-32"
ENCODINGS = (UTF8, UTF16, UTF32)


def _units(char: str, encoding: str) -> int:
    code = ord(char)
    if encoding == UTF16:
        return 2 if code > 0xFFFF else 1
    if encoding == UTF8:
        if code < 0x80:
            return 1
        if code < 0x800:
            return 2
        return 3 if code < 0x10000 else 4
    return 1


def units_in(text: str, encoding: str) -> int:
    """Length of `text` in code units of `encoding`."""
    if encoding == UTF32:
        return len(text)
    if encoding == UTF16:
        return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)
    return len(text.encode("utf-8", "surrogatepass"))


def column_to_index(line: str, character: int, encoding: str) -> int:
    """Index into `line` for a client column; clamped to the line, never inside a character."""
    if character <= 0:
        return 0
    if encoding == UTF32:
        return min(character, len(line))
    seen = 0
    for index, char in enumerate(line):
        seen += _units(char, encoding)
        if seen > character:
            return index  # the position falls inside this character: round down
        if seen == character:
            return index + 1
    return len(line)


@dataclass(frozen=True)
class Position:
    line: int
    character: int


def _point(text: str, offset: int) -> tuple[int, int]:
    """tree-sitter point (row, UTF-8 byte column) of a string index."""
    row = text.count("\n", 0, offset)
    line_start = text.rfind("\n", 0, offset) + 1
    return row, len(text[line_start:offset].encode("utf-8", "surrogatepass"))


class Document:
    """One open document: its text, version and language, updated by LSP changes.

    For a language we know, the document also keeps a tree-sitter tree that is edited
    with every change and re-parsed incrementally on demand.
    """

    def __init__(self, uri: str, text: str, version: int = 0, language_id: str = "") -> None:
        self.uri = uri
        self.version = version
        self.language_id = language_id
        self._text = text
        self._line_starts: list[int] | None = None
        spec = detect(uri, language_id)
        self.language = spec.name if spec else None
        self._parser: ts.Parser | None = None
        self._tree: ts.Tree | None = None
        self._tree_current = False
        # Changes come from the LSP thread, parsing happens on the planner thread.
        self._lock = threading.Lock()
        # Where the last incremental change left the cursor (after its inserted text); None
        # after a whole-document replacement. LSP does not send the cursor: this is the
        # best guess of where the user types next (warm-ups use it).
        self.edit_end: int | None = None

    @property
    def text(self) -> str:
        return self._text

    def _starts(self) -> list[int]:
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in _LINE_BREAK.finditer(self._text)]
        return self._line_starts

    @property
    def line_count(self) -> int:
        return len(self._starts())

    def line_text(self, line: int) -> str:
        """The line's text without its line break."""
        starts = self._starts()
        if not 0 <= line < len(starts):
            return ""
        end = starts[line + 1] if line + 1 < len(starts) else len(self._text)
        return self._text[starts[line] : end].rstrip("\r\n")

    def offset_at(self, position: Position, encoding: str = UTF16) -> int:
        """String index for an LSP position; lines past the end clamp to the end of text."""
        starts = self._starts()
        if position.line < 0:
            return 0
        if position.line >= len(starts):
            return len(self._text)
        line = self.line_text(position.line)
        return starts[position.line] + column_to_index(line, position.character, encoding)

    def position_at(self, offset: int, encoding: str = UTF16) -> Position:
        """LSP position for a string index (clamped to the text)."""
        offset = max(0, min(offset, len(self._text)))
        starts = self._starts()
        line = bisect_right(starts, offset) - 1
        line_start = starts[line]
        # An offset between "\r" and "\n" belongs to the end of the line.
        column_text = self._text[line_start:offset].rstrip("\r\n")
        return Position(line, units_in(column_text, encoding))

    def apply_change(
        self,
        text: str,
        start: Position | None = None,
        end: Position | None = None,
        encoding: str = UTF16,
    ) -> None:
        """Apply one content change: a full replacement when no range is given."""
        with self._lock:
            if start is None or end is None:
                self._text = text
                self._tree = None  # a full replacement: parse from scratch
            else:
                a = self.offset_at(start, encoding)
                b = self.offset_at(end, encoding)
                if b < a:
                    a, b = b, a
                old = self._text
                self._text = old[:a] + text + old[b:]
                if self._tree is not None and len(self._text) > MAX_TREE_CHARS:
                    self._tree = None
                if self._tree is not None:
                    self._edit_tree(old, a, b, text)
            self._line_starts = None
            self._tree_current = False

    def _edit_tree(self, old: str, start: int, end: int, inserted: str) -> None:
        start_byte = len(old[:start].encode("utf-8", "surrogatepass"))
        old_end_byte = start_byte + len(old[start:end].encode("utf-8", "surrogatepass"))
        new_end_byte = start_byte + len(inserted.encode("utf-8", "surrogatepass"))
        assert self._tree is not None
        self._tree.edit(
            start_byte=start_byte,
            old_end_byte=old_end_byte,
            new_end_byte=new_end_byte,
            start_point=_point(old, start),
            old_end_point=_point(old, end),
            new_end_point=_point(self._text, start + len(inserted)),
        )

    def tree_for(self, text: str) -> ts.Tree | None:
        """The syntax tree of `text` if it is still this document's text, else None.

        Callers hold a snapshot of the text; a tree for a newer version would not match it.
        The tree returned is the caller's own: later edits do not touch it.
        """
        if self.language is None:
            return None
        with self._lock:
            if text is not self._text and text != self._text:
                return None
            if len(self._text) > MAX_TREE_CHARS:
                self._tree = None  # too big to keep a tree for (see MAX_TREE_CHARS)
                return None
            if not self._tree_current:
                if self._parser is None:
                    self._parser = new_parser(self.language)
                source = self._text.encode("utf-8", "surrogatepass")
                self._tree = (
                    self._parser.parse(source, self._tree)
                    if self._tree
                    else self._parser.parse(source)
                )
                self._tree_current = True
            # A copy (cheap: shared, reference-counted nodes): the caller reads it on
            # another thread while the next didChange edits ours in place.
            return self._tree.copy() if self._tree is not None else None


class DocumentStore:
    """The open documents by URI, and the most recent edits (context for completions)."""

    def __init__(self, max_recent_edits: int = 16) -> None:
        self._documents: dict[str, Document] = {}
        self._recent: list[tuple[str, int]] = []  # (uri, line) newest first
        self._max_recent = max_recent_edits

    def open(self, uri: str, text: str, version: int, language_id: str) -> Document:
        document = Document(uri, text, version, language_id)
        self._documents[uri] = document
        return document

    def get(self, uri: str) -> Document | None:
        return self._documents.get(uri)

    def close(self, uri: str) -> None:
        self._documents.pop(uri, None)
        self._recent = [entry for entry in self._recent if entry[0] != uri]

    def all(self) -> list[Document]:
        return list(self._documents.values())

    def note_edit(self, uri: str, line: int) -> None:
        """Remember where the user edited; one entry per (uri, line), newest first."""
        self._recent = [(uri, line)] + [e for e in self._recent if e != (uri, line)]
        del self._recent[self._max_recent :]

    def recent_edits(self) -> list[tuple[str, int]]:
        return list(self._recent)

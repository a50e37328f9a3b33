"""LSP positions and ranges <-> string offsets in our documents, in the negotiated encoding."""

from __future__ import annotations

from lsprotocol import types

from cl_lsp.core.document import Document, Position


def lsp_position(document: Document, offset: int, encoding: str) -> types.Position:
    position = document.position_at(offset, encoding)
    return types.Position(position.line, position.character)


def lsp_range(document: Document, start: int, end: int, encoding: str) -> types.Range:
    return types.Range(
        lsp_position(document, start, encoding), lsp_position(document, end, encoding)
    )


def offset_of(document: Document, position: types.Position, encoding: str) -> int:
    """The string offset of an LSP position (clamped into the document)."""
    return document.offset_at(Position(position.line, position.character), encoding)

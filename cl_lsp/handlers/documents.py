"""didOpen / didChange / didSave / didClose: keep our document store in step with the
editor, then tell the features (`ClLspServer.document_event`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from cl_lsp.core.document import Position

if TYPE_CHECKING:
    from cl_lsp.server import ClLspServer

log = logging.getLogger(__name__)


def register(server: ClLspServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ClLspServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        ls.documents.open(item.uri, item.text, item.version, item.language_id)
        ls.document_event("open", item.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ClLspServer, params: types.DidChangeTextDocumentParams) -> None:
        document = ls.documents.get(params.text_document.uri)
        if document is None:
            return  # a change for a document never opened: nothing to apply it to
        cursor: int | None = None
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                start = Position(change.range.start.line, change.range.start.character)
                end = Position(change.range.end.line, change.range.end.character)
                document.apply_change(change.text, start, end, ls.position_encoding)
                ls.documents.note_edit(document.uri, start.line)
                # The cursor ends up after the inserted text.
                cursor = document.offset_at(start, ls.position_encoding) + len(change.text)
            else:
                document.apply_change(change.text)
                cursor = None
        document.version = params.text_document.version
        document.edit_end = cursor
        ls.document_event("change", document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ClLspServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.document_event("save", params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ClLspServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.documents.close(uri)
        ls.gate.forget(uri)
        ls.document_event("close", uri)

"""didOpen / didChange / didClose: keep our document store in step with the editor."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from cl_lsp.core.document import Position

if TYPE_CHECKING:
    from cl_lsp.server import ClLspServer


def register(server: ClLspServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ClLspServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        ls.documents.open(item.uri, item.text, item.version, item.language_id)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: ClLspServer, params: types.DidChangeTextDocumentParams) -> None:
        document = ls.documents.get(params.text_document.uri)
        if document is None:
            return  # a change for a document never opened: nothing to apply it to
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                start = Position(change.range.start.line, change.range.start.character)
                end = Position(change.range.end.line, change.range.end.character)
                document.apply_change(change.text, start, end, ls.position_encoding)
                ls.documents.note_edit(document.uri, start.line)
            else:
                document.apply_change(change.text)
        document.version = params.text_document.version
        # A newer text makes in-flight completions for the older one useless.
        task = ls.inflight.get(document.uri)
        if task is not None and not task.done():
            task.cancel()

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ClLspServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.documents.close(uri)
        ls.forget_buffer(uri)

"""didOpen / didChange / didClose: keep our document store in step with the editor.

Warming: a document just opened, or an edit the editor asks no completion for (the user
deleted a block, pasted, moved elsewhere), prefills the prompt for that place with no
generation, at the lowest priority, so the next keystroke there finds its KV cache warm.
Any real completion request cancels a warm-up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from lsprotocol import types

from cl_lsp.core.document import Position
from cl_lsp.engine.base import EngineError
from cl_lsp.gate import Refused

if TYPE_CHECKING:
    from cl_lsp.server import ClLspServer

log = logging.getLogger(__name__)


async def _warm(ls: ClLspServer, uri: str, version: int, offset: int, since: float) -> None:
    """Plan and prefill at `offset` unless the document moved on or a request came."""
    service = ls.service
    document = ls.documents.get(uri)
    if service is None or document is None or not ls.settings.completion.warm:
        return
    if document.version != version or service.requested_since(uri, since):
        return
    admitted = ls.gate.admit(uri)
    if isinstance(admitted, Refused):
        return
    request = ls.completion_request(admitted, offset)
    try:
        loop = asyncio.get_running_loop()
        plan = await loop.run_in_executor(ls.planner, ls.plan, request, uri, version)
    except (RuntimeError, EngineError):  # the planner is shut down, or no model
        return
    if document.version != version or service.requested_since(uri, since):
        return
    service.warm(plan)


def register(server: ClLspServer) -> None:
    timers: dict[str, asyncio.TimerHandle] = {}

    def schedule_warm(ls: ClLspServer, uri: str, version: int, offset: int) -> None:
        old = timers.pop(uri, None)
        if old is not None:
            old.cancel()
        if ls.service is None or not ls.settings.completion.warm:
            return
        since = time.monotonic()
        delay = ls.settings.completion.warm_delay_ms / 1000

        def fire() -> None:
            timers.pop(uri, None)
            asyncio.ensure_future(_warm(ls, uri, version, offset, since))

        timers[uri] = asyncio.get_running_loop().call_later(delay, fire)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: ClLspServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        ls.documents.open(item.uri, item.text, item.version, item.language_id)
        # The server is not told where the cursor is: new code is most often added at the
        # end of a file, so warm there.
        schedule_warm(ls, item.uri, item.version, len(item.text))
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
        document.version = params.text_document.version
        # A newer text makes in-flight completions for the older one useless.
        task = ls.inflight.get(document.uri)
        if task is not None and not task.done():
            task.cancel()
        if cursor is not None:
            schedule_warm(ls, document.uri, document.version, cursor)
        ls.document_event("change", document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: ClLspServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.document_event("save", params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: ClLspServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        timer = timers.pop(uri, None)
        if timer is not None:
            timer.cancel()
        if ls.service is not None:
            ls.service.forget(uri)
        ls.documents.close(uri)
        ls.forget_buffer(uri)
        ls.document_event("close", uri)

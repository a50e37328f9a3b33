"""textDocument/inlineCompletion and the textDocument/completion fallback.

Every request is answered exactly once: with items, with an empty result, or with
RequestCancelled when the client cancelled it or a newer request on the same document
superseded it (cancelling the asyncio task makes pygls send -32800, and the cancellation
reaches the engine's generation loop through the request's event).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from cl_lsp.core.document import Document, Position
from cl_lsp.engine.base import Cancelled
from cl_lsp.service import Completion, CompletionRequest

if TYPE_CHECKING:
    from cl_lsp.server import ClLspServer

log = logging.getLogger(__name__)


@dataclass
class Answer:
    completion: Completion
    start: types.Position
    end: types.Position


async def complete_at(ls: ClLspServer, uri: str, position: types.Position) -> Answer | None:
    """Run the pipeline for a cursor; None when there is nothing to suggest."""
    document = ls.documents.get(uri)
    service = ls.service
    if document is None or service is None or not ls.settings.completion.enabled:
        return None
    task = asyncio.current_task()
    assert task is not None
    older = ls.inflight.get(uri)
    if older is not None and older is not task and not older.done():
        older.cancel()  # latest wins: the older request is answered RequestCancelled
    ls.inflight[uri] = task
    version = document.version
    offset = document.offset_at(Position(position.line, position.character), ls.position_encoding)
    request = CompletionRequest(
        text=document.text,
        offset=offset,
        rel_path=ls.rel_path(uri),
        language_id=document.language_id,
        key=uri,
    )
    try:
        loop = asyncio.get_running_loop()
        plan = await loop.run_in_executor(ls.planner, ls.plan, request, uri, version)
        future = service.start(request, plan)
        if future is None:
            return None
        result = await asyncio.wrap_future(future)
    except asyncio.CancelledError:
        request.cancel.set()
        raise
    except Cancelled:
        # Superseded inside the engine by a newer request with the same key.
        raise asyncio.CancelledError() from None
    finally:
        if ls.inflight.get(uri) is task:
            del ls.inflight[uri]
    if document.version != version or ls.documents.get(uri) is not document:
        return None  # the text changed meanwhile: this answer belongs to an older version
    completion = service.finish(request, plan, result)
    if not completion.text:
        return None
    return Answer(
        completion,
        _position(document, offset, ls.position_encoding),
        _position(document, offset + completion.replace_suffix_chars, ls.position_encoding),
    )


def _position(document: Document, offset: int, encoding: str) -> types.Position:
    position = document.position_at(offset, encoding)
    return types.Position(position.line, position.character)


def register(server: ClLspServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: ClLspServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        answer = await complete_at(ls, params.text_document.uri, params.position)
        if answer is None:
            return types.InlineCompletionList(items=[])
        item = types.InlineCompletionItem(
            insert_text=answer.completion.text,
            range=types.Range(answer.start, answer.end),
        )
        return types.InlineCompletionList(items=[item])

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions())
    async def completion(ls: ClLspServer, params: types.CompletionParams) -> types.CompletionList:
        answer = await complete_at(ls, params.text_document.uri, params.position)
        # Incomplete: the client asks again as the user types instead of filtering stale text.
        if answer is None:
            return types.CompletionList(is_incomplete=True, items=[])
        text = answer.completion.text
        label = text.strip().splitlines()[0] if text.strip() else text
        item = types.CompletionItem(
            label=label[:80],
            kind=types.CompletionItemKind.Text,
            detail="cl-lsp",
            documentation=types.MarkupContent(
                kind=types.MarkupKind.Markdown, value=f"```\n{text}\n```"
            ),
            insert_text_format=types.InsertTextFormat.PlainText,
            filter_text=text,
            text_edit=types.TextEdit(range=types.Range(answer.start, answer.end), new_text=text),
            sort_text="0",
        )
        return types.CompletionList(is_incomplete=True, items=[item])

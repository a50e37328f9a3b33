"""textDocument/inlineCompletion and the textDocument/completion fallback: the LSP glue of
the completion feature (`cl_lsp.features.completion.Completions`).

Every request is answered exactly once: with items, with an empty result, or with
RequestCancelled when the client cancelled it or a newer request on the same document
superseded it (cancelling the asyncio task makes pygls send -32800, and the cancellation
reaches the engine's generation loop through the request's event).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lsprotocol import types

from cl_lsp.core.document import Document
from cl_lsp.core.suggestion import Suggestion
from cl_lsp.engine.base import Cancelled, GenerationResult
from cl_lsp.gate import Refused
from cl_lsp.handlers.acceptance import accept_command, should_answer
from cl_lsp.handlers.positions import lsp_position, offset_of

if TYPE_CHECKING:
    from cl_lsp.features.completion import Completions
    from cl_lsp.server import ClLspServer

log = logging.getLogger(__name__)


@dataclass
class Answer:
    text: str
    start: types.Position
    end: types.Position
    source: str  # "model" | "typed" (typed-through) | "lru"


def _log_answer(
    uri: str,
    version: int,
    source: str,
    result: GenerationResult | None = None,
    plan_s: float = 0.0,
) -> None:
    """One line per answered request (benchmarks/typing_replay.py reads these)."""
    if not log.isEnabledFor(logging.INFO):
        return
    if result is None:
        log.info("answer uri=%s version=%d source=%s", uri, version, source)
        return
    log.info(
        "answer uri=%s version=%d source=%s prompt=%d reused=%d prefill_s=%.6f "
        "generated=%d generate_s=%.6f reason=%s healed=%d plan_s=%.6f",
        uri,
        version,
        source,
        result.prompt_tokens,
        result.reused_tokens,
        result.prefill_s,
        len(result.tokens),
        result.generate_s,
        result.stop_reason,
        int(result.healed),
        plan_s,
    )


# How long a request that arrives while the model loads waits for it (never less than the
# completion time limit). Typing supersedes an automatic request anyway, so the one the
# user pauses on is answered as soon as the model is ready; an explicit one (Ctrl+Space, a
# command) waits longer. The embedded model loads in seconds, a 7B one from a cold disk in
# tens of seconds.
LOAD_WAIT_AUTOMATIC_S = 15.0
LOAD_WAIT_INVOKED_S = 60.0


async def complete_at(
    ls: ClLspServer, uri: str, position: types.Position, invoked: bool = False
) -> Answer | None:
    """Run the pipeline for a cursor; None when there is nothing to suggest."""
    if ls.documents.get(uri) is None or not ls.settings.completion.enabled:
        return None
    task = asyncio.current_task()
    assert task is not None
    older = ls.completions.inflight.get(uri)
    if older is not None and older is not task and not older.done():
        older.cancel()  # latest wins: the older request is answered RequestCancelled
    ls.completions.inflight[uri] = task
    try:
        return await _complete(ls, uri, position, invoked)
    finally:
        if ls.completions.inflight.get(uri) is task:
            del ls.completions.inflight[uri]


async def _complete(
    ls: ClLspServer, uri: str, position: types.Position, invoked: bool
) -> Answer | None:
    if ls.service is None:
        # Loading: wait for the model (a newer request for this document cancels the wait,
        # as it would cancel a generation).
        wait = LOAD_WAIT_INVOKED_S if invoked else LOAD_WAIT_AUTOMATIC_S
        if not await ls.model_loaded(max(ls.settings.completion.time_limit_ms / 1000, wait)):
            if ls.engine_error is None:
                ls.still_loading()
            return None
    service = ls.service
    document = ls.documents.get(uri)
    if document is None or service is None:
        return None
    admitted = ls.gate.admit(uri)
    if isinstance(admitted, Refused):
        return None  # a secret or ignored file: nothing of it reaches a model
    version = admitted.version
    offset = offset_of(document, position, ls.position_encoding)
    feature = ls.completions
    request = feature.request(admitted, offset)
    service.note_request(uri)
    # The user typed the beginning of the suggestion on screen: the rest, no model.
    typed = service.typed_through(request)
    if typed is not None:
        _log_answer(uri, version, "typed")
        return _answer(document, offset, typed, "typed", ls.position_encoding)
    try:
        loop = asyncio.get_running_loop()
        planning = time.perf_counter()
        plan = await loop.run_in_executor(feature.planner, feature.plan, request, uri, version)
        plan_s = time.perf_counter() - planning
        recalled = service.recall(request, plan)
        if recalled is not None:
            _log_answer(uri, version, "lru")
            return _answer(document, offset, recalled, "lru", ls.position_encoding)
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
    completion = service.finish(request, plan, result)
    service.remember(request, plan, completion)
    _log_answer(uri, version, "model", result, plan_s)
    if document.version != version or ls.documents.get(uri) is not document:
        return None  # the text changed meanwhile: this answer belongs to an older version
    suggestion = Suggestion(completion.text, completion.replace_suffix_chars)
    service.shown(request, suggestion)
    # The suggestion after this one's acceptance, computed ahead (planned off the loop).
    feature.planner.submit(
        service.prefetch_next, request, suggestion, lambda after: feature.plan(after, uri, version)
    )
    return _answer(document, offset, suggestion, "model", ls.position_encoding)


def _answer(
    document: Document, offset: int, suggestion: Suggestion, source: str, encoding: str
) -> Answer | None:
    if not suggestion.text:
        return None
    return Answer(
        suggestion.text,
        lsp_position(document, offset, encoding),
        lsp_position(document, offset + suggestion.replace_suffix_chars, encoding),
        source,
    )


def register(server: ClLspServer, feature: Completions) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        ls: ClLspServer, params: types.InlineCompletionParams
    ) -> types.InlineCompletionList | None:
        received = time.perf_counter()
        uri = params.text_document.uri
        automatic = params.context.trigger_kind == types.InlineCompletionTriggerKind.Automatic
        if not should_answer(ls, uri, automatic):
            return types.InlineCompletionList(items=[])
        answer = await complete_at(ls, uri, params.position, invoked=not automatic)
        if answer is None:
            return types.InlineCompletionList(items=[])
        item = types.InlineCompletionItem(
            insert_text=answer.text,
            range=types.Range(answer.start, answer.end),
            command=accept_command(ls, uri, answer, received),  # run by the client on accept
        )
        return types.InlineCompletionList(items=[item])

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions())
    async def completion(ls: ClLspServer, params: types.CompletionParams) -> types.CompletionList:
        received = time.perf_counter()
        uri = params.text_document.uri
        invoked = params.context is None or (
            params.context.trigger_kind == types.CompletionTriggerKind.Invoked
        )
        answer = None
        if should_answer(ls, uri, automatic=not invoked):
            answer = await complete_at(ls, uri, params.position, invoked=invoked)
        # Incomplete: the client asks again as the user types instead of filtering stale text.
        if answer is None:
            return types.CompletionList(is_incomplete=True, items=[])
        text = answer.text
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
            command=accept_command(ls, uri, answer, received),  # run by the client on accept
        )
        return types.CompletionList(is_incomplete=True, items=[item])

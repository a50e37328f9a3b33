"""The completion feature: planning, in-flight requests, warm-ups and the open buffers the
index holds. Its LSP handlers (inlineCompletion, the completion fallback) are the thin glue
in `cl_lsp.handlers.completion`.

Warming: a document just opened, or an edit the editor asks no completion for (the user
deleted a block, pasted, moved elsewhere), prefills the prompt for that place with no
generation, at the lowest priority, so the next keystroke there finds its KV cache warm.
Any real completion request cancels a warm-up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from cl_lsp.engine.base import EngineError
from cl_lsp.features.base import Feature
from cl_lsp.gate import PromptText, Refused
from cl_lsp.service import CompletionRequest, Plan

if TYPE_CHECKING:
    from cl_lsp.server import ClLspServer

log = logging.getLogger(__name__)


class Completions(Feature):
    def __init__(self, server: ClLspServer) -> None:
        super().__init__(server)
        # Planning (tokenizing, context) runs here, off the event loop; one thread, so
        # buffer syncs and plans run in the order they were submitted.
        self.planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cl-lsp-plan")
        self.inflight: dict[str, asyncio.Task[Any]] = {}  # uri -> the request being answered
        self._synced: dict[str, int] = {}  # uri -> document version last given to the index
        self._warm_timers: dict[str, asyncio.TimerHandle] = {}

    def register(self) -> None:
        from cl_lsp.handlers import completion

        completion.register(self.server, self)

    # -- hooks --------------------------------------------------------------------------
    def opened(self, uri: str) -> None:
        document = self.server.documents.get(uri)
        if document is not None:
            # The server is not told where the cursor is: new code is most often added at
            # the end of a file, so warm there.
            self._schedule_warm(uri, document.version, len(document.text))

    def changed(self, uri: str) -> None:
        # A newer text makes in-flight completions for the older one useless.
        task = self.inflight.get(uri)
        if task is not None and not task.done():
            task.cancel()
        document = self.server.documents.get(uri)
        if document is not None and document.edit_end is not None:
            self._schedule_warm(uri, document.version, document.edit_end)

    def closed(self, uri: str) -> None:
        self._cancel_warm(uri)
        if self.server.service is not None:
            self.server.service.forget(uri)
        self._synced.pop(uri, None)
        repository = self.server.repository
        if repository is not None:  # the index goes back to the file on disk
            repository.index.drop_text(self.server.rel_path(uri))

    def model_changed(self) -> None:
        self.cancel_requests()

    def close(self) -> None:
        self.cancel_requests()
        for timer in self._warm_timers.values():
            timer.cancel()
        self._warm_timers.clear()
        self.planner.shutdown(wait=False, cancel_futures=True)

    def cancel_requests(self) -> None:
        for task in list(self.inflight.values()):
            task.cancel()

    # -- planning (planner thread) ------------------------------------------------------
    def request(self, admitted: PromptText, offset: int) -> CompletionRequest:
        """A request at `offset` of a text the gate admitted, keyed by its URI (a newer
        request for the same document supersedes it)."""
        return CompletionRequest(
            text=admitted.text,
            offset=offset,
            rel_path=admitted.rel_path,
            language_id=admitted.language_id,
            key=admitted.uri,
        )

    def plan(self, request: CompletionRequest, uri: str, version: int) -> Plan:
        """Bring the index up to date with the open buffer, gather edits, plan the prompt.
        `request` comes from `request()`, that is from a text the gate admitted; the context
        from other buffers passes the gate here."""
        ls = self.server
        assert ls.service is not None
        document = ls.documents.get(uri)
        # The document's incremental tree spares the shape decision a parse.
        tree = document.tree_for(request.text) if document is not None else None
        request.tree = tree
        if ls.repository is not None and self._synced.get(uri) != version:
            # Re-tagging the buffer (~7 ms for a 2,500-line file) stays off this keystroke's
            # path: it runs on the planner thread right after, before the next plan. This
            # request's context sees the file one version behind; its own prefix is exact.
            self.planner.submit(self._sync_buffer, uri, version, request)
        return ls.service.plan(
            request,
            recent_edits=ls.gate.recent_edits(uri),
            open_documents=ls.gate.other_documents(uri),
        )

    def _sync_buffer(self, uri: str, version: int, request: CompletionRequest) -> None:
        """Give the index an open buffer's text (planner thread)."""
        repository = self.server.repository
        closed = self.server.documents.get(uri) is None
        if repository is None or closed or self._synced.get(uri) == version:
            return  # no index, closed meanwhile, or already given
        try:
            # request.tree is the planner's own copy of a parse of exactly request.text.
            repository.index.update_text(
                request.rel_path, request.text, request.language_id or "", tree=request.tree
            )
        except Exception:  # an index failure must not take completions down with it
            log.exception("indexing the buffer %s failed", uri)
        self._synced[uri] = version

    # -- warming --------------------------------------------------------------------------
    def _cancel_warm(self, uri: str) -> None:
        timer = self._warm_timers.pop(uri, None)
        if timer is not None:
            timer.cancel()

    def _schedule_warm(self, uri: str, version: int, offset: int) -> None:
        self._cancel_warm(uri)
        ls = self.server
        if ls.service is None or not ls.settings.completion.warm or ls.loop is None:
            return
        since = time.monotonic()
        delay = ls.settings.completion.warm_delay_ms / 1000

        def fire() -> None:
            self._warm_timers.pop(uri, None)
            asyncio.ensure_future(self._warm(uri, version, offset, since))

        self._warm_timers[uri] = ls.loop.call_later(delay, fire)

    async def _warm(self, uri: str, version: int, offset: int, since: float) -> None:
        """Plan and prefill at `offset` unless the document moved on or a request came."""
        ls = self.server
        service = ls.service
        document = ls.documents.get(uri)
        if service is None or document is None or not ls.settings.completion.warm:
            return
        if document.version != version or service.requested_since(uri, since):
            return
        admitted = ls.gate.admit(uri)
        if isinstance(admitted, Refused):
            return
        request = self.request(admitted, offset)
        try:
            loop = asyncio.get_running_loop()
            plan = await loop.run_in_executor(self.planner, self.plan, request, uri, version)
        except (RuntimeError, EngineError):  # the planner is shut down, or no model
            return
        if document.version != version or service.requested_since(uri, since):
            return
        service.warm(plan)

"""Work-done progress (`$/progress`) for long jobs: the workspace scan, a model download."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

if TYPE_CHECKING:
    from cl_lsp.server import ClLspServer

log = logging.getLogger(__name__)


class WorkProgress:
    """Begin, reports (one per whole-percent change) and end for one token; callable from
    any thread: everything is sent through the server's event loop."""

    def __init__(self, ls: ClLspServer, token: str) -> None:
        self.ls = ls
        self.token = token
        self.last_percent = -1

    def _send(self, value: Any) -> None:
        loop = self.ls.loop
        if loop is not None:
            loop.call_soon_threadsafe(self.ls.progress, types.ProgressParams(self.token, value))

    def begin(self, title: str) -> None:
        self._send(types.WorkDoneProgressBegin(title=title, percentage=0))

    def report(self, percent: int, message: str) -> None:
        if percent != self.last_percent:
            self.last_percent = percent
            self._send(types.WorkDoneProgressReport(message=message, percentage=percent))

    def end(self, message: str) -> None:
        self._send(types.WorkDoneProgressEnd(message=message))


async def begin_progress(ls: ClLspServer, token: str, title: str) -> WorkProgress | None:
    """Create `token` on the client and send Begin; None when the client refuses it."""
    try:
        await ls.work_done_progress.create_async(token)
    except Exception:  # the client refused: work silently
        log.debug("client refused the progress token %s", token)
        return None
    progress = WorkProgress(ls, token)
    progress.begin(title)
    return progress

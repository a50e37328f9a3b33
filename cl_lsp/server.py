"""The language server: state shared by the handlers, and the factory that wires them."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from cl_lsp import __version__
from cl_lsp.config import Settings
from cl_lsp.core.document import DocumentStore
from cl_lsp.engine.base import Engine, EngineError
from cl_lsp.protocol import ClLspProtocol
from cl_lsp.service import CompletionService

log = logging.getLogger(__name__)

EngineLoader = Callable[[Settings], Engine]


class ClLspServer(LanguageServer):
    """pygls server plus cl-lsp's state; the handlers in `cl_lsp.handlers` are thin glue."""

    def __init__(self, base_settings: Settings, load_engine: EngineLoader) -> None:
        super().__init__("cl-lsp", __version__, protocol_cls=ClLspProtocol)
        self.base_settings = base_settings
        self.settings = base_settings
        self.documents = DocumentStore()
        self.root: Path | None = None
        self.position_encoding = "utf-16"
        self.client_has_inline_completion = False
        self._load_engine = load_engine
        self.engine: Engine | None = None
        self.service: CompletionService | None = None
        self.engine_error: EngineError | None = None
        self.engine_ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        # Planning (tokenizing, context) runs here, off the event loop.
        self.planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cl-lsp-plan")
        self.inflight: dict[str, asyncio.Task[Any]] = {}

    @property
    def exit_code(self) -> int:
        protocol = self.protocol
        return protocol.exit_code if isinstance(protocol, ClLspProtocol) else 1

    # -- engine -------------------------------------------------------------------------
    def start_engine(self) -> None:
        """Load the model in the background: the editor gets answers (empty) meanwhile."""
        threading.Thread(target=self._load, name="cl-lsp-load", daemon=True).start()

    def _load(self) -> None:
        try:
            engine = self._load_engine(self.settings)
        except EngineError as error:
            log.error("model unavailable: %s", error)
            self.engine_error = error
            self.notify_user(types.MessageType.Error, f"cl-lsp: {error.message} {error.fix}")
        except Exception as error:  # a crash in a loader must not take the server down
            log.exception("model load failed")
            self.engine_error = EngineError(f"Loading the model failed: {error}")
            self.notify_user(types.MessageType.Error, f"cl-lsp: {self.engine_error.message}")
        else:
            self.engine = engine
            self.service = CompletionService(engine, self.settings)
            log.info("engine ready: %s", engine.description)
        finally:
            self.engine_ready.set()

    def notify_user(self, kind: types.MessageType, message: str) -> None:
        """window/showMessage, sent from the event loop whatever thread calls this."""
        params = types.ShowMessageParams(type=kind, message=message)
        if self.loop is None:
            return
        self.loop.call_soon_threadsafe(self.window_show_message, params)

    def stop(self) -> None:
        for task in list(self.inflight.values()):
            task.cancel()
        if self.engine is not None:
            self.engine.close()
        self.planner.shutdown(wait=False, cancel_futures=True)


def create_server(
    base_settings: Settings | None = None, load_engine: EngineLoader | None = None
) -> ClLspServer:
    """A configured server; no module-level singleton, so tests can build several."""
    from cl_lsp.handlers import commands, completion, documents, lifecycle

    if load_engine is None:
        from cl_lsp.engine.loader import load_engine as load_from_settings

        def load_engine(settings: Settings) -> Engine:
            return load_from_settings(settings.model)[0]

    server = ClLspServer(base_settings or Settings(), load_engine)
    lifecycle.register(server)
    documents.register(server)
    completion.register(server)
    commands.register(server)
    return server

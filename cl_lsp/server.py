"""The language server: state shared by the handlers, and the factory that wires them."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

from lsprotocol import types
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer

from cl_lsp import __version__
from cl_lsp.acceptance.recorder import Recorder
from cl_lsp.config import Settings, merged
from cl_lsp.core.document import DocumentStore
from cl_lsp.engine.base import Engine, EngineError
from cl_lsp.engine.guarded import GuardedEngine
from cl_lsp.engine.prompt_log import PROMPT_LOG_ENV, PromptLogEngine
from cl_lsp.engine.session import ModelSession, as_session
from cl_lsp.features.base import Feature
from cl_lsp.features.completion import Completions
from cl_lsp.gate import PromptGate
from cl_lsp.protocol import ClLspProtocol
from cl_lsp.repository import Repository
from cl_lsp.service import CompletionService
from cl_lsp.transport import StdinReader, StreamAdapter, read_messages

log = logging.getLogger(__name__)

EngineLoader = Callable[[Settings], Engine | ModelSession]
STATUS_NOTIFICATION = "cl-lsp/status"
_HOOKS = {"open": "opened", "change": "changed", "save": "saved", "close": "closed"}


class ClLspServer(LanguageServer):
    """pygls server plus cl-lsp's state; the handlers in `cl_lsp.handlers` are thin glue."""

    def __init__(
        self,
        base_settings: Settings,
        load_engine: EngineLoader,
        pinned: dict[str, Any] | None = None,
    ) -> None:
        super().__init__("cl-lsp", __version__, protocol_cls=ClLspProtocol)
        # Settings layers, later wins: base (defaults + TOML), initializationOptions,
        # workspace/configuration, then what the command line pinned (--model).
        self.base_settings = base_settings
        self.layers: dict[str, dict[str, Any]] = {"init": {}, "workspace": {}}
        self.pinned = pinned or {}
        self.settings = base_settings
        self.documents = DocumentStore()
        self.root: Path | None = None
        self.repository: Repository | None = None
        # The only way document text reaches a prompt (see cl_lsp.gate).
        self.gate = PromptGate(self.documents, lambda: self.repository)
        self.position_encoding = "utf-16"
        self.client_has_inline_completion = False
        self.client_has_configuration = False
        self._load_engine = load_engine
        self.engine: Engine | None = None
        self.session: ModelSession | None = None  # the loaded model's facts (chat format)
        self.service: CompletionService | None = None
        self.engine_error: EngineError | None = None
        self.engine_ready = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        # Features with state of their own (code actions, syntax diagnostics): they hear
        # document events through their hooks (cl_lsp.features.base.Feature).
        self.features: list[Feature] = []
        # The completion feature, by name too: commands and tests ask it for plans.
        self.completions = Completions(self)
        self.acceptance = Recorder()  # what the user accepts; opens its database on first use
        self._stopped = False
        self._told_loading = False

    def start_io(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        """Serve on stdio with our defensive reader (see cl_lsp.transport)."""
        stop_event = self._stop_event = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        reader = StdinReader(stdin or sys.stdin.buffer, self.thread_pool)
        try:
            asyncio.run(read_messages(stop_event, reader, self.cl_protocol))
            self.cl_protocol.input_ended()
        except BrokenPipeError:
            log.error("the client closed the connection")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.stop()
            self.shutdown()

    def start_tcp(self, host: str, port: int) -> None:
        """Serve one client over TCP (like stdio: one editor, one server process)."""
        stop_event = self._stop_event = threading.Event()

        async def serve() -> None:
            finished = asyncio.Event()

            async def connection(
                reader: asyncio.StreamReader, writer: asyncio.StreamWriter
            ) -> None:
                self.protocol.set_writer(writer)
                try:
                    await read_messages(stop_event, StreamAdapter(reader), self.cl_protocol)
                    self.cl_protocol.input_ended()
                finally:
                    finished.set()

            server = await asyncio.start_server(connection, host, port)
            log.info("listening on %s:%d", host, port)
            async with server:
                await finished.wait()

        try:
            asyncio.run(serve())
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.stop()

    @property
    def cl_protocol(self) -> ClLspProtocol:
        protocol = self.protocol
        assert isinstance(protocol, ClLspProtocol)
        return protocol

    @property
    def exit_code(self) -> int:
        protocol = self.protocol
        return protocol.exit_code if isinstance(protocol, ClLspProtocol) else 1

    # -- engine -------------------------------------------------------------------------
    def start_engine(self) -> None:
        """Load the model in the background; requests meanwhile wait for it (within their
        time limit) in `model_loaded`."""
        self._told_loading = False
        threading.Thread(target=self._load, name="cl-lsp-load", daemon=True).start()
        self.publish_status()

    def _load(self) -> None:
        settings = self.settings
        try:
            loaded = self._load_engine(settings)
        except EngineError as error:
            log.error("model unavailable: %s", error)
            self.engine_error = error
            self.notify_user(types.MessageType.Error, f"cl-lsp: {error.message} {error.fix}")
        except Exception as error:  # a crash in a loader must not take the server down
            log.exception("model load failed")
            self.engine_error = EngineError(f"Loading the model failed: {error}")
            self.notify_user(types.MessageType.Error, f"cl-lsp: {self.engine_error.message}")
        else:
            self.session = session = as_session(loaded)
            self.engine = engine = self.guard_engine(session.engine)
            index = self.repository.index if self.repository else None
            self.service = CompletionService(engine, self.settings, index)
            log.info("engine ready: %s", engine.description)
        finally:
            self.engine_ready.set()
            self.publish_status()
        if self.settings.model != settings.model:  # changed while we were loading
            self.reload_engine()

    async def model_loaded(self, timeout_s: float) -> bool:
        """Wait until the model is loaded (True) or failed, at most `timeout_s`: a request
        that arrives while it loads is answered from it rather than empty. Cancellable."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while not self.engine_ready.is_set() and loop.time() < deadline:
            await asyncio.sleep(0.02)  # the load runs on its own thread: poll its event
        return self.service is not None

    def still_loading(self) -> None:
        """A request's wait for the model ran out: say so, once per load."""
        if self._told_loading:
            return
        self._told_loading = True
        self.notify_user(
            types.MessageType.Info,
            "cl-lsp: the model is still loading; suggestions start as soon as it is ready.",
        )

    def guard_engine(self, engine: Engine) -> Engine:
        """Engine failures and stalls become empty answers; the user is told once per load."""
        return GuardedEngine(
            engine, lambda message: self.notify_user(types.MessageType.Error, message)
        )

    def status(self) -> dict[str, Any]:
        """Model and index state: the `cl-lsp.status` command and notification."""
        result: dict[str, Any]
        if self.engine_error is not None:
            result = {"state": "error", "message": str(self.engine_error)}
        elif self.engine is None:
            model = self.settings.model.path or self.settings.model.alias or "the embedded model"
            result = {
                "state": "loading",
                "message": f"loading {model}: requests wait for it (completion.time_limit_ms)",
            }
        else:
            result = {"state": "ready", "model": self.engine.description}
        workspace = self.repository
        if workspace is not None:
            result["index"] = {
                "state": "ready" if workspace.scanned.is_set() else "scanning",
                **workspace.index.stats(),
            }
        return result

    def publish_status(self) -> None:
        """Send `cl-lsp/status` (editors show it in their status bar); any thread."""
        if self.loop is not None and self.protocol.writer is not None:
            self.loop.call_soon_threadsafe(self.protocol.notify, STATUS_NOTIFICATION, self.status())

    def update_settings(self, layer: str, values: dict[str, Any]) -> list[str]:
        """Replace one settings layer and apply the result live; returns the problems."""
        self.layers[layer] = values
        old = self.settings
        self.settings, problems = merged(
            self.base_settings, self.layers["init"], self.layers["workspace"], self.pinned
        )
        if self.settings == old:
            return problems
        if self.settings.model != old.model and self.engine_ready.is_set():
            log.info("model settings changed: reloading the model")
            self.reload_engine()
        elif self.engine is not None:
            index = self.repository.index if self.repository else None
            self.service = CompletionService(self.engine, self.settings, index)
        return problems

    def reload_engine(self) -> None:
        for feature in self.features:
            feature.model_changed()
        engine, self.engine, self.service = self.engine, None, None
        self.engine_error = None
        self.engine_ready.clear()
        if engine is not None:
            threading.Thread(target=engine.close, daemon=True).start()
        self.start_engine()

    def notify_user(self, kind: types.MessageType, message: str) -> None:
        """window/showMessage, sent from the event loop whatever thread calls this."""
        params = types.ShowMessageParams(type=kind, message=message)
        if self.loop is None:
            return
        self.loop.call_soon_threadsafe(self.window_show_message, params)

    def own_paths(self) -> list[Path]:
        """Files and folders the server itself writes, wherever they are: every log file
        a logging handler writes, the prompt log, the index cache, the statistics."""
        from cl_lsp.acceptance.store import default_path as stats_path
        from cl_lsp.repository import default_cache_dir

        stats = stats_path()
        # SQLite writes journal files beside the database: the whole folder is ours.
        paths = [default_cache_dir(), stats.parent]
        for handler in logging.getLogger().handlers:
            name = getattr(handler, "baseFilename", None)
            if isinstance(name, str):
                paths.append(Path(name))
        prompt_log = os.environ.get(PROMPT_LOG_ENV)
        if prompt_log:
            paths.append(Path(prompt_log))
        return paths

    # -- planning (planner thread) ------------------------------------------------------
    def rel_path(self, uri: str) -> str:
        return self.gate.rel_path(uri)

    def add_feature(self, feature: Feature) -> None:
        feature.register()
        self.features.append(feature)

    def document_event(self, event: str, uri: str) -> None:
        """Tell the features ("open", "change", "save", "close"); one failing never breaks
        document sync."""
        for feature in self.features:
            try:
                getattr(feature, _HOOKS[event])(uri)
            except Exception:
                log.exception("%s hook of %s for %s failed", event, type(feature).__name__, uri)

    def stop(self) -> None:
        """Release the model, the watcher and the planner (idempotent: shutdown, then exit)."""
        if self._stopped:
            return
        self._stopped = True
        if self.engine is not None:
            self.engine.close()
        if self.repository is not None:
            self.repository.close()
        for feature in self.features:
            feature.close()
        self.acceptance.close()


def create_server(
    base_settings: Settings | None = None,
    load_engine: EngineLoader | None = None,
    pinned: dict[str, Any] | None = None,
) -> ClLspServer:
    """A configured server; no module-level singleton, so tests can build several."""
    from cl_lsp.features.code_actions import CodeActions
    from cl_lsp.features.syntax_diagnostics import SyntaxDiagnostics
    from cl_lsp.handlers import commands, documents, lifecycle

    if load_engine is None:
        from cl_lsp.engine.loader import load_session

        def load_engine(settings: Settings) -> Engine | ModelSession:
            return load_session(settings.model)

    prompt_log = os.environ.get(PROMPT_LOG_ENV)
    if prompt_log:  # every prompt, detokenized, appended to this file (tests, debugging)
        load_plain = load_engine

        def load_engine(settings: Settings) -> Engine | ModelSession:
            session = as_session(load_plain(settings))
            return session.with_engine(PromptLogEngine(session.engine, prompt_log))

    server = ClLspServer(base_settings or Settings(), load_engine, pinned)
    lifecycle.register(server)
    documents.register(server)
    server.add_feature(server.completions)
    commands.register(server)
    diagnostics = SyntaxDiagnostics(server)
    server.add_feature(diagnostics)
    server.add_feature(CodeActions(server, diagnostics))
    return server

"""initialize / initialized / shutdown / configuration."""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from cl_lsp.handlers.progress import WorkProgress, begin_progress
from cl_lsp.repository import Repository, default_cache_dir

if TYPE_CHECKING:
    from cl_lsp.server import ClLspServer

log = logging.getLogger(__name__)


def _root(params: types.InitializeParams) -> Path | None:
    uri = params.workspace_folders[0].uri if params.workspace_folders else params.root_uri
    if uri:
        path = to_fs_path(uri)
        return Path(path) if path else None
    return Path(params.root_path) if params.root_path else None


def _init_options(params: types.InitializeParams) -> dict[str, Any]:
    options = params.initialization_options
    if isinstance(options, dict):
        # Accept both {"cl-lsp": {...}} (VS Code style sections) and a bare settings tree.
        section = options.get("cl-lsp", options)
        return section if isinstance(section, dict) else {}
    return {}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


def watch_parent(ls: ClLspServer, pid: int, interval: float = 1.0) -> None:
    """Exit when the editor that started us is gone, as the spec's processId asks.

    Our stdin may stay open when the editor crashes (a wrapper still holds it), so the
    read loop alone would keep a model in memory forever.
    """

    def run() -> None:
        while _alive(pid):
            time.sleep(interval)
        log.warning("parent process %d is gone: exiting", pid)
        ls.stop()
        os._exit(1)

    threading.Thread(target=run, name="cl-lsp-parent", daemon=True).start()


async def _pull_configuration(ls: ClLspServer) -> None:
    """Ask the client for the `cl-lsp` section (the pull model of LSP 3.6+)."""
    try:
        answer = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section="cl-lsp")])
        )
    except Exception as error:  # a client that fails this must not stop the server
        log.warning("workspace/configuration failed: %s", error)
        return
    if answer and isinstance(answer[0], dict):
        _apply_workspace_settings(ls, answer[0])


def _apply_workspace_settings(ls: ClLspServer, values: dict[str, Any]) -> None:
    for problem in ls.update_settings("workspace", values):
        log.warning("workspace/configuration: %s", problem)
        ls.notify_user(types.MessageType.Warning, f"cl-lsp: {problem}")


def _scan_report(reporter: WorkProgress) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        reporter.report(int(100 * done / total) if total else 100, f"{done}/{total} files")

    return report


def _scan_summary(ls: ClLspServer) -> str:
    workspace = ls.repository
    stats = workspace.index.stats() if workspace else {}
    return f"{stats.get('files', 0)} files, {stats.get('definitions', 0)} definitions"


def register(server: ClLspServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: ClLspServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        ls.root = _root(params)
        encoding = ls.workspace.position_encoding or "utf-16"
        ls.position_encoding = getattr(encoding, "value", str(encoding))
        text_caps = params.capabilities.text_document
        ls.client_has_inline_completion = bool(text_caps and text_caps.inline_completion)
        for problem in ls.update_settings("init", _init_options(params)):
            log.warning("initializationOptions: %s", problem)
        # Clients with inline completion get ghost text only; a completion-list item as well
        # would run the model twice per keystroke.
        if ls.client_has_inline_completion:
            ls.cl_protocol.withdraw_feature(types.TEXT_DOCUMENT_COMPLETION)
        if ls.root is not None and ls.settings.context.enabled:
            ls.repository = Repository(
                ls.root, default_cache_dir(), ls.settings.context.ignore, ls.own_paths()
            )
        log.info(
            "initialize: root=%s encoding=%s inline=%s",
            ls.root,
            ls.position_encoding,
            ls.client_has_inline_completion,
        )
        if params.process_id:
            watch_parent(ls, params.process_id)
        workspace_caps = params.capabilities.workspace
        ls.client_has_configuration = bool(workspace_caps and workspace_caps.configuration)
        if not ls.client_has_configuration:
            ls.start_engine()  # else after the first workspace/configuration answer

    @server.feature(types.INITIALIZED)
    async def initialized(ls: ClLspServer, params: types.InitializedParams) -> None:
        if ls.client_has_configuration:
            await _pull_configuration(ls)
            ls.start_engine()
        workspace = ls.repository
        if workspace is None:
            return
        caps = ls.client_capabilities
        wants_progress = bool(caps.window and caps.window.work_done_progress)
        reporter = (
            await begin_progress(ls, "cl-lsp/index", "cl-lsp: indexing") if wants_progress else None
        )

        def scanned() -> None:
            if reporter is not None:
                reporter.end(_scan_summary(ls))
            ls.publish_status()

        workspace.start_scan(progress=_scan_report(reporter) if reporter else None, done=scanned)
        workspace.watch(lambda message: ls.notify_user(types.MessageType.Warning, message))

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched_files(ls: ClLspServer, params: types.DidChangeWatchedFilesParams) -> None:
        if ls.repository is not None:
            for change in params.changes:
                path = to_fs_path(change.uri)
                if path:
                    ls.repository.file_changed(path)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def configuration_changed(
        ls: ClLspServer, params: types.DidChangeConfigurationParams
    ) -> None:
        pushed = params.settings
        if isinstance(pushed, dict) and isinstance(pushed.get("cl-lsp"), dict):
            _apply_workspace_settings(ls, pushed["cl-lsp"])
        elif ls.client_has_configuration:
            await _pull_configuration(ls)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: ClLspServer, *args: Any) -> None:
        ls.stop()

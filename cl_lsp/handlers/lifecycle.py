"""initialize / initialized / shutdown / configuration."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from cl_lsp.config import merged

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


def register(server: ClLspServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: ClLspServer, params: types.InitializeParams) -> None:
        ls.loop = asyncio.get_running_loop()
        ls.root = _root(params)
        encoding = ls.workspace.position_encoding or "utf-16"
        ls.position_encoding = getattr(encoding, "value", str(encoding))
        text_caps = params.capabilities.text_document
        ls.client_has_inline_completion = bool(text_caps and text_caps.inline_completion)
        ls.settings, problems = merged(ls.base_settings, _init_options(params))
        for problem in problems:
            log.warning("initializationOptions: %s", problem)
        # Clients with inline completion get ghost text only; a completion-list item as well
        # would run the model twice per keystroke.
        if ls.client_has_inline_completion:
            ls.protocol.fm.features.pop(types.TEXT_DOCUMENT_COMPLETION, None)
            ls.protocol.fm.feature_options.pop(types.TEXT_DOCUMENT_COMPLETION, None)
        log.info(
            "initialize: root=%s encoding=%s inline=%s",
            ls.root,
            ls.position_encoding,
            ls.client_has_inline_completion,
        )
        ls.start_engine()

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: ClLspServer, *args: Any) -> None:
        ls.stop()

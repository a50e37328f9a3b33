"""Start `cl-lsp --stdio` as a subprocess and drive it with pytest-lsp's LanguageClient."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio
from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities
from pytest_lsp.client import make_test_lsp_client

Starter = Callable[..., Awaitable[LanguageClient]]


def vscode_capabilities() -> types.ClientCapabilities:
    """VS Code with LSP 3.18 inline completions (its recorded 1.65 capabilities predate them)."""
    caps = client_capabilities("visual-studio-code")
    assert caps.text_document is not None
    caps.text_document.inline_completion = types.InlineCompletionClientCapabilities()
    return caps


def neovim_capabilities() -> types.ClientCapabilities:
    """Neovim 0.7: completion but no inline completion."""
    return client_capabilities("neovim@v0.7.0")


def utf16_only(caps: types.ClientCapabilities) -> types.ClientCapabilities:
    caps.general = types.GeneralClientCapabilities(position_encodings=["utf-16"])
    return caps


async def start_client(*args: str, env: dict[str, str] | None = None) -> LanguageClient:
    client = make_test_lsp_client()
    await client.start_io(sys.executable, "-m", "cl_lsp", "--stdio", *args, env=env)
    return client


async def initialize(
    client: LanguageClient,
    root: Path,
    capabilities: types.ClientCapabilities | None = None,
    options: dict[str, Any] | None = None,
) -> types.InitializeResult:
    return await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities or vscode_capabilities(),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options=options,
        )
    )


@pytest_asyncio.fixture
async def lsp(tmp_path: Path) -> AsyncIterator[Starter]:
    """Start servers on demand; every one started is shut down at the end of the test."""
    clients: list[LanguageClient] = []

    async def start(
        *args: str,
        capabilities: types.ClientCapabilities | None = None,
        options: dict[str, Any] | None = None,
        root: Path | None = None,
        configuration: dict[str, Any] | None = None,
    ) -> LanguageClient:
        # Each test gets its own index cache: nothing leaks between tests or from the user.
        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
        client = await start_client(*args, env=env)
        clients.append(client)
        if configuration is not None:
            client.set_configuration(configuration)
        client.init_result = await initialize(client, root or tmp_path, capabilities, options)  # type: ignore[attr-defined]
        return client

    yield start
    for client in clients:
        try:
            if (
                client.capabilities is not None
                and client._server
                and client._server.returncode is None
            ):
                await client.shutdown_session()
        finally:
            await client.stop()


def open_doc(client: LanguageClient, path: Path, text: str, language: str = "python") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)
        )
    )
    return uri


async def wait_ready(client: LanguageClient) -> dict[str, Any]:
    """Wait until the model is loaded and the workspace scanned; returns the status."""
    for _ in range(600):
        status = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="cl-lsp.status")
        )
        index_ready = status.get("index", {}).get("state", "ready") == "ready"
        if status.get("state") in ("ready", "error") and index_ready:
            return dict(status)
        await asyncio.sleep(0.05)
    raise AssertionError("model never finished loading")

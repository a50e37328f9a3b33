"""End to end: `cl-lsp --stdio` driven over LSP by pytest-lsp's client, real models."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tests.e2e.conftest import (
    Starter,
    neovim_capabilities,
    open_doc,
    start_client,
    utf16_only,
    vscode_capabilities,
    wait_ready,
)
from tests.e2e.rawrpc import RawServer

TINY_OPTIONS = {"completion": {"maxTokens": 16, "maxBlockTokens": 24}, "model": {"nCtx": 2048}}
# A long document: its prefill takes long enough on the slow model to cancel it mid-way.
LONG_DOC = "".join(f"def function_{i}(value):\n    return value * {i}\n\n" for i in range(400))


def inline_params(uri: str, line: int, character: int) -> types.InlineCompletionParams:
    return types.InlineCompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
        context=types.InlineCompletionContext(
            trigger_kind=types.InlineCompletionTriggerKind.Automatic
        ),
    )


def completion_params(uri: str, line: int, character: int) -> types.CompletionParams:
    return types.CompletionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        position=types.Position(line=line, character=character),
    )


def test_lifecycle_errors_and_exit_codes(tmp_path: Path) -> None:
    server = RawServer()
    try:
        inline = {
            "textDocument": {"uri": "file:///x.py"},
            "position": {"line": 0, "character": 0},
            "context": {"triggerKind": 2},
        }
        before = server.request(1, "textDocument/inlineCompletion", inline)
        assert before["error"]["code"] == -32002  # ServerNotInitialized
        init = server.request(
            2, "initialize", {"capabilities": {}, "processId": None, "rootUri": tmp_path.as_uri()}
        )
        assert "capabilities" in init["result"]
        server.send({"method": "initialized", "params": {}})
        assert server.request(3, "initialize", {"capabilities": {}})["error"]["code"] == -32600
        assert server.request(4, "shutdown")["result"] is None
        after = server.request(5, "textDocument/inlineCompletion", inline)
        assert after["error"]["code"] == -32600  # InvalidRequest after shutdown
        server.send({"method": "exit"})
        assert server.process.wait(10) == 0
    finally:
        server.close()


async def test_exit_without_shutdown_is_code_1(tmp_path: Path) -> None:
    client = await start_client()
    try:
        await client.initialize_session(
            types.InitializeParams(capabilities=vscode_capabilities(), root_uri=tmp_path.as_uri())
        )
        client.exit(None)
        assert client._server is not None
        assert await asyncio.wait_for(client._server.wait(), 10) == 1
    finally:
        await client.stop()


async def test_capabilities_follow_the_client(lsp: Starter, tiny_model: Path) -> None:
    vscode = (await lsp("--model", str(tiny_model))).init_result.capabilities  # type: ignore[attr-defined]
    assert vscode.inline_completion_provider is not None
    assert vscode.completion_provider is None  # ghost text only: one model run per keystroke
    assert vscode.text_document_sync.change == types.TextDocumentSyncKind.Incremental
    neovim = (
        await lsp("--model", str(tiny_model), capabilities=neovim_capabilities())
    ).init_result.capabilities  # type: ignore[attr-defined]
    assert neovim.completion_provider is not None
    assert neovim.position_encoding in (None, types.PositionEncodingKind.Utf16)


async def test_inline_completion_vscode(lsp: Starter, tmp_path: Path, tiny_model: Path) -> None:
    client = await lsp("--model", str(tiny_model), options=TINY_OPTIONS)
    await wait_ready(client)
    text = "def add(a, b):\n    return a\n\nprint(add(1, 2))\n"
    uri = open_doc(client, tmp_path / "app.py", text)
    result = await client.text_document_inline_completion_async(inline_params(uri, 1, 12))
    assert isinstance(result, types.InlineCompletionList)
    for item in result.items:
        assert item.range is not None
        assert item.range.start == types.Position(1, 12)
        assert item.range.end.line == 1
        assert "<PRE>" not in str(item.insert_text) and "<EOT>" not in str(item.insert_text)


async def test_completion_fallback_for_neovim(lsp: Starter, tmp_path: Path, smollm: Path) -> None:
    client = await lsp(capabilities=neovim_capabilities())  # the embedded default model
    await wait_ready(client)
    text = "import os\n\n\ndef read_file(path):\n    with open(path) as f:\n        return \n"
    uri = open_doc(client, tmp_path / "files.py", text)
    result = await client.text_document_completion_async(completion_params(uri, 5, 15))
    assert isinstance(result, types.CompletionList) and result.is_incomplete
    assert len(result.items) == 1
    edit = result.items[0].text_edit
    assert isinstance(edit, types.TextEdit)
    assert edit.range.start == types.Position(5, 15)
    # SmolLM2 completes the obvious: return the file's contents, on this line only.
    assert "f.read" in edit.new_text and "\n" not in edit.new_text


async def test_utf16_positions_after_non_bmp_edits(
    lsp: Starter, tmp_path: Path, tiny_model: Path
) -> None:
    client = await lsp("--model", str(tiny_model), capabilities=utf16_only(vscode_capabilities()))
    await wait_ready(client)
    uri = open_doc(client, tmp_path / "emoji.py", 'x = "😋"\ny = 1\n')
    # Insert after the emoji: it is two UTF-16 units (5 and 6), so column 7 is after it.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(0, 7), types.Position(0, 7)), text="é漢"
                )
            ],
        )
    )
    shown = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="cl-lsp.showContext", arguments=[uri, {"line": 0, "character": 9}]
        )
    )
    prefix = shown.split("--- prefix (end) ---\n")[1].split("\n--- suffix (start) ---\n")[0]
    suffix = shown.split("--- suffix (start) ---\n")[1]
    assert (prefix, suffix) == ('x = "😋é漢', '"\ny = 1\n')


async def test_out_of_range_positions_are_clamped(
    lsp: Starter, tmp_path: Path, tiny_model: Path
) -> None:
    client = await lsp("--model", str(tiny_model), options=TINY_OPTIONS)
    await wait_ready(client)
    uri = open_doc(client, tmp_path / "a.py", "x = 1\n")
    result = await client.text_document_inline_completion_async(inline_params(uri, 999, 999))
    assert isinstance(result, types.InlineCompletionList)
    result = await client.text_document_inline_completion_async(inline_params(uri, 0, 999))
    assert isinstance(result, types.InlineCompletionList)
    missing = await client.text_document_inline_completion_async(
        inline_params((tmp_path / "never-opened.py").as_uri(), 0, 0)
    )
    assert missing is not None and not missing.items


async def test_cancel_and_supersede(lsp: Starter, tmp_path: Path, slow_model: Path) -> None:
    client = await lsp("--model", str(slow_model), options={"model": {"nCtx": 8192, "nBatch": 64}})
    await wait_ready(client)
    uri = open_doc(client, tmp_path / "long.py", LONG_DOC + "result = ")
    last = LONG_DOC.count("\n")
    # 1. Cancelled by the client.
    cancelled = client.protocol.send_request(
        types.TEXT_DOCUMENT_INLINE_COMPLETION, inline_params(uri, last, 9), msg_id="cancel-me"
    )
    await asyncio.sleep(0.05)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-me"))
    with pytest.raises(JsonRpcException) as caught:
        await asyncio.wrap_future(cancelled)
    assert caught.value.code == -32800
    # 2. Superseded by a newer request on the same document: the newest is answered.
    older = client.text_document_inline_completion_async(inline_params(uri, last, 9))
    newer = client.text_document_inline_completion_async(inline_params(uri, last, 9))
    results = await asyncio.gather(older, newer, return_exceptions=True)
    assert isinstance(results[0], JsonRpcException) and results[0].code == -32800
    assert isinstance(results[1], types.InlineCompletionList)


@pytest.mark.parametrize("kind", ["missing", "empty", "truncated"])
async def test_bad_model_keeps_the_server_up(
    lsp: Starter, tmp_path: Path, tiny_model: Path, kind: str
) -> None:
    model = tmp_path / f"{kind}.gguf"
    if kind == "empty":
        model.write_bytes(b"")
    elif kind == "truncated":
        model.write_bytes(tiny_model.read_bytes()[:4096])
    client = await lsp("--model", str(model))
    await wait_ready(client)
    for _ in range(100):
        if client.messages:
            break
        await asyncio.sleep(0.05)
    assert len(client.messages) == 1
    message = client.messages[0]
    assert message.type == types.MessageType.Error and str(model) in message.message
    uri = open_doc(client, tmp_path / "a.py", "x = \n")
    result = await client.text_document_inline_completion_async(inline_params(uri, 0, 4))
    assert result is not None and not result.items


UNITS = '''"""Unit conversions."""


def convert_fahrenheit_to_kelvin(value: float) -> float:
    """Convert a temperature in degrees Fahrenheit to kelvin."""
    return (value - 32) * 5 / 9 + 273.15
'''
MAIN = "from lib import units\n\ntemperature = 451\nkelvin = units.convert_\n"


@pytest.mark.parametrize("context", [True, False])
async def test_completion_uses_a_definition_from_another_file(
    lsp: Starter, tmp_path: Path, smollm: Path, context: bool
) -> None:
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "__init__.py").write_text("")
    (tmp_path / "lib" / "units.py").write_text(UNITS)
    # No warm-up: it would plan at the end of the file 250 ms after didOpen and leave its
    # (sticky) context for this cursor one line up, depending on which request came first.
    options = {"context": {"enabled": context}, "completion": {"warm": False}}
    client = await lsp(capabilities=neovim_capabilities(), options=options)
    status = await wait_ready(client)
    assert ("index" in status) is context
    uri = open_doc(client, tmp_path / "main.py", MAIN)
    shown = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(
            command="cl-lsp.showContext", arguments=[uri, {"line": 3, "character": 23}]
        )
    )
    assert ("lib/units.py" in shown) is context
    result = await client.text_document_completion_async(completion_params(uri, 3, 23))
    text = result.items[0].text_edit.new_text if result and result.items else ""
    # Only the other file knows the function's name; SmolLM2 copies it from the context.
    assert text.startswith("fahrenheit_to_kelvin") is context


async def test_settings_from_workspace_configuration_apply_live(
    lsp: Starter, tmp_path: Path, smollm: Path
) -> None:
    client = await lsp(configuration={"cl-lsp": {"completion": {"enabled": False}}})
    await wait_ready(client)
    text = "import os\n\n\ndef read_file(path):\n    with open(path) as f:\n        return \n"
    uri = open_doc(client, tmp_path / "files.py", text)
    off = await client.text_document_inline_completion_async(inline_params(uri, 5, 15))
    assert off is not None and not off.items  # pulled at startup: disabled
    client.set_configuration({"cl-lsp": {"completion": {"enabled": True}}})
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    for _ in range(100):  # the server pulls the new section, then applies it
        on = await client.text_document_inline_completion_async(inline_params(uri, 5, 15))
        if on is not None and on.items:
            break
        await asyncio.sleep(0.05)
    assert on is not None and on.items and "f.read" in str(on.items[0].insert_text)

"""Pins the pygls internals that cl_lsp/protocol.py adapts (no public API exists for them):
a pygls upgrade that changes them fails here, not in an editor."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from lsprotocol import types

from cl_lsp.config import Settings
from cl_lsp.server import create_server
from tests.e2e.fake_server import FakeEngine


class Capture:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        self.messages.append(json.loads(data.split(b"\r\n\r\n", 1)[1]))

    def close(self) -> None:
        pass


def _server() -> tuple[Any, Capture]:
    server = create_server(Settings(), load_engine=lambda settings: FakeEngine("echo"))
    capture = Capture()
    server.protocol.set_writer(capture)
    return server, capture


def test_send_payload_keeps_a_null_id() -> None:
    server, capture = _server()
    server.cl_protocol.send_payload({"jsonrpc": "2.0", "id": None, "error": {"code": 1}})
    assert capture.messages == [{"jsonrpc": "2.0", "id": None, "error": {"code": 1}}]
    server.stop()


def test_withdrawn_feature_is_not_announced() -> None:
    server, capture = _server()
    server.cl_protocol.withdraw_feature(types.TEXT_DOCUMENT_COMPLETION)
    loop = asyncio.new_event_loop()
    try:
        request = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {"capabilities": {}},
        }
        from cl_lsp.transport import dispatch_value

        async def run() -> None:
            dispatch_value(server.cl_protocol, request)
            for _ in range(20):
                await asyncio.sleep(0.01)

        loop.run_until_complete(run())
    finally:
        server.stop()
        loop.close()
    capabilities = next(m for m in capture.messages if m.get("id") == 1)["result"]["capabilities"]
    assert "completionProvider" not in capabilities
    assert "inlineCompletionProvider" in capabilities


def test_shutdown_flag_is_what_the_lifecycle_reads() -> None:
    server, _ = _server()
    assert server.cl_protocol._shutdown is False  # the attribute ClLspProtocol relies on
    server.stop()

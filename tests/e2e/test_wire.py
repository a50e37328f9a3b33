"""Malformed input on the wire: the right JSON-RPC error, and the next request still works."""

from __future__ import annotations

import json
import resource
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.rawrpc import RawServer


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RawServer]:
    raw = RawServer("--model", str(tmp_path / "no-model.gguf"))
    init = raw.request(1, "initialize", {"capabilities": {}, "rootUri": None, "processId": None})
    assert "capabilities" in init["result"]
    raw.send({"method": "initialized", "params": {}})
    yield raw
    raw.close()


def still_works(raw: RawServer, id_: int) -> None:
    answer = raw.request(id_, "workspace/executeCommand", {"command": "cl-lsp.status"})
    assert answer["result"]["state"] in ("loading", "error")


def body(text: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(text) + text


def test_invalid_json_is_a_parse_error(server: RawServer) -> None:
    server.send_raw(body(b'{"jsonrpc": "2.0", "id": 5, "method": '))
    error = server.response()
    assert error["id"] is None and error["error"]["code"] == -32700
    still_works(server, 6)


def test_wrong_params_are_invalid_params(server: RawServer) -> None:
    answer = server.request(7, "textDocument/inlineCompletion", {"position": "nowhere"})
    assert answer["error"]["code"] == -32602
    still_works(server, 8)


def test_not_json_rpc_is_an_invalid_request(server: RawServer) -> None:
    server.send_raw(body(b"[1, 2, 3]"))
    assert server.response()["error"]["code"] == -32600
    server.send_raw(body(b'{"id": 9, "method": "shutdown"}'))  # no "jsonrpc": "2.0"
    answer = server.response()
    assert answer["id"] == 9 and answer["error"]["code"] == -32600
    still_works(server, 10)


def test_unknown_methods(server: RawServer) -> None:
    assert server.request(11, "cl-lsp/bogus", {})["error"]["code"] == -32601
    server.send({"method": "$/bogusNotification", "params": {}})  # ignored, as the spec says
    assert server.request(12, "$/bogusRequest", {})["error"]["code"] == -32601
    still_works(server, 13)


def test_huge_content_length_is_skipped_without_allocating(server: RawServer) -> None:
    size = 2 * 1024**3  # 2 GiB claimed; 300 MiB actually sent, then a valid message
    sent = 300 * 1024 * 1024
    server.send_raw(b"Content-Length: %d\r\n\r\n" % size)
    chunk = b"x" * (1024 * 1024)
    for _ in range(sent // len(chunk)):
        server.send_raw(chunk)
    error = server.response()
    assert error["error"]["code"] == -32600 and "too large" in error["error"]["message"]
    # Finish the claimed body so the stream is in sync again.
    remaining = size - sent
    while remaining:
        piece = min(remaining, 16 * len(chunk))
        server.send_raw(b"x" * piece)
        remaining -= piece
    still_works(server, 14)
    peak_kb = _peak_rss_kb(server.process.pid)
    assert peak_kb < 1024 * 1024, f"server peak RSS {peak_kb} kB"


def test_duplicate_and_odd_headers(server: RawServer) -> None:
    payload = json.dumps(
        {
            "jsonrpc": "2.0",
            "id": 15,
            "method": "workspace/executeCommand",
            "params": {"command": "cl-lsp.status"},
        }
    ).encode()
    headers = (
        b"content-length: %d\r\n" % len(payload)
        + b"Content-Length: 3\r\n"  # a duplicate: the first one counts
        + b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n"
    )
    server.send_raw(headers + payload)
    assert server.response()["id"] == 15
    server.send_raw(b"Content-Length: nope\r\n\r\n")
    assert server.response()["error"]["code"] == -32700
    still_works(server, 16)


def test_truncated_stream_ends_the_server(tmp_path: Path) -> None:
    raw = RawServer("--model", str(tmp_path / "none.gguf"))
    try:
        raw.send_raw(b'Content-Length: 100\r\n\r\n{"jsonrpc": "2.0"')
        assert raw.process.stdin is not None
        raw.process.stdin.close()
        assert raw.process.wait(10) == 1  # no exit notification: code 1, promptly
    finally:
        raw.close()


def _peak_rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def test_server_exits_when_its_parent_dies(tmp_path: Path) -> None:
    import subprocess
    import sys

    # A stand-in editor process that we kill; the server is told it is its parent.
    parent = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    raw = RawServer("--model", str(tmp_path / "none.gguf"))
    try:
        raw.request(1, "initialize", {"capabilities": {}, "processId": parent.pid})
        parent.kill()
        parent.wait()
        assert raw.process.wait(5) == 1  # the spec's 5 s, with stdin still open
    finally:
        raw.close()


def _status_request(id_: int, note: str = "") -> bytes:
    message = {
        "jsonrpc": "2.0",
        "id": id_,
        "method": "workspace/executeCommand",
        "params": {"command": "cl-lsp.status", "arguments": [note] if note else []},
    }
    return json.dumps(message, ensure_ascii=False).encode()


def test_a_length_off_by_one_does_not_deafen_the_server(server: RawServer) -> None:
    """A Content-Length one byte too long, then one too short: each damaged request is
    still answered, and so is everything after it (the reader used to lose the stream)."""
    payload = _status_request(20)
    server.send_raw(b"Content-Length: %d\r\n\r\n" % (len(payload) + 1) + payload)
    assert server.response()["id"] == 20
    still_works(server, 21)
    payload = _status_request(22)
    server.send_raw(b"Content-Length: %d\r\n\r\n" % (len(payload) - 1) + payload)
    assert server.response()["id"] == 22
    still_works(server, 23)


def test_characters_counted_for_bytes(server: RawServer) -> None:
    """A client that counts characters instead of UTF-8 bytes understates every message
    with non-ASCII text; such messages are recovered, back to back."""
    for id_ in (30, 31, 32):
        payload = _status_request(id_, "héllo wörld 😀 中文")
        server.send_raw(b"Content-Length: %d\r\n\r\n" % len(payload.decode()) + payload)
    assert sorted(server.response()["id"] for _ in range(3)) == [30, 31, 32]
    still_works(server, 33)


def test_garbage_and_bare_newlines_between_frames(server: RawServer) -> None:
    payload = _status_request(40)
    server.send_raw(b"}\x00garbage\r\n" + b"Content-Length: %d\n\n" % len(payload) + payload)
    answers = [server.response() for _ in range(2)]
    assert {a.get("id") for a in answers} == {None, 40}  # a parse error, then the answer
    still_works(server, 41)

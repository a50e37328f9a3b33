"""`cl-lsp --tcp HOST:PORT` serves the same protocol over a socket."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def frame(message: dict) -> bytes:  # type: ignore[type-arg]
    body = json.dumps({"jsonrpc": "2.0", **message}).encode()
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_response(stream: socket.socket, want_id: int) -> dict:  # type: ignore[type-arg]
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = stream.recv(65536)
            assert chunk, "server closed the connection"
            buffer += chunk
        header, buffer = buffer.split(b"\r\n\r\n", 1)
        length = next(
            int(line.split(b":")[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        while len(buffer) < length:
            buffer += stream.recv(65536)
        message, buffer = json.loads(buffer[:length]), buffer[length:]
        if message.get("id") == want_id and "method" not in message:
            return message  # type: ignore[no-any-return]


def test_tcp_transport(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cl_lsp",
            "--tcp",
            f"127.0.0.1:{port}",
            "--model",
            str(tmp_path / "none.gguf"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                connection = socket.create_connection(("127.0.0.1", port), timeout=10)
                break
            except OSError:
                time.sleep(0.05)
        else:
            raise AssertionError("the server never listened")
        with connection:
            connection.sendall(
                frame({"id": 1, "method": "initialize", "params": {"capabilities": {}}})
            )
            result = read_response(connection, 1)["result"]
            assert result["serverInfo"]["name"] == "cl-lsp"
            assert "inlineCompletionProvider" in result["capabilities"]
            connection.sendall(frame({"method": "initialized", "params": {}}))
            connection.sendall(frame({"id": 2, "method": "shutdown"}))
            assert read_response(connection, 2)["result"] is None
            connection.sendall(frame({"method": "exit"}))
        assert server.wait(10) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()

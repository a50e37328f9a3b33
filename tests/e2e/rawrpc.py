"""A bare JSON-RPC pipe to `cl-lsp --stdio`, for what a well-behaved client never sends."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any


class RawServer:
    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cl_lsp", "--stdio", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )

    def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def send_raw(self, data: bytes) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        header = b""
        while not header.endswith(b"\r\n\r\n"):
            byte = self.process.stdout.read(1)
            if not byte:
                raise EOFError("server closed its output")
            header += byte
        length = next(
            int(line.split(b":")[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        return json.loads(self.process.stdout.read(length))

    def response(self) -> dict[str, Any]:
        """The next response (result or error), skipping server notifications and requests."""
        while True:
            message = self.receive()
            if "method" not in message:
                return message

    def request(self, id_: int, method: str, params: Any = None) -> dict[str, Any]:
        """Send a request and return its response, skipping notifications meanwhile."""
        self.send({"id": id_, "method": method, "params": params})
        while True:
            message = self.receive()
            if message.get("id") == id_ and "method" not in message:
                return message

    def close(self) -> int:
        if self.process.poll() is None:
            self.process.kill()
        return self.process.wait(10)

"""The stdio message loop: LSP framing read defensively.

pygls' own loop leaves a request unanswered when its params do not match the schema,
answers invalid JSON with nothing, and would allocate whatever a Content-Length claims.
Here every malformed message gets the JSON-RPC error the spec names, oversized bodies are
skipped in chunks without being held in memory, and the next valid message still works.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from typing import Any, Protocol

from pygls.exceptions import JsonRpcException

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # a 10 MB file is ~11 MB of JSON; 2 GiB is an attack
MAX_HEADER_LINE = 8192
_CHUNK = 1 << 20

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603


class AsyncReader(Protocol):
    async def readline(self) -> bytes: ...

    async def readexactly(self, n: int) -> bytes: ...


class Dispatcher(Protocol):
    def structure_message(self, data: dict[str, Any]) -> Any: ...

    def handle_message(self, message: Any) -> None: ...

    def _send_data(self, data: Any) -> None: ...


def _error(protocol: Dispatcher, msg_id: Any, code: int, message: str) -> None:
    # A plain dict: the lsprotocol converter would drop `"id": null`, which JSON-RPC requires
    # when the request's id could not be read.
    error = {"code": code, "message": message}
    protocol._send_data({"jsonrpc": "2.0", "id": msg_id, "error": error})


async def _read_headers(reader: AsyncReader) -> dict[str, str] | None:
    """One header block, names lower-cased; None at end of input."""
    headers: dict[str, str] = {}
    while True:
        line = await reader.readline()
        if not line:
            return None
        if len(line) > MAX_HEADER_LINE:
            log.warning("header line of %d bytes ignored", len(line))
            continue
        text = line.decode("ascii", "replace").strip()
        if not text:
            if headers:
                return headers
            continue  # stray blank lines between messages
        name, sep, value = text.partition(":")
        if sep:
            # A duplicate header keeps its first value: what a client meant first.
            headers.setdefault(name.strip().lower(), value.strip())


async def _discard(reader: AsyncReader, length: int) -> bool:
    """Skip a body without holding it; False when input ends first."""
    while length > 0:
        chunk = await reader.readexactly(min(length, _CHUNK))
        if not chunk:
            return False
        length -= len(chunk)
    return True


def dispatch(protocol: Dispatcher, body: bytes) -> None:
    """Decode one message body and hand it to the protocol, answering what it cannot."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        _error(protocol, None, PARSE_ERROR, f"invalid JSON: {error}")
        return
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        msg_id = data.get("id") if isinstance(data, dict) else None
        _error(protocol, msg_id, INVALID_REQUEST, "not a JSON-RPC 2.0 message")
        return
    msg_id = data.get("id")
    is_request = "method" in data and msg_id is not None
    try:
        message = protocol.structure_message(data)
    except JsonRpcException as error:
        if is_request:
            _error(protocol, msg_id, error.code, error.message or "invalid params")
        else:
            log.warning("dropping malformed notification %s: %s", data.get("method"), error)
        return
    try:
        protocol.handle_message(message)
    except Exception as error:  # a handler bug must not end the session
        log.exception("failed to handle %s", data.get("method"))
        if is_request:
            _error(protocol, msg_id, INTERNAL_ERROR, f"internal error: {error}")


async def read_messages(
    stop_event: threading.Event, reader: AsyncReader, protocol: Dispatcher
) -> None:
    while not stop_event.is_set():
        headers = await _read_headers(reader)
        if headers is None:
            break
        try:
            length = int(headers.get("content-length", ""))
        except ValueError:
            _error(protocol, None, PARSE_ERROR, "missing or invalid Content-Length")
            continue  # without a length the body cannot be skipped: resync on headers
        if length < 0:
            _error(protocol, None, PARSE_ERROR, "negative Content-Length")
            continue
        if length > MAX_MESSAGE_BYTES:
            _error(protocol, None, INVALID_REQUEST, f"message of {length} bytes is too large")
            if not await _discard(reader, length):
                break
            continue
        body = await reader.readexactly(length) if length else b""
        if len(body) < length:
            log.info("input ended inside a message body")
            break
        dispatch(protocol, body)
        await asyncio.sleep(0)  # let handlers scheduled by this message start


class StdinReader:
    """stdin read on a worker thread; header lines are read with a bound."""

    def __init__(self, stdin: Any, executor: Any = None) -> None:
        self.stdin = stdin
        self.executor = executor

    async def readline(self) -> bytes:
        loop = asyncio.get_running_loop()
        line: bytes = await loop.run_in_executor(
            self.executor, self.stdin.readline, MAX_HEADER_LINE + 1
        )
        return line

    async def readexactly(self, n: int) -> bytes:
        loop = asyncio.get_running_loop()
        data: bytes = await loop.run_in_executor(self.executor, self.stdin.read, n)
        return data


class StreamAdapter:
    """An asyncio StreamReader (TCP) with the reader interface above."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    async def readline(self) -> bytes:
        try:
            return await self.reader.readline()
        except ValueError:  # a line over the stream's limit: report it as over-long
            return b"x" * (MAX_HEADER_LINE + 1)

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self.reader.readexactly(n)
        except asyncio.IncompleteReadError as error:
            return error.partial

"""The message loop: LSP framing read defensively, and resynchronised after any damage.

pygls' own loop leaves a request unanswered when its params do not match the schema,
answers invalid JSON with nothing, would allocate whatever a Content-Length claims, and
only recognises a header at the start of a line: one frame whose length is off by a byte
makes every later message of the session unreadable. Here:

- every malformed message gets the JSON-RPC error the spec names;
- oversized bodies are skipped in chunks without being held in memory;
- after a framing error (a length too long or too short, a missing CR, garbage between
  frames, a header split across reads) the reader finds the next header block wherever it
  starts, so nothing valid after the damage is lost. A header block cannot occur inside a
  JSON body (JSON strings cannot hold a raw CR or LF), which makes that search safe;
- a damaged message is recovered when its JSON is whole: an overstated length whose body
  is a complete value followed by the next header's first bytes, or an understated one
  whose value runs on up to the next header (a client that counts characters, not UTF-8
  bytes, sends that for any message with non-ASCII text).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Protocol

from pygls.exceptions import JsonRpcException

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 256 * 1024 * 1024  # a 10 MB file is ~11 MB of JSON; 2 GiB is an attack
MAX_HEADER_BLOCK = 8192
_CHUNK = 1 << 16  # one read; also the step when an oversized body is skipped
# How long a damaged body waits for the rest of its JSON before it is given up.
RECOVERY_WAIT_S = 0.1

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INTERNAL_ERROR = -32603

# Where a header block may begin: the name of one of the two LSP headers, anywhere.
_HEADER_START = re.compile(rb"content-(?:length|type)[ \t]*:", re.IGNORECASE)
# A whole header block: one or more `Name: value` lines, then an empty line. CR optional.
_HEADER_BLOCK = re.compile(rb"(?:[A-Za-z0-9-]+[ \t]*:[^\r\n]*\r?\n){1,32}\r?\n")
_LENGTH = re.compile(rb"^content-length[ \t]*:[ \t]*([0-9]+)[ \t]*\r?$", re.IGNORECASE | re.M)
_LENGTH_NAME = re.compile(rb"^content-length[ \t]*:", re.IGNORECASE | re.M)
_BLANK = re.compile(rb"\n\r?\n")
_DECODER = json.JSONDecoder()


class ByteSource(Protocol):
    async def read_some(self) -> bytes:
        """Whatever bytes are available (at least one), or b"" at the end of input."""
        ...


class Dispatcher(Protocol):
    def structure_message(self, data: dict[str, Any]) -> Any: ...

    def handle_message(self, message: Any) -> None: ...

    def send_payload(self, data: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class FrameError:
    """A framing problem to answer with an id-less JSON-RPC error."""

    code: int
    message: str


@dataclass(frozen=True)
class Message:
    """A decoded JSON value (not necessarily a valid JSON-RPC message yet)."""

    data: Any


class FrameReader:
    """LSP frames out of a byte stream, with resynchronisation and recovery."""

    def __init__(self, source: ByteSource) -> None:
        self.source = source
        self.buf = bytearray()
        self.eof = False
        self._pending: asyncio.Future[bytes] | None = None
        self._garbage = 0  # bytes skipped while looking for a header
        self._skip = 0  # body bytes of an oversized message still to skip

    async def _fill(self, timeout: float | None = None) -> bool:
        """Read more into the buffer; False at the end of input or when `timeout` passes.
        A read still running after a timeout is kept for the next call: nothing is lost."""
        if self.eof:
            return False
        if self._pending is None:
            self._pending = asyncio.ensure_future(self.source.read_some())
        done, _ = await asyncio.wait({self._pending}, timeout=timeout)
        if not done:
            return False
        chunk = self._pending.result()
        self._pending = None
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    async def next(self) -> Message | FrameError | None:
        """The next message or framing error; None at the end of input."""
        if self._skip:
            # After the error went out: a client may wait for it before sending the rest.
            await self._discard(self._skip)
            self._skip = 0
        while True:
            start = await self._find_header()
            if start is None:
                return None
            if self._garbage:
                skipped, self._garbage = self._garbage, 0
                log.warning("skipped %d bytes that were not a message", skipped)
                return FrameError(PARSE_ERROR, f"skipped {skipped} bytes that were not a message")
            block = await self._header_block()
            if block is None:
                if self.eof:
                    return None
                continue  # not a header after all: search on
            if isinstance(block, FrameError):
                return block
            return await self._body(block)

    async def _find_header(self) -> int | None:
        """Drop what precedes the next header start (counting non-blank bytes as garbage)
        until the buffer begins with one; None when the input ends first."""
        while True:
            match = _HEADER_START.search(self.buf)
            if match is not None:
                self._drop(match.start())
                return 0
            # Keep a tail that may be the first bytes of a header split across reads.
            keep = 24 if not self.eof else 0
            self._drop(max(0, len(self.buf) - keep))
            if not await self._fill():
                if self.buf.strip() or self._garbage:
                    self._garbage += len(self.buf.strip())
                self.buf.clear()
                if self._garbage:
                    log.warning("input ended after %d bytes that were not a message", self._garbage)
                return None

    def _drop(self, n: int) -> None:
        if n > 0:
            self._garbage += len(bytes(self.buf[:n]).strip())
            del self.buf[:n]

    async def _header_block(self) -> int | FrameError | None:
        """The body length of the header block at the buffer's start. None (after dropping
        the false start) when the bytes there are no header block."""
        while True:
            blank = _BLANK.search(self.buf, 0, MAX_HEADER_BLOCK + 2)
            if blank is not None:
                break
            if len(self.buf) > MAX_HEADER_BLOCK or not await self._fill():
                self._false_start()
                return None
        end = blank.end()
        match = _HEADER_BLOCK.match(self.buf, 0, end)
        if match is None or match.end() != end:
            self._false_start()
            return None
        block = bytes(self.buf[:end])
        del self.buf[:end]
        length = _LENGTH.search(block)
        first = _LENGTH_NAME.search(block)
        if length is None or first is None or first.start() != length.start():
            # A duplicate Content-Length keeps the first: what the client meant first.
            return FrameError(PARSE_ERROR, "missing or invalid Content-Length")
        return int(length.group(1))

    def _false_start(self) -> None:
        """The header name at the start led to no header block: skip past it."""
        match = _HEADER_START.match(self.buf)
        self._drop(match.end() if match else 1)

    async def _body(self, length: int) -> Message | FrameError | None:
        if length > MAX_MESSAGE_BYTES:
            self._skip = length  # skipped on the next call, once the error is answered
            return FrameError(INVALID_REQUEST, f"message of {length} bytes is too large")
        tried = -1
        while len(self.buf) < length:
            # A client whose length overstates its body may send nothing more until it is
            # answered: after a pause, a complete JSON value is taken as the message.
            if await self._fill(RECOVERY_WAIT_S if tried < len(self.buf) else None):
                continue
            tried = len(self.buf)
            value = _leading_value(self.buf)
            if value is not None and _only_header_bytes(self.buf[value[1] :]):
                del self.buf[: value[1]]
                return Message(value[0])
            if self.eof:
                log.info("input ended inside a message body")
                self.buf.clear()
                return None
        body = bytes(self.buf[:length])
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return await self._recover(length)
        del self.buf[:length]
        return Message(data)

    async def _recover(self, length: int) -> Message | FrameError:
        """The body at the buffer's start is not JSON as framed: find the message anyway."""
        # Overstated: a whole value, then the first bytes of the next header.
        value = _leading_value(self.buf[:length])
        if value is not None and _only_header_bytes(self.buf[value[1] : length]):
            del self.buf[: value[1]]
            return Message(value[0])
        # Understated: the value runs on past the claimed length, up to the next header.
        while True:
            value = _leading_value(self.buf)
            if value is not None and value[1] > length:
                del self.buf[: value[1]]
                return Message(value[0])
            header = _HEADER_START.search(self.buf, length)
            if header is not None and _HEADER_BLOCK.match(self.buf, header.start()):
                del self.buf[: header.start()]
                return FrameError(PARSE_ERROR, "invalid JSON in a message body")
            if not await self._fill(RECOVERY_WAIT_S):
                del self.buf[:length]
                return FrameError(PARSE_ERROR, "invalid JSON in a message body")

    async def _discard(self, length: int) -> None:
        """Skip a body without holding it."""
        while length > 0:
            if not self.buf and not await self._fill():
                return
            n = min(length, len(self.buf))
            del self.buf[:n]
            length -= n


def _leading_value(data: bytes | bytearray) -> tuple[Any, int] | None:
    """The JSON value at the start of `data` and where it ends, if it is whole."""
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as error:
        text = bytes(data[: error.start]).decode("utf-8")
    stripped = len(text) - len(text.lstrip())
    try:
        value, end = _DECODER.raw_decode(text, stripped)
    except ValueError:
        return None
    return value, len(text[:end].encode("utf-8"))


def _only_header_bytes(rest: bytes | bytearray) -> bool:
    """Whether `rest` is blank or the beginning of a header block (what an overstated
    length swallows), rather than more of a damaged body."""
    rest = bytes(rest).strip().lower()
    return not rest or any(
        rest.startswith(name) or name.startswith(rest)
        for name in (b"content-length:", b"content-type:")
    )


def _error(protocol: Dispatcher, msg_id: Any, code: int, message: str) -> None:
    # A plain dict: the lsprotocol converter would drop `"id": null`, which JSON-RPC requires
    # when the request's id could not be read.
    error = {"code": code, "message": message}
    protocol.send_payload({"jsonrpc": "2.0", "id": msg_id, "error": error})


def dispatch(protocol: Dispatcher, body: bytes) -> None:
    """Decode one message body and hand it to the protocol, answering what it cannot."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        _error(protocol, None, PARSE_ERROR, f"invalid JSON: {error}")
        return
    dispatch_value(protocol, data)


def dispatch_value(protocol: Dispatcher, data: Any) -> None:
    """Hand a decoded JSON value to the protocol, answering what it cannot."""
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
    stop_event: threading.Event, source: ByteSource, protocol: Dispatcher
) -> None:
    frames = FrameReader(source)
    while not stop_event.is_set():
        item = await frames.next()
        if item is None:
            break
        if isinstance(item, FrameError):
            _error(protocol, None, item.code, item.message)
            continue
        dispatch_value(protocol, item.data)
        await asyncio.sleep(0)  # let handlers scheduled by this message start


class StdinReader:
    """stdin read on a worker thread, whatever is available at a time."""

    def __init__(self, stdin: Any, executor: Any = None) -> None:
        self.stdin = stdin
        # read1 returns what the pipe holds instead of waiting for a full chunk.
        self._read = getattr(stdin, "read1", stdin.read)
        self.executor = executor

    async def read_some(self) -> bytes:
        loop = asyncio.get_running_loop()
        data: bytes = await loop.run_in_executor(self.executor, self._read, _CHUNK)
        return data


class StreamAdapter:
    """An asyncio StreamReader (TCP) as a byte source."""

    def __init__(self, reader: asyncio.StreamReader) -> None:
        self.reader = reader

    async def read_some(self) -> bytes:
        try:
            return await self.reader.read(_CHUNK)
        except ConnectionError:  # a write to a client that hung up broke the stream: the end
            return b""

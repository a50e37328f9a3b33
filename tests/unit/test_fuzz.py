"""Fuzzing (issue 8): the JSON-RPC reader and dispatcher, and the context builder.

Hypothesis with a fixed example budget per property (CI-sized; raise FUZZ_EXAMPLES for a
longer run). Every input tried is counted in FUZZ_COUNTS and printed at session end.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cl_lsp import transport
from cl_lsp.transport import dispatch, read_messages

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
FUZZ_COUNTS: Counter[str] = Counter()
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=os.environ.get("FUZZ_RANDOM") is None,
)


# --------------------------------------------------------------------------- the reader


class MemoryReader:
    """A byte source over bytes, handing them out in chunks of the given sizes (cycled):
    headers and bodies split across reads as a pipe may split them."""

    def __init__(self, data: bytes, chunks: tuple[int, ...] = (transport._CHUNK,)) -> None:
        self.data = data
        self.pos = 0
        self.chunks = chunks
        self.reads = 0
        self.largest_read = 0

    async def read_some(self) -> bytes:
        size = max(1, self.chunks[self.reads % len(self.chunks)])
        self.reads += 1
        chunk = self.data[self.pos : self.pos + size]
        self.pos += len(chunk)
        self.largest_read = max(self.largest_read, len(chunk))
        return chunk


class Recorder:
    """A Dispatcher that records what reaches the protocol and what is answered."""

    def __init__(self) -> None:
        self.handled: list[dict[str, Any]] = []
        self.sent: list[dict[str, Any]] = []

    def structure_message(self, data: dict[str, Any]) -> Any:
        if data.get("method") == "bad/params":
            from pygls.exceptions import JsonRpcInvalidParams

            raise JsonRpcInvalidParams("bad params")
        return data

    def handle_message(self, message: Any) -> None:
        if message.get("method") == "handler/raises":
            raise RuntimeError("boom")
        self.handled.append(message)

    def send_payload(self, data: Any) -> None:
        json.dumps(data)  # what we send must be serializable
        self.sent.append(data)


def frame(body: bytes, headers: bytes | None = None) -> bytes:
    return (headers or b"Content-Length: %d\r\n" % len(body)) + b"\r\n" + body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
methods = st.sampled_from(
    ["initialize", "shutdown", "textDocument/inlineCompletion", "bad/params", "handler/raises",
     "$/cancelRequest", "$/bogus", "x"]
)  # fmt: skip
garbage_line = st.binary(max_size=40).filter(
    lambda b: b"content-length" not in b.lower() and b"\n" not in b and b"\r" not in b
)


@st.composite
def segments(draw: st.DrawFn, valid_id: int) -> tuple[bytes, str | None]:
    """One piece of the stream, and the id of the valid request it carries (if any)."""
    kind = draw(st.sampled_from(["valid", "valid", "json", "bytes", "garbage", "badlen", "dup"]))
    if kind == "valid":
        msg_id = f"valid-{valid_id}"
        params = draw(json_values)
        body = json.dumps(
            {"jsonrpc": "2.0", "id": msg_id, "method": draw(methods), "params": params}
        )
        return frame(body.encode()), msg_id
    if kind == "json":
        body = json.dumps(draw(json_values)).encode()
        return frame(body.replace(b"valid-", b"v-")), None
    if kind == "bytes":
        return frame(draw(st.binary(max_size=64)).replace(b"valid-", b"v-")), None
    if kind == "garbage":  # header-ish lines, then a blank line: a block with no length
        lines = draw(st.lists(garbage_line, min_size=1, max_size=3))
        return b"".join(line + b"\r\n" for line in lines) + b"\r\n", None
    if kind == "badlen":
        value = draw(st.sampled_from([b"-5", b"abc", b"", b"1e3", b"0x10", b" 12 "]))
        if value == b" 12 ":  # a valid length with spaces: followed by 12 bytes
            return b"Content-Length:" + value + b"\r\n\r\n" + b"{}          ", None
        return b"Content-Length: " + value + b"\r\n\r\n", None
    # Duplicate Content-Length: the first counts.
    body = b'{"jsonrpc": "2.0", "method": "dup/note"}'
    return b"Content-Length: %d\r\nContent-Length: 3\r\n\r\n" % len(body) + body, None


@st.composite
def streams(draw: st.DrawFn) -> tuple[bytes, list[str]]:
    n = draw(st.integers(0, 12))
    data, ids = b"", []
    for i in range(n):
        piece, msg_id = draw(segments(i))
        data += piece
        if msg_id is not None:
            ids.append(msg_id)
    return data, ids


@FUZZ
@given(streams())
def test_reader_answers_every_framed_request_exactly_once(case: tuple[bytes, list[str]]) -> None:
    FUZZ_COUNTS["reader streams"] += 1
    data, ids = case
    recorder = Recorder()
    asyncio.run(read_messages(threading.Event(), MemoryReader(data), recorder))
    outcomes: Counter[str] = Counter()
    for message in recorder.handled:
        if isinstance(message.get("id"), str) and message["id"].startswith("valid-"):
            outcomes[message["id"]] += 1
    for sent in recorder.sent:
        assert sent["jsonrpc"] == "2.0" and "error" in sent
        assert isinstance(sent["error"]["code"], int) and sent["error"]["message"]
        if isinstance(sent.get("id"), str) and sent["id"].startswith("valid-"):
            outcomes[sent["id"]] += 1
    assert outcomes == Counter(ids)


@FUZZ
@given(st.binary(max_size=2048), st.binary(max_size=256))
def test_reader_survives_arbitrary_bytes(prefix: bytes, tail: bytes) -> None:
    """Any bytes: no exception, no read beyond the size limit, and a valid request sent
    after a resync point (a complete garbage frame, then a blank line) is still served."""
    FUZZ_COUNTS["reader raw bytes"] += 1
    recorder = Recorder()
    reader = MemoryReader(prefix + tail)
    asyncio.run(read_messages(threading.Event(), reader, recorder))
    assert reader.largest_read <= transport._CHUNK or reader.largest_read <= len(prefix + tail)
    # After any junk that ends in a complete frame, a good request still works.
    recorder = Recorder()
    good = frame(b'{"jsonrpc": "2.0", "id": "after", "method": "x"}')
    junk = frame(prefix.replace(b"\n", b" "))
    asyncio.run(read_messages(threading.Event(), MemoryReader(junk + good), recorder))
    assert [m.get("id") for m in recorder.handled][-1:] == ["after"]


MUTATIONS = ["over", "under", "chars", "no_cr", "garbage", "lf_garbage", "type_first"]
texts = st.text(
    st.sampled_from(list("abc xyz(){}:\"\\\n\t") + ["é", "😀", "中", "\u0301"]), max_size=30
)


def _mutate(draw: st.DrawFn, mutation: str, body: bytes) -> bytes:
    """One frame damaged the way a buggy client or a broken pipe damages it."""
    if mutation == "over":
        return b"Content-Length: %d\r\n\r\n" % (len(body) + draw(st.integers(1, 300))) + body
    if mutation == "under":
        cut = draw(st.integers(1, len(body) - 1))
        return b"Content-Length: %d\r\n\r\n" % (len(body) - cut) + body
    if mutation == "chars":  # counted in characters, not UTF-8 bytes
        return b"Content-Length: %d\r\n\r\n" % len(body.decode()) + body
    if mutation == "no_cr":
        return b"Content-Length: %d\n\n" % len(body) + body
    if mutation == "type_first":
        kind = b"Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n"
        return kind + b"Content-Length: %d\r\n\r\n" % len(body) + body
    junk = draw(st.binary(min_size=1, max_size=60))
    junk = junk.lower().replace(b"content-", b"c0ntent-")
    if mutation == "lf_garbage":  # line noise with line breaks of its own
        junk = junk.replace(b"\x00", b"\r\n")
    return junk + frame(body)


@st.composite
def damaged_streams(draw: st.DrawFn) -> tuple[bytes, list[str], str, tuple[int, ...]]:
    """Valid traffic with one damaged frame at a random place."""
    n = draw(st.integers(2, 8))
    damaged = draw(st.integers(0, n - 1))
    mutation = draw(st.sampled_from(MUTATIONS))
    data, ids = b"", []
    for i in range(n):
        msg_id = f"valid-{i}"
        body = json.dumps(
            {"jsonrpc": "2.0", "id": msg_id, "method": "x", "params": {"text": draw(texts)}},
            ensure_ascii=False,
        ).encode()
        if i == damaged:
            data += _mutate(draw, mutation, body)
        else:
            data += frame(body)
            ids.append(msg_id)
    chunks = tuple(draw(st.lists(st.integers(1, 200), min_size=1, max_size=5)))
    return data, ids, f"valid-{damaged}", chunks


@FUZZ
@given(damaged_streams())
def test_nothing_valid_is_lost_after_a_damaged_frame(
    case: tuple[bytes, list[str], str, tuple[int, ...]],
) -> None:
    """One damaged frame (length over or under, characters counted for bytes, no CR,
    garbage between frames), read in random chunk sizes: every other message is still
    handled exactly once, and the damaged one at most once."""
    data, ids, damaged, chunks = case
    FUZZ_COUNTS["damaged streams"] += 1
    recorder = Recorder()
    asyncio.run(read_messages(threading.Event(), MemoryReader(data, chunks), recorder))
    handled = Counter(m.get("id") for m in recorder.handled)
    lost = [i for i in ids if handled[i] != 1]
    FUZZ_COUNTS["lost messages"] += len(lost)
    assert not lost, f"lost or repeated {lost}"
    assert handled[damaged] <= 1
    assert set(handled) <= {*ids, damaged}


def test_oversized_length_is_skipped_in_chunks() -> None:
    size = transport.MAX_MESSAGE_BYTES + 1
    recorder = Recorder()
    reader = MemoryReader(b"Content-Length: %d\r\n\r\n" % size + b"x" * 1000)
    asyncio.run(read_messages(threading.Event(), reader, recorder))
    assert reader.largest_read <= transport._CHUNK
    assert recorder.sent[0]["error"]["code"] == transport.INVALID_REQUEST


# ----------------------------------------------------------------- the real protocol


class BytesWriter:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def write(self, data: bytes) -> None:
        body = data.split(b"\r\n\r\n", 1)[1]
        self.messages.append(json.loads(body))

    def close(self) -> None:
        pass


lsp_methods = st.sampled_from(
    ["initialize", "shutdown", "textDocument/inlineCompletion", "textDocument/completion",
     "textDocument/didOpen", "textDocument/didChange", "textDocument/didClose",
     "workspace/executeCommand", "workspace/didChangeConfiguration", "$/cancelRequest",
     "$/setTrace", "workspace/didChangeWatchedFiles", "initialized", "cl-lsp/bogus"]
)  # fmt: skip
ids = st.none() | st.integers(-(2**70), 2**70) | st.text(max_size=6) | json_values
message_dicts = st.fixed_dictionaries(
    {"jsonrpc": st.just("2.0"), "method": lsp_methods},
    optional={"id": ids, "params": json_values, "result": json_values, "error": json_values},
)


@pytest.fixture(scope="module")
def live_protocol() -> Any:
    from cl_lsp.config import Settings
    from cl_lsp.server import create_server
    from tests.e2e.fake_server import FakeEngine

    server = create_server(Settings(), load_engine=lambda settings: FakeEngine("echo"))
    writer = BytesWriter()
    server.protocol.set_writer(writer)
    loop = asyncio.new_event_loop()
    init = {"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {"capabilities": {}}}
    loop.run_until_complete(_dispatch_all(server.protocol, [json.dumps(init).encode()]))
    yield server, writer, loop
    server.stop()
    loop.close()


async def _dispatch_all(protocol: Any, bodies: list[bytes]) -> None:
    for body in bodies:
        dispatch(protocol, body)
        await asyncio.sleep(0)
    for _ in range(5):  # let async handlers finish
        await asyncio.sleep(0.001)


@FUZZ
@given(st.lists(message_dicts, min_size=1, max_size=6))
def test_real_protocol_dispatch_never_raises(
    live_protocol: Any, messages: list[dict[str, Any]]
) -> None:
    """Random JSON-RPC-shaped messages through the real pygls protocol and our handlers:
    dispatch must never raise (an exception here would end the read loop: the server)."""
    FUZZ_COUNTS["protocol messages"] += len(messages)
    server, writer, loop = live_protocol
    messages = [m for m in messages if m["method"] not in ("shutdown", "exit")]
    bodies = [json.dumps(m).encode() for m in messages]
    loop.run_until_complete(_dispatch_all(server.protocol, bodies))
    for sent in writer.messages:
        assert sent.get("jsonrpc") == "2.0"
    writer.messages.clear()


# -------------------------------------------------------------------- the context builder

SOURCES = {
    "pkg/__init__.py": "",
    "pkg/geometry.py": (
        "import math\n\n\nclass Circle:\n    def __init__(self, r):\n        self.r = r\n\n"
        "    def area(self):\n        return math.pi * self.r ** 2\n\n\n"
        "def distance(a, b):\n    return math.hypot(a[0] - b[0], a[1] - b[1])\n"
    ),
    "pkg/io.py": "from pkg.geometry import Circle\n\n\ndef load(path):\n    return [Circle(1)]\n",
    "web/app.js": "export function render(node, props) {\n  return node.mount(props);\n}\n",
    ".env": "TOKEN=canary_fuzz_env\n",
}


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from cl_lsp.core.index import RepositoryIndex

    root = tmp_path_factory.mktemp("fuzzws")
    for rel, text in SOURCES.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    index = RepositoryIndex(root, None)
    index.scan()
    yield index
    index.close()


doc_text = st.lists(
    st.sampled_from(list("abcdefxyz_ ().:,=\n\t\"'#[]{}") + ["import ", "from ",
    "pkg.geometry", "Circle", "distance(", "def ", "class ", "return ", "😀", "é", "\r\n",
    "\u0301", "canary_", "    "]),
    max_size=80,
).map("".join)  # fmt: skip


@FUZZ
@given(
    text=doc_text,
    where=st.floats(0, 1),
    budget=st.integers(-5, 600),
    language=st.sampled_from(["python", "javascript", "", "nonsense"]),
    rel_path=st.sampled_from(["main.py", "pkg/geometry.py", "web/x.js", ".env", "../out.py"]),
    others=st.dictionaries(st.sampled_from(["a.py", ".env", "pkg/io.py"]), doc_text, max_size=2),
    edits=st.lists(st.tuples(st.sampled_from(["a.py", ".env"]), doc_text), max_size=3),
)
def test_context_builder_within_budget(
    small_index: Any,
    text: str,
    where: float,
    budget: int,
    language: str,
    rel_path: str,
    others: dict[str, str],
    edits: list[tuple[str, str]],
) -> None:
    from cl_lsp.core.retrieval import ContextRequest, build_context

    FUZZ_COUNTS["context requests"] += 1
    offset = int(len(text) * where)

    def count(piece: str) -> int:
        return len(piece.encode()) // 3 + 1

    window = build_context(
        ContextRequest(
            rel_path=rel_path,
            language=language,
            text=text,
            offset=offset,
            budget_tokens=budget,
            recent_edits=edits,
            open_documents=others,
        ),
        small_index,
        count,
    )
    assert window.tokens <= max(0, budget)
    assert window.text == "" or window.text.endswith("\n")
    assert "canary_fuzz_env" not in window.text
    for piece in window.pieces:
        assert piece.source_path != rel_path and piece.source_path != ".env"


def test_zz_report_fuzz_counts(capsys: pytest.CaptureFixture[str]) -> None:
    """Prints the counts (run with -s); the session's totals are what the report quotes."""
    with capsys.disabled():
        print(f"\nfuzz inputs tried: {dict(FUZZ_COUNTS)}")
    results = (
        Path(os.environ.get("FUZZ_COUNTS_FILE", "")) if os.environ.get("FUZZ_COUNTS_FILE") else None
    )
    if results is not None:
        results.write_text(json.dumps(dict(FUZZ_COUNTS)))

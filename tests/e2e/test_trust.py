"""Trust (issue 11): every path to a model goes through the prompt gate; useful while the
model loads; the server's own log does not feed the file watcher.

The canary workspace is the independent check's: a `.gitignore`d `private_notes.py` and a
`config.py` holding an AWS access key id, both open and edited in the editor. Each path
that can prompt a model is tried on them (inline completion, warm-up on open and edit,
docstring action and its resolve, a forged resolve, fix-its for another server's
diagnostic, showContext, open buffers and recent edits as context of another file), with
the local engine (every prompt captured by CL_LSP_PROMPT_LOG) and with the remote backend
against a local OpenAI-compatible stand-in that records every request body.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.asyncrpc import AsyncRaw, position_of

PRIVATE = """def private_helper(x):
    return x * 2 + len("CANARY_IGNORED_7f3a")


def other(y):
    return y
"""
CONFIG = """AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7CANARY1"


def region_for(name):
    return "CANARY_CONFIG_c0c0" + name
"""
APP = """from lib.util import normalize


def fetch(session, url):
    return session.get(normalize(url))


def main():
    result = fetch(None, "https://example.invalid")
"""
UTIL = "def normalize(url):\n    return url.strip().rstrip('/')\n"
CANARIES = ("CANARY_IGNORED_7f3a", "AKIAIOSFODNN7CANARY1", "CANARY_CONFIG_c0c0", "IOSFODNN7")
CODE_ACTION_CAPS = {
    "codeActionLiteralSupport": {
        "codeActionKind": {"valueSet": ["quickfix", "refactor", "source"]}
    },
    "resolveSupport": {"properties": ["edit"]},
    "disabledSupport": True,
    "dataSupport": True,
}


class RecordingEndpoint:
    """An OpenAI-compatible completion server on 127.0.0.1 that records what it receives
    and answers every completion with a short streamed text."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                data = json.dumps({"data": [{"id": "stand-in"}]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorder.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for piece, finish in (("value", None), (" = 1", "stop")):
                    event = {"choices": [{"text": piece, "finish_reason": finish}]}
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint() -> Iterator[RecordingEndpoint]:
    recording = RecordingEndpoint()
    yield recording
    recording.close()


def workspace(root: Path) -> dict[str, str]:
    files = {
        ".gitignore": "private_notes.py\n",
        "private_notes.py": PRIVATE,
        "config.py": CONFIG,
        "app.py": APP,
        "lib/__init__.py": "",
        "lib/util.py": UTIL,
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return files


async def initialize(server: AsyncRaw, root: Path, options: dict[str, Any]) -> None:
    await server.request(
        "initialize",
        {
            "processId": None,
            "rootUri": root.as_uri(),
            "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
            "capabilities": {
                "general": {"positionEncodings": ["utf-16"]},
                "textDocument": {
                    "synchronization": {},
                    "inlineCompletion": {},
                    "codeAction": CODE_ACTION_CAPS,
                },
            },
            "initializationOptions": options,
        },
    )
    await server.notify("initialized", {})


def inline(uri: str, position: dict[str, int], trigger: int = 1) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": trigger}}


def code_action(uri: str, line: int, diagnostics: list[dict[str, Any]]) -> dict[str, Any]:
    where = {"start": {"line": line, "character": 4}, "end": {"line": line, "character": 4}}
    return {"textDocument": {"uri": uri}, "range": where, "context": {"diagnostics": diagnostics}}


def foreign_diagnostic(line: int) -> dict[str, Any]:
    where = {"start": {"line": line, "character": 4}, "end": {"line": line, "character": 10}}
    return {"range": where, "message": "Undefined name", "source": "pyright", "severity": 1}


async def exercise_every_path(server: AsyncRaw, root: Path, files: dict[str, str]) -> None:
    """Open, edit and ask for everything in the refused files, then work in app.py."""
    refused = {rel: (root / rel).as_uri() for rel in ("private_notes.py", "config.py")}
    for rel, uri in refused.items():
        text = files[rel]
        await server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )
        # An edit: a recent-edit context source, and a warm-up at the cursor.
        end = position_of(text, len(text))
        await server.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": 2},
                "contentChanges": [{"range": {"start": end, "end": end}, "text": "\n# more\n"}],
            },
        )
    await asyncio.sleep(0.6)  # past the warm-up delay: a warm-up would have prompted by now
    for rel, uri in refused.items():
        text = files[rel] + "\n# more\n"
        answer = await server.request(
            "textDocument/inlineCompletion", inline(uri, position_of(text, 20))
        )
        assert answer["result"]["items"] == [], (rel, answer)
        for diagnostics in ([], [foreign_diagnostic(1)]):
            actions = (
                await server.request("textDocument/codeAction", code_action(uri, 1, diagnostics))
            )["result"] or []
            assert all(a.get("disabled") for a in actions), (rel, actions)
            assert all("edit" not in a for a in actions)
        # A forged (or stale) resolve for the refused file computes nothing.
        forged = {
            "title": "Generate docstring",
            "kind": "refactor.rewrite",
            "data": {
                "uri": uri,
                "version": 2,
                "action": "docstring",
                "name": "region_for",
                "line": 3,
            },
        }
        resolved = (await server.request("codeAction/resolve", forged))["result"]
        assert not resolved.get("edit"), resolved
        shown = await server.command("cl-lsp.showContext", uri, {"line": 1, "character": 4})
        assert shown.startswith("no context"), shown
    # The ordinary file: completions and a docstring, with the refused files open and
    # recently edited (context sources that must not carry them in).
    app = (root / "app.py").as_uri()
    await server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": app, "languageId": "python", "version": 1, "text": APP}},
    )
    for offset in (len(APP), APP.index("return") + 7):
        await server.request("textDocument/inlineCompletion", inline(app, position_of(APP, offset)))
    actions = (await server.request("textDocument/codeAction", code_action(app, 3, [])))["result"]
    docstring = next(a for a in actions if a["kind"] == "refactor.rewrite")
    await server.request("codeAction/resolve", docstring, timeout=120)


async def test_no_canary_reaches_the_local_model(tmp_path: Path, tiny_model: Path) -> None:
    root = tmp_path / "ws"
    files = workspace(root)
    log = tmp_path / "prompts.jsonl"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "CL_LSP_PROMPT_LOG": str(log)}
    server = await AsyncRaw.start("--model", str(tiny_model), env=env)
    try:
        options = {"completion": {"maxTokens": 8, "maxBlockTokens": 8}, "model": {"nCtx": 2048}}
        await initialize(server, root, options)
        assert (await server.wait_ready())["state"] == "ready"
        await exercise_every_path(server, root, files)
    finally:
        await server.close()
    prompts = log.read_text(encoding="utf-8")
    assert "def fetch(session, url)" in prompts  # prompts were captured: the check can fail
    for canary in CANARIES:
        assert canary not in prompts


async def test_no_canary_leaves_the_machine_with_the_remote_backend(
    tmp_path: Path, tiny_model: Path, endpoint: RecordingEndpoint
) -> None:
    from cl_lsp.engine.vocab import LocalVocab

    root = tmp_path / "ws"
    files = workspace(root)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    server = await AsyncRaw.start(env=env)
    try:
        options = {
            "completion": {"maxTokens": 8, "maxBlockTokens": 8},
            # model.path: the served model's vocabulary for local tokenizing
            "model": {"backend": "remote", "endpoint": endpoint.url, "path": str(tiny_model)},
        }
        await initialize(server, root, options)
        assert (await server.wait_ready())["state"] == "ready"
        await exercise_every_path(server, root, files)
    finally:
        await server.close()
    vocab = LocalVocab(tiny_model)
    try:
        sent = [
            b["prompt"] if isinstance(b["prompt"], str) else vocab.detokenize(b["prompt"])
            for b in endpoint.bodies
        ]
    finally:
        vocab.close()
    assert any("def fetch(session, url)" in s for s in sent)  # it did send the app's text
    for canary in CANARIES:
        assert not any(canary in s for s in sent)


async def test_useful_from_the_first_second(tmp_path: Path, smollm: Path) -> None:
    """With the embedded model and default settings: a completion asked for right after
    initialize waits for the load and answers; the code-action menu offers the docstring
    action at once, and its resolve waits for the model."""
    root = tmp_path / "ws"
    root.mkdir()
    text = "import os\n\n\ndef read_text(path):\n    with open(path) as handle:\n        return "
    uri = (root / "reader.py").as_uri()
    (root / "reader.py").write_text(text)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    server = await AsyncRaw.start(env=env)
    try:
        await initialize(server, root, {})
        await server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
        )
        status = await server.command("cl-lsp.status")
        asked_while = status["state"]
        actions = (await server.request("textDocument/codeAction", code_action(uri, 3, [])))[
            "result"
        ]
        # An automatic request (as typing sends): it waits for the load too.
        automatic = inline(uri, position_of(text, len(text)), trigger=2)
        answer = await server.request("textDocument/inlineCompletion", automatic, timeout=120)
        assert answer["result"]["items"], answer
        assert answer["result"]["items"][0]["insertText"].strip()
        docstring = next(a for a in actions if a["kind"] == "refactor.rewrite")
        resolved = (await server.request("codeAction/resolve", docstring, timeout=120))["result"]
        assert resolved.get("edit"), resolved
    finally:
        await server.close()
    # The check is meaningful only when the request really came while loading.
    assert asked_while == "loading"


async def test_a_log_file_in_the_workspace_stays_quiet(tmp_path: Path, tiny_model: Path) -> None:
    root = tmp_path / "ws"
    workspace(root)
    log = root / "server.log"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    server = await AsyncRaw.start(
        "--model", str(tiny_model), "--log-file", str(log), "-vv", env=env
    )
    try:
        await initialize(server, root, {})
        assert (await server.wait_ready())["state"] == "ready"
        await asyncio.sleep(1.0)  # let the watcher see whatever it sees
        before = log.stat().st_size
        await asyncio.sleep(2.0)
        grown = log.stat().st_size - before
    finally:
        await server.close()
    lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    assert not [line for line in lines if "server.log" in line][:5]
    assert grown < 2000, f"the log grew by {grown} bytes in 2 s of silence"

"""The remote engine against llama-cpp-python's own OpenAI-compatible server (started here
on 127.0.0.1 with the tiny model) and, for what a real server cannot do on cue (stream
until cancelled, refuse a key), against a small fake."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cl_lsp.config import ModelSettings, Settings
from cl_lsp.engine.base import Cancelled, EngineError, GenerationRequest
from cl_lsp.engine.loader import load_engine
from cl_lsp.engine.remote import RemoteEngine, connect_remote
from cl_lsp.service import CompletionRequest, CompletionService

SOURCE = "def add(a, b):\n    return a\n\nprint(add(1, 2))\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """`python -m llama_cpp.server` on a free port; waits until /v1/models answers."""

    def __init__(self, model: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(model),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                "2048",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(1200):  # polls until ready or the process died; not a timed assertion
            if self.process.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/v1/models", timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("llama_cpp.server did not start")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def start_llama_server(model: Path, log: Path) -> LlamaServer:
    pytest.importorskip("fastapi")
    pytest.importorskip("sse_starlette")
    pytest.importorskip("uvicorn")
    pytest.importorskip("pydantic_settings")
    pytest.importorskip("starlette_context")
    return LlamaServer(model, log)


@pytest.fixture(scope="module")
def llama_server(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = start_llama_server(tiny_model, tmp_path_factory.mktemp("srv") / "server.log")
    yield server.url
    server.close()


def remote_settings(url: str, **model: object) -> Settings:
    settings = Settings()
    settings.model = ModelSettings(backend="remote", endpoint=url, n_ctx=2048, **model)  # type: ignore[arg-type]
    settings.completion.max_tokens = 12
    # The end of a complete statement is a CONTINUATION (lines below may follow): a block.
    settings.completion.max_block_tokens = 12
    return settings


def test_completion_through_llama_cpp_python_server(llama_server: str, tiny_model: Path) -> None:
    settings = remote_settings(llama_server, path=str(tiny_model))
    engine, info = load_engine(settings.model)
    assert isinstance(engine, RemoteEngine) and info is not None
    try:
        assert engine.spec.fim is not None and engine.spec.fim.family == "codellama"
        assert "remote" in engine.description and engine.n_ctx == 2048
        service = CompletionService(engine, settings, None)
        request = CompletionRequest(SOURCE, 27, "app.py", "python")
        completion = service.complete(request)
        result = completion.result
        assert result is not None and result.prompt_tokens == len(completion.plan.prompt.ids)  # type: ignore[union-attr]
        assert result.stop_reason in ("max_tokens", "stop_token", "complete")
        assert 0 < len(result.tokens) <= 12
        # llama-cpp-python 0.3.x refuses token-id prompts: the engine switched to text once.
        assert engine.send_ids is False
        second = service.complete(CompletionRequest(SOURCE, 27, "app.py", "python"))
        assert second.raw == completion.raw  # greedy: the same prompt, the same text
        assert engine.stats.requests == 2
    finally:
        engine.close()


def test_text_prompts_tokenize_back_to_the_ids(llama_server: str, tiny_model: Path) -> None:
    """The text sent instead of ids re-tokenizes to the same ids on the server, except the
    one space token llama.cpp puts after <SUF> (documented in remote.py)."""
    engine, _ = connect_remote(remote_settings(llama_server, path=str(tiny_model)).model)
    try:
        service = CompletionService(engine, remote_settings(llama_server), None)
        for text, offset, extra in ((SOURCE, 27, 1), ("import os\nx = os.pa", 19, 0)):
            ids = service.plan(CompletionRequest(text, offset, "a.py", "python")).prompt.ids  # type: ignore[union-attr]
            body = json.dumps({"input": engine.render(ids)}).encode()
            post = urllib.request.Request(
                llama_server + "/extras/tokenize", body, {"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(post) as response:
                back = json.load(response)["tokens"]
            suf = engine.spec.fim.suffix  # type: ignore[union-attr]
            if extra:
                at = back.index(suf) + 1
                back = back[:at] + back[at + 1 :]
            assert back == ids
    finally:
        engine.close()


def test_server_tokenizer_when_no_local_vocab(llama_server: str) -> None:
    engine, info = connect_remote(remote_settings(llama_server).model)
    try:
        assert info is None and engine.spec.fim is None  # prefix only, said in the description
        assert "/extras/tokenize" in engine.description
        ids = engine.tokenize("def add(a, b):")
        assert ids and ids[0] != 1  # the server's BOS is stripped
        future = engine.submit(GenerationRequest(ids=[1, *ids], max_tokens=4))
        assert len(future.result().tokens) <= 4
    finally:
        engine.close()


def test_configuration_errors_are_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EngineError, match="model.endpoint is not set"):
        connect_remote(ModelSettings(backend="remote"))
    monkeypatch.delenv("CL_LSP_TEST_KEY", raising=False)
    with pytest.raises(EngineError, match="CL_LSP_TEST_KEY"):
        connect_remote(
            ModelSettings(backend="remote", endpoint="http://x", api_key_env="CL_LSP_TEST_KEY")
        )
    with pytest.raises(EngineError, match="Cannot reach"):
        connect_remote(ModelSettings(backend="remote", endpoint=f"http://127.0.0.1:{free_port()}"))
    with pytest.raises(EngineError, match="not an http"):
        connect_remote(ModelSettings(backend="remote", endpoint="ftp://host"))
    with pytest.raises(EngineError, match="Unknown model.backend"):
        load_engine(ModelSettings(backend="cloud"))


class FakeStream:
    """An OpenAI-style server: /v1/models, /tokenize (llama.cpp style) and a /v1/completions
    that streams one piece every 10 ms until the client goes away. Checks the API key."""

    def __init__(self, key: str | None = None) -> None:
        self.bodies: list[dict[str, object]] = []
        self.disconnected = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _json(self, status: int, value: object) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _authorized(self) -> bool:
                if key is None or self.headers.get("Authorization") == f"Bearer {key}":
                    return True
                self._json(401, {"error": "bad key"})
                return False

            def do_GET(self) -> None:  # noqa: N802
                if self._authorized():
                    self._json(200, {"data": [{"id": "fake-model"}]})

            def do_POST(self) -> None:  # noqa: N802
                if not self._authorized():
                    return
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path == "/tokenize":
                    assert body["parse_special"] is False and body["add_special"] is False
                    return self._json(200, {"tokens": [ord(c) for c in body["content"]]})
                fake.bodies.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                try:
                    for i in range(100_000):
                        event = {"choices": [{"text": f"x{i} ", "finish_reason": None}]}
                        self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                        self.wfile.flush()
                        time.sleep(0.01)
                except OSError:
                    fake.disconnected.set()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"  # /v1 is accepted
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_cancel_closes_the_stream(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeStream(key="sekrit")
    monkeypatch.setenv("CL_LSP_TEST_KEY", "sekrit")
    try:
        settings = ModelSettings(
            backend="remote", endpoint=fake.url, api_key_env="CL_LSP_TEST_KEY", remote_model="m"
        )
        engine, _ = connect_remote(settings)
        try:
            assert engine.tokenize("ab") == [97, 98]  # llama.cpp's /tokenize
            pieces: list[str] = []
            request = GenerationRequest(ids=[1, 2, 3], max_tokens=10_000)

            def stop_after_three(piece: str) -> bool:
                pieces.append(piece)
                if len(pieces) == 3:
                    request.cancel.set()
                return False

            request.should_stop = stop_after_three
            with pytest.raises(Cancelled):
                engine.submit(request).result()
            assert fake.disconnected.wait(30)  # the server saw the client go away
            body = fake.bodies[0]
            assert body["prompt"] == [1, 2, 3] and body["stream"] is True and body["model"] == "m"
            assert engine.stats.cancelled == 1
            # should_stop ends a stream too, and the engine keeps serving after a cancel.
            done = engine.submit(
                GenerationRequest(ids=[1], max_tokens=50, should_stop=lambda p: p == "x4 ")
            ).result()
            assert done.text == "x0 x1 x2 x3 x4 " and done.stop_reason == "complete"
        finally:
            engine.close()
        monkeypatch.setenv("CL_LSP_TEST_KEY", "wrong")
        with pytest.raises(EngineError, match="refused the API key"):
            connect_remote(settings)
    finally:
        fake.close()


def test_superseded_request_is_cancelled() -> None:
    fake = FakeStream()
    try:
        engine, _ = connect_remote(ModelSettings(backend="remote", endpoint=fake.url))
        try:
            started = threading.Event()
            first = engine.submit(
                GenerationRequest(
                    ids=[1],
                    max_tokens=10_000,
                    key="doc",
                    should_stop=lambda p: started.set() or False,
                )
            )
            assert started.wait(30)
            second = engine.submit(
                GenerationRequest(
                    ids=[2], max_tokens=3, key="doc", should_stop=lambda p: p == "x1 "
                )
            )
            with pytest.raises(Cancelled):
                first.result()
            assert second.result().text == "x0 x1 "
        finally:
            engine.close()
    finally:
        fake.close()


def test_time_limit_ends_the_stream_with_what_came() -> None:
    fake = FakeStream()
    try:
        engine, _ = connect_remote(ModelSettings(backend="remote", endpoint=fake.url))
        try:
            request = GenerationRequest(ids=[1], max_tokens=100_000, time_limit_s=0.3)
            result = engine.submit(request).result()
            assert result.stop_reason == "time_limit"
            assert result.text.startswith("x0 ") and len(result.tokens) == result.text.count(" ")
            warm = engine.submit(GenerationRequest(ids=[1, 2], max_tokens=0, warm=True)).result()
            assert warm.stop_reason == "warm" and len(fake.bodies) == 1  # no round trip
        finally:
            engine.close()
    finally:
        fake.close()

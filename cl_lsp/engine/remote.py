"""A remote engine: the same prompts, sent to an OpenAI-compatible completions server
(llama.cpp's llama-server, vLLM, llama-cpp-python's server) instead of an in-process Llama.

Tokens. Prompts are built as token ids exactly as for the local engine, so the server must
use the same vocabulary. The tokenizer comes from, best first:
  1. a local GGUF of the same model (`model.path`, or a downloaded `model.alias`): read
     with `llama_cpp.Llama(vocab_only=True)` (no weights loaded) plus our GGUF header
     reader for the FIM tokens, stop ids and trained context;
  2. the server: llama.cpp's `POST /tokenize` (no special parsing, no BOS) or
     llama-cpp-python's `POST /extras/tokenize` (which adds BOS: it is stripped). The FIM
     token ids are unknown then, so completions use the prefix only.

Prompt. `prompt` is sent as a list of token ids (llama-server and vLLM accept that). A
server that refuses it (llama-cpp-python 0.3.x validates `prompt` as a string; 400/422) gets
text from then on: the ids rendered back, FIM tokens as their vocabulary text, which the
server's tokenizer parses as special tokens again.

Streaming and cancellation. One worker thread sends one request at a time with
`stream: true` and reads the server-sent events; a watcher closes the socket as soon as
the request's cancel event is set (or its time limit passes), which stops the server's
generation too. Stop ids are sent as stop strings (their text in the vocabulary).
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import socket
import threading
import time
from concurrent.futures import Future
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cl_lsp.config import ModelSettings
from cl_lsp.core.prompt import PromptSpec
from cl_lsp.engine.base import (
    Cancelled,
    EngineError,
    EngineFacts,
    EngineStats,
    GenerationRequest,
    GenerationResult,
)
from cl_lsp.engine.gguf_info import ModelInfo
from cl_lsp.engine.job_queue import JobQueue
from cl_lsp.engine.session import inspect_model, prompt_spec
from cl_lsp.engine.vocab import LocalVocab

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 120.0  # a silent server; the request's own time limit is usually shorter


class RemoteError(EngineError):
    """The server answered with an error, or could not be reached."""


class _Http:
    """Minimal JSON-over-HTTP client for one base URL (no dependencies)."""

    def __init__(self, endpoint: str, api_key: str | None) -> None:
        parts = urlsplit(endpoint.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise EngineError(
                f"model.endpoint {endpoint!r} is not an http(s) URL.",
                'Set it to the server\'s base URL, e.g. "http://127.0.0.1:8080".',
            )
        self.https = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.https else 80)
        path = parts.path.rstrip("/")
        self.base = path[: -len("/v1")] if path.endswith("/v1") else path
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"
        self.url = f"{parts.scheme}://{parts.netloc}{self.base}"

    def connection(self, timeout: float) -> http.client.HTTPConnection:
        cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
        return cls(self.host, self.port, timeout=timeout)

    def request(
        self, method: str, path: str, body: Any = None, timeout: float = CONNECT_TIMEOUT_S
    ) -> tuple[int, Any]:
        conn = self.connection(timeout)
        try:
            data = None if body is None else json.dumps(body).encode()
            conn.request(method, self.base + path, body=data, headers=self.headers)
            response = conn.getresponse()
            raw = response.read()
            try:
                return response.status, json.loads(raw or b"null")
            except ValueError:
                return response.status, raw.decode("utf-8", "replace")
        finally:
            conn.close()


class RemoteEngine(EngineFacts):
    """The Engine protocol against an OpenAI-compatible `/v1/completions` endpoint."""

    def __init__(
        self,
        http: _Http,
        settings: ModelSettings,
        spec: PromptSpec,
        stop_ids: frozenset[int],
        n_ctx: int,
        vocab: LocalVocab | None,
        server_tokenize: str | None,
        description: str,
    ) -> None:
        self._http = http
        self._settings = settings
        self._spec = spec
        self._stop_ids = stop_ids
        self._n_ctx = n_ctx
        self._vocab = vocab
        self._server_tokenize = server_tokenize  # "/tokenize" | "/extras/tokenize" | None
        self._bos_from_server: int | None = None
        self._description = description
        self._stats = EngineStats()
        self.send_ids = True  # falls back to text when the server refuses ids
        self._stop_texts = self._stop_strings()
        self._queue = JobQueue(
            self._generate,
            self._stats,
            "cl-lsp-remote",
            lambda error: log.warning("remote generation failed: %s", error),
        )

    # -- the Engine protocol --------------------------------------------------------------
    @property
    def n_ctx(self) -> int:
        return self._n_ctx

    def tokenize(self, text: str) -> list[int]:
        if not text:
            return []
        if self._vocab is not None:
            return self._vocab.tokenize(text)
        return self._tokenize_on_server(text)

    def submit(self, request: GenerationRequest) -> Future[GenerationResult]:
        return self._queue.submit(request)

    def close(self) -> None:
        if self._queue.close() and self._vocab is not None:
            self._vocab.close()

    # -- tokens and text --------------------------------------------------------------------
    def _tokenize_on_server(self, text: str) -> list[int]:
        if self._server_tokenize == "/tokenize":
            body: dict[str, Any] = {"content": text, "add_special": False, "parse_special": False}
        else:
            body = {"input": text}
        status, data = self._http.request("POST", self._server_tokenize or "/tokenize", body)
        if status != 200 or not isinstance(data, dict) or not isinstance(data.get("tokens"), list):
            raise RemoteError(f"The server could not tokenize (HTTP {status}): {data!r:.200}")
        ids = [int(t) for t in data["tokens"]]
        if self._server_tokenize == "/extras/tokenize":  # adds BOS: drop it
            if self._bos_from_server is None:
                _, empty = self._http.request("POST", "/extras/tokenize", {"input": ""})
                tokens = empty.get("tokens") if isinstance(empty, dict) else None
                self._bos_from_server = int(tokens[0]) if tokens else -1
            if ids and ids[0] == self._bos_from_server:
                ids = ids[1:]
        return ids

    def _detokenize_on_server(self, ids: list[int]) -> str:
        if self._server_tokenize == "/tokenize":
            status, data = self._http.request("POST", "/detokenize", {"tokens": ids})
            key = "content"
        else:
            status, data = self._http.request("POST", "/extras/detokenize", {"tokens": ids})
            key = "text"
        if status != 200 or not isinstance(data, dict) or not isinstance(data.get(key), str):
            raise RemoteError(f"The server could not detokenize (HTTP {status}): {data!r:.200}")
        return str(data[key])

    def _stop_strings(self) -> list[str]:
        if self._vocab is None:
            return []
        texts: list[str] = []
        for token in sorted(self._stop_ids):
            raw = self._vocab.token_text(token)
            # As the server prints it: the raw text, or with SentencePiece's "▁" as a space.
            for text in (raw, raw.replace("\u2581", " ")):
                if text.strip() and text not in texts:
                    texts.append(text)
        return texts[:4]  # the OpenAI API allows four

    def render(self, ids: list[int]) -> str:
        """A text prompt for servers that take no ids: special ids as their vocab text."""
        if self._vocab is None:  # server tokenizer: prefix-only prompts, no special ids
            return self._detokenize_on_server(ids)
        special = set()
        if self._spec.fim is not None:
            fim = self._spec.fim
            special = {fim.prefix, fim.suffix, fim.middle}
        if self._spec.bos is not None and ids[:1] == [self._spec.bos]:
            ids = ids[1:]  # the server adds BOS itself when the model wants one
        vocab = self._vocab
        # Split into runs of ordinary tokens, each with the special token before it (or None).
        runs: list[tuple[int | None, list[int]]] = [(None, [])]
        for token in ids:
            if token in special:
                runs.append((token, []))
            else:
                runs[-1][1].append(token)
        parts: list[str] = []
        for lead, run in runs:
            if lead is not None:
                parts.append(vocab.token_text(lead))
            text = vocab.detokenize(run) if run else ""
            # llama.cpp's SentencePiece tokenizer puts a space in front of the text after
            # every special token: drop ours so it is not doubled. (A segment we encoded
            # without one, the infill suffix, still gains it: one extra token in text mode.)
            if lead is not None and self._spec.sentencepiece_space and text.startswith(" "):
                text = text[1:]
            parts.append(text)
        return "".join(parts)

    # -- generation (the queue's worker thread) ------------------------------------------
    def _body(self, request: GenerationRequest, ids: list[int]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "prompt": ids if self.send_ids else self.render(ids),
            "max_tokens": request.max_tokens,
            "temperature": 0.0,
            "stream": True,
        }
        if self._settings.remote_model:
            body["model"] = self._settings.remote_model
        extra = (
            [self._vocab.token_text(t) for t in request.stop_ids - self._stop_ids]
            if (self._vocab is not None)
            else []
        )
        stops = list(dict.fromkeys(self._stop_texts + [t for t in extra if t]))[:4]
        if stops:
            body["stop"] = stops
        return body

    def _generate(self, request: GenerationRequest) -> GenerationResult:
        if not request.ids:
            raise EngineError("Empty prompt.")
        if getattr(request, "warm", False) or request.max_tokens <= 0:
            # Warming the server's cache would cost a round trip per edit for little:
            # llama-server and vLLM keep the common prefix of the last prompt anyway.
            n = len(request.ids)
            return GenerationResult("", [], n, n, 0.0, 0.0, "warm")
        started = time.perf_counter()
        deadline = started + request.time_limit_s if request.time_limit_s else None
        response, conn, sock = self._open(request, deadline)
        first: float | None = None
        text, chunks, reason, reused = "", 0, "max_tokens", 0
        finished = threading.Event()
        timed_out = threading.Event()

        def watch() -> None:  # close the socket on cancel or timeout: unblocks the read
            while not finished.wait(0.02):
                late = deadline is not None and time.perf_counter() > deadline
                if request.cancel.is_set() or late:
                    if late:
                        timed_out.set()
                    _shutdown(sock)
                    return

        watcher = threading.Thread(target=watch, name="cl-lsp-remote-watch", daemon=True)
        watcher.start()
        try:
            for event in _events(response):
                choice = (event.get("choices") or [{}])[0]
                piece = choice.get("text") or ""
                timings = event.get("timings")
                if isinstance(timings, dict) and isinstance(timings.get("cache_n"), int):
                    reused = timings["cache_n"]
                if piece:
                    first = first or time.perf_counter()
                    chunks += 1
                    text += piece
                    if request.should_stop is not None and request.should_stop(piece):
                        reason = "complete"
                        break
                finish = choice.get("finish_reason")
                if finish:
                    reason = "max_tokens" if finish == "length" else "stop_token"
                    break
        except (OSError, http.client.HTTPException, ValueError) as error:
            if not (request.cancel.is_set() or timed_out.is_set()):
                raise RemoteError(f"The completion stream broke: {error}") from error
        finally:
            finished.set()
            response.close()
            conn.close()
        if request.cancel.is_set():
            raise Cancelled()
        if timed_out.is_set() and reason not in ("complete", "stop_token"):
            reason = "time_limit"
        end = time.perf_counter()
        first = first or end
        # Servers stream one token per event (a multi-byte character may wait for the next):
        # the count is right, the ids are not sent, so they are -1.
        tokens = [-1] * chunks
        return GenerationResult(
            text=text,
            tokens=tokens,
            prompt_tokens=len(request.ids),
            reused_tokens=min(reused, len(request.ids)),
            prefill_s=first - started,
            generate_s=end - first,
            stop_reason=reason,
        )

    def _open(
        self, request: GenerationRequest, deadline: float | None
    ) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection, socket.socket | None]:
        """POST the completion; on a refusal of token ids, retry once with text."""
        tried_text = False
        for _ in range(2):
            if request.cancel.is_set():
                raise Cancelled()
            conn = self._http.connection(READ_TIMEOUT_S)
            body = json.dumps(self._body(request, request.ids)).encode()
            headers = {**self._http.headers, "Accept": "text/event-stream"}
            try:
                conn.request("POST", self._http.base + "/v1/completions", body, headers)
                # getresponse() may hand the socket to the response and forget it (no
                # keep-alive): keep a reference for the watcher that closes it on cancel.
                sock = conn.sock
                response = conn.getresponse()
            except OSError as error:
                conn.close()
                raise RemoteError(f"Cannot reach {self._http.url}: {error}") from error
            if response.status == 200:
                return response, conn, sock
            detail = response.read()[:300].decode("utf-8", "replace")
            conn.close()
            # llama-cpp-python answers a refused `prompt` type with 500, others with 400/422.
            refused_ids = response.status in (400, 422, 500) and "prompt" in detail
            if refused_ids and self.send_ids and not tried_text:
                log.info("the server refuses token-id prompts (%d): trying text", response.status)
                self.send_ids, tried_text = False, True
                continue
            if tried_text:
                self.send_ids = True  # text failed too: the ids were not the problem
            raise RemoteError(f"The server answered HTTP {response.status}: {detail}")
        raise RemoteError("The server refused both token-id and text prompts.")


def _shutdown(sock: socket.socket | None) -> None:
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def _events(response: http.client.HTTPResponse):  # -> Iterator[dict]
    """Server-sent events of a streamed completion (`data: {...}` lines, `[DONE]` ends)."""
    while True:
        line = response.readline()
        if not line:
            return
        line = line.strip()
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            return
        event = json.loads(data)
        if isinstance(event, dict):
            if "error" in event:
                raise RemoteError(f"The server reported: {event['error']!r:.300}")
            yield event


# ---------------------------------------------------------------------------- connecting


def _local_model(settings: ModelSettings) -> Path | None:
    """A GGUF of the served model for its vocabulary: model.path, else a pulled alias."""
    if settings.path:
        return Path(settings.path).expanduser()
    if settings.alias:
        from cl_lsp.models import ModelStoreError, find_installed

        try:
            return find_installed(settings.alias)
        except ModelStoreError:
            return None
    return None


def connect_remote(settings: ModelSettings) -> tuple[RemoteEngine, ModelInfo | None]:
    """Check the server and the tokenizer; EngineError with a fix when either is missing."""
    if not settings.endpoint:
        raise EngineError(
            'model.backend is "remote" but model.endpoint is not set.',
            'Set model.endpoint to the server\'s base URL, e.g. "http://127.0.0.1:8080".',
        )
    api_key = None
    if settings.api_key_env:
        api_key = os.environ.get(settings.api_key_env)
        if not api_key:
            raise EngineError(
                f"model.api_key_env names ${settings.api_key_env}, which is not set.",
                f"Export {settings.api_key_env}=<key> in the environment that starts cl-lsp.",
            )
    http = _Http(settings.endpoint, api_key)
    try:
        status, models = http.request("GET", "/v1/models")
    except OSError as error:
        raise EngineError(
            f"Cannot reach the completion server at {http.url}: {error}.",
            "Start the server, or fix model.endpoint.",
        ) from error
    if status in (401, 403):
        raise EngineError(
            f"The server at {http.url} refused the API key (HTTP {status}).",
            "Set model.api_key_env to the name of a variable holding a valid key.",
        )
    served = ""
    if isinstance(models, dict) and isinstance(models.get("data"), list) and models["data"]:
        served = str(models["data"][0].get("id", ""))

    info: ModelInfo | None = None
    vocab: LocalVocab | None = None
    server_tokenize: str | None = None
    local = _local_model(settings)
    if local is not None:
        info = inspect_model(local)
        spec = prompt_spec(info)
        vocab = LocalVocab(local)
        stop_ids = frozenset(info.stop_ids)
        trained = info.context_length
        source = f"vocab from {local.name}"
    else:
        for path, body in (
            ("/tokenize", {"content": "a", "add_special": False, "parse_special": False}),
            ("/extras/tokenize", {"input": "a"}),
        ):
            try:
                code, data = http.request("POST", path, body)
            except OSError:
                continue
            if code == 200 and isinstance(data, dict) and isinstance(data.get("tokens"), list):
                server_tokenize = path
                break
        if server_tokenize is None:
            raise EngineError(
                f"The server at {http.url} offers no tokenizer endpoint and no local GGUF "
                "of its model is configured.",
                "Set model.path (or model.alias) to a GGUF of the served model: only its "
                "vocabulary is read.",
            )
        spec = PromptSpec(fim=None, bos=None, sentencepiece_space=False)
        stop_ids = frozenset()
        trained = None
        source = f"server tokenizer {server_tokenize}, prefix only"
    n_ctx = settings.n_ctx or min(trained or 4096, settings.max_ctx)
    name = settings.remote_model or served or "model"
    description = f"{name} at {http.url} [remote, {source}]"
    engine = RemoteEngine(
        http, settings, spec, stop_ids, n_ctx, vocab, server_tokenize, description
    )
    log.info("remote engine: %s", description)
    return engine, info

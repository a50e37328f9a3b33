"""Model aliases, the model store and `pull` against a fake Hugging Face Hub on 127.0.0.1."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cl_lsp import models
from cl_lsp.config import ModelSettings
from cl_lsp.engine.base import EngineError
from cl_lsp.engine.loader import resolve_model
from cl_lsp.models import ModelStoreError, Target, parse_target

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    """Serves `/{org}/{repo}/resolve/{revision}/{file}` the way the hub does for LFS files:
    HEAD and GET with X-Repo-Commit, ETag, X-Linked-Etag (sha256) and X-Linked-Size; Range.

    `files` maps "org/repo/file" to bytes; `lie_sha` makes the hub advertise a wrong sha256;
    `cut_after` makes every GET stop after that many bytes (a dropped connection)."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Range
        self.lie_sha = False
        self.cut_after: int | None = None
        self.cuts_left = 1_000_000
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _file(self) -> tuple[bytes, str] | None:
                hub.requests.append((self.command, self.path, self.headers.get("Range")))
                parts = self.path.split("?")[0].strip("/").split("/")
                if len(parts) < 5 or parts[2] != "resolve":
                    return None
                key = "/".join(parts[:2] + parts[4:])
                data = hub.files.get(key)
                if data is None:
                    return None
                sha = "0" * 64 if hub.lie_sha else hashlib.sha256(data).hexdigest()
                return data, sha

            def _missing(self) -> None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _headers(self, data: bytes, sha: str) -> None:
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{sha}"')
                self.send_header("X-Linked-Etag", f'"{sha}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("Accept-Ranges", "bytes")

            def do_HEAD(self) -> None:  # noqa: N802
                found = self._file()
                if found is None:
                    return self._missing()
                data, sha = found
                self.send_response(200)
                self._headers(data, sha)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()

            def do_GET(self) -> None:  # noqa: N802
                found = self._file()
                if found is None:
                    return self._missing()
                data, sha = found
                start = 0
                spec = self.headers.get("Range")
                if spec and spec.startswith("bytes="):
                    start = int(spec[6:].split("-")[0])
                body = data[start:]
                self.send_response(206 if start else 200)
                self._headers(data, sha)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if hub.cut_after is not None and hub.cuts_left > 0:
                    hub.cuts_left -= 1
                    self.wfile.write(body[: hub.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


ALIAS_KEY = "TheBloke/CodeLlama-7B-GGUF/codellama-7b.Q4_K_M.gguf"


@pytest.fixture
def payload(tiny_model: Path) -> bytes:
    return tiny_model.read_bytes()  # a real GGUF, so the loader can check the result


def serve_hub(files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch, models: Path) -> FakeHub:
    """A stand-in hub on localhost, and the environment (inherited by servers started
    from the test) pointing downloads at it and at a private model store."""
    pytest.importorskip("huggingface_hub")
    fake = FakeHub(files)
    monkeypatch.setenv("HF_ENDPOINT", fake.url)
    monkeypatch.setenv("CL_LSP_MODELS_DIR", str(models))
    monkeypatch.setenv("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.delenv("HF_TOKEN", raising=False)
    return fake


@pytest.fixture
def hub(payload: bytes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    files = {ALIAS_KEY: payload, "someone/tiny-GGUF/tiny.gguf": payload[:5000]}
    fake = serve_hub(files, monkeypatch, tmp_path / "models")
    yield fake
    fake.close()


def test_aliases_cover_the_family() -> None:
    assert len(models.ALIASES) == 12
    seven = parse_target("codellama-7b")
    assert (seven.repo, seven.filename) == (
        "TheBloke/CodeLlama-7B-GGUF",
        "codellama-7b.Q4_K_M.gguf",
    )
    python = parse_target("codellama-13b-python:q5_k_m")
    assert python.filename == "codellama-13b-python.Q5_K_M.gguf"
    assert parse_target("codellama-70b").repo == "TheBloke/CodeLlama-70B-hf-GGUF"
    assert parse_target("codellama-34b-instruct", "Q8_0").quant == "Q8_0"
    assert models.ALIASES["codellama-7b"].infill and not models.ALIASES["codellama-34b"].infill
    assert not models.ALIASES["codellama-7b-python"].infill
    assert parse_target("org/repo/x.Q4_0.gguf") == Target("org/repo", "x.Q4_0.gguf")
    for bad in ("codellama-8b", "codellama-7b:Q9_K", "codellama-70b:Q8_0"):
        with pytest.raises(ModelStoreError):
            parse_target(bad)


def test_pull_checks_and_records(hub: FakeHub, payload: bytes, tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    path = models.pull(parse_target("codellama-7b"), progress=lambda d, t: seen.append((d, t)))
    assert path == tmp_path / "models" / "TheBloke--CodeLlama-7B-GGUF" / "codellama-7b.Q4_K_M.gguf"
    assert path.read_bytes() == payload
    assert seen and seen[-1] == (len(payload), len(payload))
    record = models._read_json(path.with_name(path.name + ".json"))
    assert record["sha256"] == hashlib.sha256(payload).hexdigest() and record["verified"]
    assert record["commit"] == COMMIT
    assert not list(path.parent.glob("*.part*"))
    # Pulled once: a second pull does not touch the network.
    before = len(hub.requests)
    assert models.pull(parse_target("codellama-7b")) == path
    assert len(hub.requests) == before
    assert [i.alias for i in models.installed()] == ["codellama-7b"]


def test_pull_resumes_a_partial_download(hub: FakeHub, payload: bytes) -> None:
    """A previous process was killed after 3000 bytes: the next pull asks for the rest."""
    target = parse_target("codellama-7b")
    final = models.target_path(target)
    final.parent.mkdir(parents=True)
    sha = hashlib.sha256(payload).hexdigest()
    final.with_name(final.name + ".part").write_bytes(payload[:3000])
    final.with_name(final.name + ".part.json").write_text(f'{{"etag": "{sha}"}}')
    assert models.pull(target).read_bytes() == payload
    assert [r for method, _, r in hub.requests if method == "GET"] == ["bytes=3000-"]


def test_a_dropped_connection_is_resumed(hub: FakeHub, payload: bytes) -> None:
    hub.cut_after = 3000
    hub.cuts_left = 1  # the first GET breaks; huggingface_hub retries in-process
    assert models.pull(parse_target("codellama-7b")).read_bytes() == payload
    # (whether the retry asks for a Range depends on what the HTTP client had handed over)
    assert len([r for method, _, r in hub.requests if method == "GET"]) == 2


def test_pull_rejects_a_checksum_mismatch(hub: FakeHub) -> None:
    hub.lie_sha = True
    target = parse_target("codellama-7b")
    with pytest.raises(ModelStoreError, match="Checksum mismatch"):
        models.pull(target)
    final = models.target_path(target)
    assert not final.exists() and not final.with_name(final.name + ".part").exists()


def test_a_stale_partial_file_is_not_continued(hub: FakeHub, payload: bytes) -> None:
    target = parse_target("codellama-7b")
    final = models.target_path(target)
    final.parent.mkdir(parents=True)
    final.with_name(final.name + ".part").write_bytes(b"x" * 100)
    final.with_name(final.name + ".part.json").write_text('{"etag": "old"}')
    assert models.pull(target).read_bytes() == payload
    assert [r for m, _, r in hub.requests if m == "GET"] == [None]


def test_missing_file_and_unreachable_hub(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ModelStoreError, match="Cannot reach"):
        models.pull(parse_target("codellama-13b"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: refused
    with pytest.raises(ModelStoreError, match="Cannot reach"):
        models.pull(parse_target("codellama-7b"))


def test_repo_file_spec_path_and_rm(hub: FakeHub, payload: bytes) -> None:
    spec = "someone/tiny-GGUF/tiny.gguf"
    path = models.pull(parse_target(spec))
    assert path.read_bytes() == payload[:5000]
    assert models.find_installed(spec) == path
    models.pull(parse_target("codellama-7b:Q4_K_M"))
    assert models.find_installed("codellama-7b") is not None
    assert models.find_installed("codellama-13b") is None
    removed = models.remove("codellama-7b")
    assert any(p.name == "codellama-7b.Q4_K_M.gguf" for p in removed)
    assert models.find_installed("codellama-7b") is None
    assert models.remove(spec) and models.installed() == []


def test_resolution_order(hub: FakeHub, smollm: Path, tiny_model: Path) -> None:
    # 3. nothing configured: the embedded model
    assert resolve_model(ModelSettings()).source == "embedded"
    # 2. an alias that is not downloaded: embedded, with a note saying how to fix it
    fallback = resolve_model(ModelSettings(alias="codellama-7b"))
    assert fallback.source == "embedded" and "cl-lsp model pull codellama-7b" in fallback.note
    unknown = resolve_model(ModelSettings(alias="gpt-5"))
    assert unknown.source == "embedded" and "Unknown model alias" in unknown.note
    # 2. the alias once downloaded
    pulled = models.pull(parse_target("codellama-7b"))
    assert resolve_model(ModelSettings(alias="codellama-7b")) == type(fallback)(pulled, "alias")
    # 1. an explicit path wins over everything
    explicit = resolve_model(ModelSettings(path=str(tiny_model), alias="codellama-7b"))
    assert explicit.path == tiny_model and explicit.source == "path"


def test_no_model_at_all_is_a_clear_error(hub: FakeHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("cl_lsp.engine.loader.embedded_model_path", lambda: None)
    with pytest.raises(EngineError) as caught:
        resolve_model(ModelSettings(alias="codellama-7b"))
    assert "not downloaded" in caught.value.message
    assert "model pull" in caught.value.fix or "--model" in caught.value.fix


def test_missing_huggingface_hub_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # import fails
    with pytest.raises(ModelStoreError) as caught:
        models.pull(parse_target("codellama-7b"))
    assert "cl-lsp[download]" in caught.value.fix

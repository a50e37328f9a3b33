"""End to end through the installed entry point: `cl-lsp model ...` against a fake hub,
`cl-lsp doctor`, and `cl-lsp --stdio` on the remote backend (llama-cpp-python's server)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types

from tests.e2e.conftest import Starter, open_doc, wait_ready
from tests.unit.test_models import ALIAS_KEY, FakeHub
from tests.unit.test_remote import start_llama_server

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cl_lsp", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=ROOT,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A private cache and config: nothing from the user's machine leaks in."""
    return {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "CL_LSP_MODELS_DIR": str(tmp_path / "models"),
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    }


@pytest.fixture
def hub(tiny_model: Path) -> Iterator[FakeHub]:
    pytest.importorskip("huggingface_hub")
    fake = FakeHub({ALIAS_KEY: tiny_model.read_bytes()})
    yield fake
    fake.close()


def test_model_commands(env: dict[str, str], hub: FakeHub, tmp_path: Path) -> None:
    env = {**env, "HF_ENDPOINT": hub.url}
    listed = cli("model", "list", env=env)
    assert listed.returncode == 0 and "codellama-34b-python" in listed.stdout
    missing = cli("model", "path", "codellama-7b", env=env)
    assert missing.returncode == 1 and "model pull codellama-7b" in missing.stderr

    pulled = cli("model", "pull", "codellama-7b", env=env)
    assert pulled.returncode == 0, pulled.stderr
    path = Path(pulled.stdout.strip())
    assert path.parent.parent == tmp_path / "models" and path.name == "codellama-7b.Q4_K_M.gguf"
    assert cli("model", "path", "codellama-7b", env=env).stdout.strip() == str(path)
    assert "Q4_K_M" in cli("model", "list", env=env).stdout

    # The alias is what `model.alias` resolves: `complete` runs on the pulled file.
    config = tmp_path / "config.toml"
    config.write_text('[model]\nalias = "codellama-7b"\nn_ctx = 512\n')
    source = tmp_path / "a.py"
    source.write_text("def f(x):\n    return x\n")
    done = cli("complete", f"{source}:2:13", "--config", str(config), "--explain", env=env)
    assert done.returncode == 0, done.stderr
    assert "layout: spm" in done.stderr  # the tiny Code Llama, not the embedded SmolLM2

    unknown = cli("model", "pull", "codellama-9b", env=env)
    assert unknown.returncode == 1 and "model list" in unknown.stderr
    assert cli("model", "rm", "codellama-7b", env=env).returncode == 0
    assert not path.exists()
    assert cli("model", "rm", "codellama-7b", env=env).returncode == 1


def test_pull_error_is_reported(env: dict[str, str]) -> None:
    env = {**env, "HF_ENDPOINT": "http://127.0.0.1:9"}
    failed = cli("model", "pull", "codellama-7b", env=env)
    assert failed.returncode == 1 and "fix:" in failed.stderr


def test_doctor(env: dict[str, str], tiny_model: Path, tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "m.py").write_text("def hello(name):\n    return name\n")
    good = cli("doctor", "--model", str(tiny_model), "--root", str(tmp_path / "proj"), env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    for expected in (
        "llama-cpp-python",
        "threads:",
        "fill-in-middle: codellama",
        "rope base 1000000",
        "1 files, 1 definitions",
        "timing:",
        "speculation: ",
        "ok",
    ):
        assert expected in good.stdout, expected
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(tiny_model.read_bytes()[:4096])
    broken = cli("doctor", "--model", str(bad), "--root", str(tmp_path / "proj"), env=env)
    assert broken.returncode == 1
    assert "PROBLEM" in broken.stdout and "fix:" in broken.stdout and "truncated" in broken.stdout


async def test_stdio_server_on_the_remote_backend(
    lsp: Starter, tmp_path: Path, tiny_model: Path
) -> None:
    server = start_llama_server(tiny_model, tmp_path / "llama-server.log")
    try:
        options = {
            "model": {"backend": "remote", "endpoint": server.url, "path": str(tiny_model)},
            "completion": {"maxTokens": 8, "cache": False},
        }
        client = await lsp(options=options)
        status = await wait_ready(client)
        assert status["state"] == "ready", status
        uri = open_doc(client, tmp_path / "app.py", "def add(a, b):\n    return a\n\nprint(1)\n")
        result = await client.text_document_inline_completion_async(
            types.InlineCompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=1, character=12),
                context=types.InlineCompletionContext(
                    trigger_kind=types.InlineCompletionTriggerKind.Invoked
                ),
            )
        )
        assert isinstance(result, (types.InlineCompletionList, list)) or result is None
        stats = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="cl-lsp.engineStats")
        )
        assert stats["requests"] >= 1  # answered by the remote server, not in-process
    finally:
        server.close()
    log = (tmp_path / "llama-server.log").read_text(errors="replace")
    assert "/v1/completions" in log


def test_check_dist(tmp_path: Path) -> None:
    """packaging/check-dist.sh: sdist + wheel built, queries inside, installed wheel runs
    (about 10 s here: no slow mark)."""
    pytest.importorskip("build")
    env = {**os.environ, "CL_LSP_DIST_DIR": str(tmp_path / "dist"), "PYTHON": sys.executable}
    proc = subprocess.run(
        ["bash", str(ROOT / "packaging" / "check-dist.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "query files" in proc.stderr and "check-dist: OK" in proc.stderr
    assert list((tmp_path / "dist").glob("cl_lsp-*.whl"))

"""Hostile model files (issue 8, scenario 8): wrong magic, absurd tensor counts, and a chat
template that tries to run code. The server stays up with one clear message, and the
template's canary file never appears."""

from __future__ import annotations

import asyncio
import os
import struct
from pathlib import Path
from typing import Any

import pytest

from cl_lsp.testing import tiny_model
from tests.e2e.asyncrpc import AsyncRaw


def ssti_template(canary: Path) -> str:
    """Classic Jinja server-side template injection payloads, each writing `canary`."""
    cmd = f"touch {canary}"
    return (
        "{{ cycler.__init__.__globals__.os.popen('" + cmd + "').read() }}"
        "{{ joiner.__init__.__globals__['os'].system('" + cmd + "') }}"
        "{% for c in ''.__class__.__mro__[1].__subclasses__() %}"
        "{% if c.__name__ == 'Popen' %}{{ c(['touch', '" + str(canary) + "']) }}{% endif %}"
        "{% endfor %}"
        "{{ self.__init__.__globals__.__builtins__.open('" + str(canary) + "', 'w') }}"
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    )


def make_ssti_model(path: Path, canary: Path) -> Path:
    """The tiny Code Llama model with a malicious `tokenizer.chat_template`."""
    from gguf import GGUFWriter

    p = tiny_model._params(
        n_layer=1, n_embd=64, n_head=4, n_head_kv=None, n_ff=128, context_length=4096,
        rope_freq_base=1e6, seed=0, fim=True, fim_keys=False, f16=True,
    )  # fmt: skip
    writer = GGUFWriter(str(path), "llama")
    tiny_model._write_metadata(writer, p)
    writer.add_chat_template(ssti_template(canary))
    tiny_model._write_tensors(writer, p)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def test_chat_format_sandbox_blocks_the_payload(tmp_path: Path) -> None:
    """The docstring action's chat fallback renders model templates: sandboxed."""
    from jinja2.exceptions import SecurityError

    from cl_lsp.engine.chat_format import ChatFormat

    canary = tmp_path / "pwned-chat"
    chat = ChatFormat.from_gguf(make_ssti_model(tmp_path / "ssti.gguf", canary))
    assert chat is not None
    try:
        chat.render([{"role": "user", "content": "Write a docstring."}])
    except SecurityError:
        pass
    assert not canary.exists()


async def _serve(model: Path, tmp_path: Path) -> tuple[AsyncRaw, list[dict[str, Any]]]:
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    server = await AsyncRaw.start("--model", str(model), env=env)
    (tmp_path / "ws").mkdir(exist_ok=True)
    await server.initialize(tmp_path / "ws", {"completion": {"maxTokens": 8}})
    status = await server.wait_ready()
    return server, [status]


async def _complete(server: AsyncRaw, n: int = 5) -> list[dict[str, Any]]:
    uri = "file:///ws/a.py"
    text = "def area(r):\n    return \n"
    await server.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
    )
    answers = []
    for _ in range(n):
        answers.append(
            await server.request(
                "textDocument/inlineCompletion",
                {
                    "textDocument": {"uri": uri},
                    "position": {"line": 1, "character": 11},
                    "context": {"triggerKind": 1},
                },
            )
        )
    return answers


async def test_model_with_code_running_chat_template(tmp_path: Path) -> None:
    canary = tmp_path / "pwned-server"
    model = make_ssti_model(tmp_path / "ssti.gguf", canary)
    server, [status] = await _serve(model, tmp_path)
    try:
        answers = await _complete(server)
        assert all("result" in a for a in answers), answers
        await server.command("cl-lsp.status")
        messages = [n for n in server.notifications if n["method"] == "window/showMessage"]
    finally:
        await server.close()
    assert not canary.exists()
    # Loaded or refused, the server is up and said at most one thing.
    assert status["state"] == "ready", status  # a template is no reason to refuse a model
    assert len(messages) <= 1


def _gguf_header(magic: bytes, tensors: int, kvs: int) -> bytes:
    return magic + struct.pack("<IQQ", 3, tensors, kvs)


@pytest.mark.parametrize(
    "kind, data",
    [
        ("wrong-magic", b"GGML" + os.urandom(4096)),
        ("zip-not-gguf", b"PK\x03\x04" + bytes(4096)),
        ("absurd-tensors", _gguf_header(b"GGUF", 2**63 - 1, 0) + bytes(4096)),
        ("absurd-kvs", _gguf_header(b"GGUF", 1, 2**62) + bytes(4096)),
    ],
)
async def test_hostile_model_header_one_clear_message(
    tmp_path: Path, kind: str, data: bytes
) -> None:
    model = tmp_path / f"{kind}.gguf"
    model.write_bytes(data)
    server, [status] = await _serve(model, tmp_path)
    try:
        for _ in range(100):
            if any(n["method"] == "window/showMessage" for n in server.notifications):
                break
            await asyncio.sleep(0.05)
        answers = await _complete(server, 3)
        assert all(a.get("result", {}).get("items") == [] for a in answers), answers
        assert (await server.command("cl-lsp.status"))["state"] == "error"
        messages = [
            n["params"] for n in server.notifications if n["method"] == "window/showMessage"
        ]
    finally:
        code = await server.close()
    assert status["state"] == "error"
    assert len(messages) == 1 and messages[0]["type"] == 1, messages
    assert str(model) in messages[0]["message"]
    assert code == 0  # shut down cleanly: it never crashed

"""A hung or crashing engine, and a handler that raises (issue 8, scenarios 7 and 11).

The server runs in a subprocess with a scripted engine (tests/e2e/fake_server.py), driven
over raw JSON-RPC so every response is recorded.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest_asyncio

from tests.e2e.asyncrpc import AsyncRaw

CANCELLED = -32800
INTERNAL_ERROR = -32603
TEXT = "def double(value):\n    return \n"

Start = Callable[[str], Awaitable[AsyncRaw]]


@pytest_asyncio.fixture
async def fake(tmp_path: Path) -> AsyncIterator[Start]:
    servers: list[AsyncRaw] = []

    async def start(mode: str) -> AsyncRaw:
        import os

        env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
        server = await AsyncRaw.start(mode, module="tests.e2e.fake_server", env=env)
        servers.append(server)
        await server.initialize(tmp_path / "ws", {"completion": {"warm": False}})
        (tmp_path / "ws").mkdir(exist_ok=True)
        assert (await server.wait_ready())["state"] == "ready"
        await server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": URI, "languageId": "python", "version": 1, "text": TEXT}},
        )
        return server

    yield start
    for server in servers:
        await server.close()


URI = "file:///fake/double.py"


def inline(line: int = 1, character: int = 11) -> dict[str, Any]:
    return {
        "textDocument": {"uri": URI},
        "position": {"line": line, "character": character},
        "context": {"triggerKind": 2},
    }


def items(answer: dict[str, Any]) -> list[dict[str, Any]]:
    assert "error" not in answer, answer
    return list(answer["result"]["items"])


def show_messages(server: AsyncRaw) -> list[dict[str, Any]]:
    return [n["params"] for n in server.notifications if n["method"] == "window/showMessage"]


async def test_fake_engine_answers(fake: Start) -> None:
    server = await fake("echo")
    found = items(await server.request("textDocument/inlineCompletion", inline()))
    assert found and found[0]["insertText"] == "value + 1"
    assert not show_messages(server)


async def test_hung_engine_cancel_is_prompt_and_next_request_works(fake: Start) -> None:
    server = await fake("hang-first")
    hung = server.request_nowait("textDocument/inlineCompletion", inline())
    await asyncio.sleep(0.2)
    assert hung not in server.responses  # the engine sits on it
    await server.notify("$/cancelRequest", {"id": hung})
    answer = await server.wait_answer(hung, timeout=5)  # liveness bound, not a speed claim
    assert answer["error"]["code"] == CANCELLED
    found = items(await server.request("textDocument/inlineCompletion", inline(), timeout=5))
    assert found and found[0]["insertText"] == "value + 1"
    assert len(server.responses[hung]) == 1


async def test_engine_that_never_answers_is_given_up_and_user_told_once(fake: Start) -> None:
    server = await fake("hang-all")
    ids = [server.request_nowait("textDocument/inlineCompletion", inline()) for _ in range(3)]
    answers = [await server.wait_answer(i, timeout=15) for i in ids]
    # Same document: the older two are superseded, the newest is given up after 2 s.
    assert [a.get("error", {}).get("code") for a in answers[:2]] == [CANCELLED, CANCELLED]
    assert items(answers[2]) == []
    again = await server.request("textDocument/inlineCompletion", inline(), timeout=15)
    assert items(again) == []
    status = await server.command("cl-lsp.status")
    assert status["state"] == "ready"
    messages = show_messages(server)
    assert len(messages) == 1 and "did not answer" in messages[0]["message"]
    assert messages[0]["type"] == 1  # Error


async def test_engine_raising_in_submit_told_once_then_recovers(fake: Start) -> None:
    await _failing_engine(await fake("raise"), "engine exploded")


async def test_engine_failing_its_future_told_once_then_recovers(fake: Start) -> None:
    await _failing_engine(await fake("fail"), "generation failed")


async def _failing_engine(server: AsyncRaw, words: str) -> None:
    # Each request on a new line (a new prompt: the LRU must not answer for the engine).
    # The engine fails its first 3 generations: those are answered empty, not with errors.
    got = []
    for n in range(5):
        await edit(server, 2 + n, {"line": 2 + n, "character": 0}, "y = \n")
        got.append(items(await server.request("textDocument/inlineCompletion", inline(2 + n, 4))))
    assert got[:3] == [[], [], []]
    assert all(found and found[0]["insertText"] == "value + 1" for found in got[3:]), got
    for _ in range(20):  # showMessage is sent from the event loop: let it arrive
        if show_messages(server):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    messages = show_messages(server)
    assert len(messages) == 1, messages
    assert words in messages[0]["message"] and messages[0]["type"] == 1


async def test_failed_generation_is_not_remembered(fake: Start) -> None:
    server = await fake("fail")
    for _ in range(3):
        assert items(await server.request("textDocument/inlineCompletion", inline())) == []
    found = items(await server.request("textDocument/inlineCompletion", inline()))
    assert found and found[0]["insertText"] == "value + 1"


async def edit(server: AsyncRaw, version: int, at: dict[str, int], text: str) -> None:
    await server.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": URI, "version": version},
            "contentChanges": [{"range": {"start": at, "end": at}, "text": text}],
        },
    )


async def test_handler_raising_is_an_internal_error_and_server_stays_up(fake: Start) -> None:
    server = await fake("plan-raise")
    broken = await server.request("textDocument/inlineCompletion", inline())
    assert broken["error"]["code"] == INTERNAL_ERROR, broken
    assert "injected fault" in broken["error"]["message"]
    found = items(await server.request("textDocument/inlineCompletion", inline()))
    assert found and found[0]["insertText"] == "value + 1"
    assert (await server.command("cl-lsp.status"))["state"] == "ready"
    digest = await server.command("cl-lsp.documentDigest", URI)
    assert digest["version"] == 1 and digest["length"] == len(TEXT)

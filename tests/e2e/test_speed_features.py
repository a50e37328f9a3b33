"""Speed features over LSP: typed-through answers, the completion LRU, warm-ups."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.e2e.conftest import Starter, open_doc, wait_ready

OPTIONS = {
    "completion": {"maxTokens": 12, "maxBlockTokens": 12, "warmDelayMs": 50},
    "model": {"nCtx": 2048},
    "context": {"enabled": False},
}
TEXT = "def scale(value, factor):\n    result = value * factor\n    return res\n"
LINE, COLUMN = 2, len("    return res")


def insert(client: LanguageClient, uri: str, version: int, line: int, col: int, text: str) -> None:
    position = types.Position(line, col)
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(position, position), text=text
                )
            ],
        )
    )


def delete(client: LanguageClient, uri: str, version: int, line: int, col: int, n: int) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(line, col), types.Position(line, col + n)),
                    text="",
                )
            ],
        )
    )


async def suggest(client: LanguageClient, uri: str, line: int, col: int) -> str:
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line, col),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        )
    )
    assert isinstance(result, types.InlineCompletionList)
    return str(result.items[0].insert_text) if result.items else ""


async def stats(client: LanguageClient) -> dict[str, Any]:
    return dict(
        await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="cl-lsp.engineStats")
        )
    )


async def test_typed_through_and_lru(lsp: Starter, tmp_path: Path, tiny_model: Path) -> None:
    options = {**OPTIONS, "completion": {**OPTIONS["completion"], "warm": False}}
    client = await lsp("--model", str(tiny_model), options=options)
    await wait_ready(client)
    # Plain text: the Python post-processor would (rightly) reject the tiny model's noise.
    uri = open_doc(client, tmp_path / "scale.txt", TEXT, language="plaintext")
    shown = await suggest(client, uri, LINE, COLUMN)
    assert len(shown) >= 2, "the tiny model's greedy answer here is a few characters long"
    before = await stats(client)
    # The user types the first character of the suggestion: the rest comes without the model.
    insert(client, uri, 2, LINE, COLUMN, shown[0])
    assert await suggest(client, uri, LINE, COLUMN + 1) == shown[1:]
    after = await stats(client)
    assert after["typed_through_hits"] == before["typed_through_hits"] + 1
    assert after["requests"] == before["requests"]  # the model did not run
    # Backspace: the same prompt as before, answered from the LRU.
    delete(client, uri, 3, LINE, COLUMN, 1)
    assert await suggest(client, uri, LINE, COLUMN) == shown
    final = await stats(client)
    assert final["lru_hits"] == after["lru_hits"] + 1
    assert final["cache_hits"] == final["lru_hits"] + final["typed_through_hits"]
    assert final["requests"] == before["requests"]


async def test_an_edit_without_a_request_warms_the_cache(
    lsp: Starter, tmp_path: Path, tiny_model: Path
) -> None:
    client = await lsp("--model", str(tiny_model), options=OPTIONS)
    await wait_ready(client)
    uri = open_doc(client, tmp_path / "warm.py", TEXT)
    insert(client, uri, 2, 1, 0, "\n")  # e.g. the user opened a line, and asks nothing
    for _ in range(200):
        if (await stats(client))["warm_requests"] >= 1:
            break
        await asyncio.sleep(0.05)
    warmed = await stats(client)
    assert warmed["warm_requests"] >= 1 and warmed["requests"] == 0
    # The next request at that place finds its prompt evaluated.
    await suggest(client, uri, 2, 0)
    answered = await stats(client)
    assert answered["requests"] == 1
    assert answered["reused_tokens"] >= answered["prompt_tokens"] // 2

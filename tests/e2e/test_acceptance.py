"""Acceptance over LSP against `cl-lsp --stdio` with a real (tiny) model: items carry the
accept command, running it shows up in `cl-lsp.stats` and `cl-lsp stats`, the figures
survive a restart, disabled languages and paths get nothing, and the quiet rule holds
back automatic requests only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from cl_lsp.acceptance.store import DATA_DIR_ENV
from tests.e2e.conftest import Starter, neovim_capabilities, open_doc, wait_ready

OPTIONS: dict[str, Any] = {
    "completion": {"maxTokens": 12, "maxBlockTokens": 12, "warm": False},
    "model": {"nCtx": 2048},
    "context": {"enabled": False},
}
# Plain text: the Python post-processor would (rightly) reject the tiny model's noise.
TEXT = "def scale(value, factor):\n    result = value * factor\n    return res\n"
LINE, COLUMN = 2, len("    return res")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This test's own statistics database (servers inherit the environment)."""
    folder = tmp_path / "data"
    monkeypatch.setenv(DATA_DIR_ENV, str(folder))
    return folder


async def inline(
    client: LanguageClient, uri: str, automatic: bool = False
) -> types.InlineCompletionItem | None:
    kind = types.InlineCompletionTriggerKind
    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(LINE, COLUMN),
            context=types.InlineCompletionContext(
                trigger_kind=kind.Automatic if automatic else kind.Invoked
            ),
        )
    )
    assert isinstance(result, types.InlineCompletionList)
    return result.items[0] if result.items else None


async def command(client: LanguageClient, name: str, *arguments: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=list(arguments))
    )


async def accept(client: LanguageClient, item: types.InlineCompletionItem) -> Any:
    """What VS Code does when the user takes the item: run its command."""
    assert item.command is not None and item.command.command == "cl-lsp.accepted"
    return await command(client, item.command.command, *(item.command.arguments or []))


async def test_accepts_are_counted_and_survive_a_restart(
    lsp: Starter, tmp_path: Path, tiny_model: Path, data_dir: Path
) -> None:
    client = await lsp("--model", str(tiny_model), options=OPTIONS)
    await wait_ready(client)
    uri = open_doc(client, tmp_path / "scale.txt", TEXT, language="plaintext")
    item = await inline(client, uri)
    assert item is not None and isinstance(item.insert_text, str) and item.insert_text
    assert await accept(client, item) is True
    again = await inline(client, uri)  # the same prompt again: the LRU answers, not taken
    assert again is not None and again.command is not None
    assert again.command.arguments != item.command.arguments  # every answer its own id
    assert await command(client, "cl-lsp.accepted", "no-such-id") is True  # ignored
    stats = await command(client, "cl-lsp.stats", {"since": "1h"})
    total = stats["total"]
    assert (total["shown"], total["accepted"], total["partial"]) == (2, 1, 0)
    assert total["accepted_chars"] == len(item.insert_text)
    assert total["from_cache"] == 1 and total["acceptance_rate"] == 0.5
    assert total["latency_p95_ms"] >= total["latency_p50_ms"] > 0
    (group,) = stats["groups"]
    assert group["language"] == "plaintext" and group["model"] != "unknown"
    # The engine's totals have their own command.
    assert (await command(client, "cl-lsp.engineStats"))["requests"] >= 1
    await client.shutdown_session()
    await client.stop()

    restarted = await lsp("--model", str(tiny_model), options=OPTIONS)
    assert (await command(restarted, "cl-lsp.stats"))["total"] == total
    # The command line reads the same database.
    env = {**os.environ, DATA_DIR_ENV: str(data_dir)}
    proc = subprocess.run(
        [sys.executable, "-m", "cl_lsp", "stats", "--since", "1h", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(proc.stdout)["total"] == total
    printed = subprocess.run(
        [sys.executable, "-m", "cl_lsp", "stats"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "2 shown" in printed and "accepted 1 + 0 partly (50.0%)" in printed
    assert "plaintext" in printed
    doctor = subprocess.run(
        [sys.executable, "-m", "cl_lsp", "doctor", "--no-completion", "--model", str(tiny_model)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    ).stdout
    section = doctor.split("== acceptance (last 7 days)", 1)[1]
    assert "accepted 1 + 0 partly (50.0%)" in section


async def test_disabled_languages_and_globs_get_no_completions(
    lsp: Starter, tmp_path: Path, tiny_model: Path, data_dir: Path
) -> None:
    options = {
        **OPTIONS,
        "completion": {**OPTIONS["completion"], "disabledLanguages": ["plaintext"]},
    }
    client = await lsp("--model", str(tiny_model), options=options)
    await wait_ready(client)
    uri = open_doc(client, tmp_path / "notes" / "scale.txt", TEXT, language="plaintext")
    assert await inline(client, uri) is None

    def push(completion: dict[str, Any]) -> None:
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"cl-lsp": {"completion": completion}})
        )

    push({"disabledLanguages": []})  # live, as editor settings change
    await wait_ready(client)
    assert await inline(client, uri) is not None
    push({"disabledLanguages": [], "disabledGlobs": ["notes/**"]})
    await wait_ready(client)
    assert await inline(client, uri) is None
    push({"disabledLanguages": [], "disabledGlobs": ["*.py"]})
    await wait_ready(client)
    assert await inline(client, uri) is not None
    stats = await command(client, "cl-lsp.stats")
    assert stats["total"]["shown"] == 2  # nothing counted while disabled


async def test_quiet_after_holds_back_automatic_requests_only(
    lsp: Starter, tmp_path: Path, tiny_model: Path, data_dir: Path
) -> None:
    client = await lsp("--model", str(tiny_model), options={**OPTIONS, "stats": {"quietAfter": 2}})
    await wait_ready(client)
    uri = open_doc(client, tmp_path / "scale.txt", TEXT, language="plaintext")
    assert await inline(client, uri, automatic=True) is not None
    assert await inline(client, uri, automatic=True) is not None
    # Two shown in a row, none taken: automatic requests wait for an explicit one.
    assert await inline(client, uri, automatic=True) is None
    stats = await command(client, "cl-lsp.stats")
    assert stats["quiet"] == [{"language": "plaintext", "streak": 2}]
    item = await inline(client, uri)  # invoked: answered
    assert item is not None
    await accept(client, item)
    assert await inline(client, uri, automatic=True) is not None


async def test_completion_items_carry_the_accept_command(
    lsp: Starter, tmp_path: Path, tiny_model: Path, data_dir: Path
) -> None:
    client = await lsp(
        "--model", str(tiny_model), capabilities=neovim_capabilities(), options=OPTIONS
    )
    await wait_ready(client)
    uri = open_doc(client, tmp_path / "scale.txt", TEXT, language="plaintext")
    result = await client.text_document_completion_async(
        types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(LINE, COLUMN),
            context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked),
        )
    )
    assert isinstance(result, types.CompletionList) and result.items
    item = result.items[0]
    assert item.command is not None and item.command.command == "cl-lsp.accepted"
    # A partial accept (a word of it), as the Neovim plugin reports it.
    assert await command(client, "cl-lsp.accepted", item.command.arguments[0], {"chars": 1})
    total = (await command(client, "cl-lsp.stats"))["total"]
    assert (total["shown"], total["accepted"], total["partial"], total["accepted_chars"]) == (
        1,
        0,
        1,
        1,
    )

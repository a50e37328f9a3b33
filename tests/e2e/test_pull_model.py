"""`cl-lsp.pullModel` over LSP: the editor's "pull a model" downloads from a stand-in hub
with $/progress, and a bad alias is a clear error, not a crash."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lsprotocol import types

from tests.e2e.conftest import Starter, wait_ready
from tests.unit.test_models import ALIAS_KEY, FakeHub, serve_hub


@pytest.fixture
def hub(tiny_model: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[FakeHub]:
    fake = serve_hub({ALIAS_KEY: tiny_model.read_bytes()}, monkeypatch, tmp_path / "models")
    yield fake
    fake.close()


async def test_pull_model_reports_progress_and_lands_the_file(
    lsp: Starter, hub: FakeHub, tiny_model: Path, tmp_path: Path
) -> None:
    client = await lsp("--model", str(tiny_model))
    answer = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="cl-lsp.pullModel", arguments=["codellama-7b"])
    )
    assert "error" not in answer, answer
    path = Path(answer["path"])
    assert path.read_bytes() == tiny_model.read_bytes()
    assert path.is_relative_to(tmp_path / "models")
    reports = [r for token, r in client.progress_reports.items() if "pull" in str(token)]
    assert len(reports) == 1, client.progress_reports
    kinds = [type(value).__name__ for value in reports[0]]
    assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd", kinds
    percents = [v.percentage for v in reports[0] if isinstance(v, types.WorkDoneProgressReport)]
    assert percents and percents[-1] == 100 and percents == sorted(percents)
    # It came from the stand-in hub, not from anywhere else.
    assert any(method == "GET" for method, _, _ in hub.requests)


async def test_pull_model_errors_are_answers(lsp: Starter, hub: FakeHub, tiny_model: Path) -> None:
    client = await lsp("--model", str(tiny_model))
    bad = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="cl-lsp.pullModel", arguments=["codellama-8b"])
    )
    assert "error" in bad and "codellama-8b" in bad["error"], bad
    missing = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="cl-lsp.pullModel", arguments=["someone/x/y.gguf"])
    )
    assert "error" in missing and missing.get("fix"), missing
    # Still up and serving: the model (loading in the background) comes ready.
    assert (await wait_ready(client))["state"] == "ready"

"""The workspace: disk changes reach the index; inotify exhaustion falls back to polling."""

from __future__ import annotations

import errno
import time
from pathlib import Path

import pytest
import watchdog.observers

from cl_lsp.repository import Repository


def wait_for(condition, timeout: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


def make_workspace(tmp_path: Path) -> Repository:
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "a.py").write_text("def alpha():\n    return 1\n")
    workspace = Repository(tmp_path / "repo", tmp_path / "cache")
    workspace.start_scan()
    assert workspace.scanned.wait(30)
    return workspace


def test_disk_changes_reach_the_index(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path)
    try:
        workspace.watch()
        assert [d.path for d in workspace.index.definitions_named("alpha")] == ["a.py"]
        (workspace.root / "b.py").write_text("def beta():\n    pass\n")
        assert wait_for(lambda: workspace.index.definitions_named("beta"))
        (workspace.root / "a.py").unlink()
        assert wait_for(lambda: not workspace.index.definitions_named("alpha"))
        (workspace.root / ".env").write_text("SECRET=canary\n")  # never indexed
        workspace.file_changed(workspace.root / ".env")
        assert ".env" not in workspace.index.files()
    finally:
        workspace.close()


def test_inotify_exhaustion_falls_back_to_polling(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class ExhaustedObserver:
        def schedule(self, *args: object, **kwargs: object) -> None:
            pass

        def start(self) -> None:
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

    monkeypatch.setattr(watchdog.observers, "Observer", ExhaustedObserver)
    workspace = make_workspace(tmp_path)
    notices: list[str] = []
    try:
        workspace.watch(notices.append)
        assert len(notices) == 1 and "polling" in notices[0]
        (workspace.root / "c.py").write_text("def gamma():\n    pass\n")
        assert wait_for(lambda: workspace.index.definitions_named("gamma"), timeout=20)
    finally:
        workspace.close()


def test_paths_outside_the_root_are_ignored(tmp_path: Path) -> None:
    workspace = make_workspace(tmp_path)
    try:
        outside = tmp_path / "outside.py"
        outside.write_text("def omega():\n    pass\n")
        workspace.file_changed(outside)
        assert not workspace.index.definitions_named("omega")
    finally:
        workspace.close()

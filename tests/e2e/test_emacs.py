"""A real Emacs (Debian's emacs-nox 28 with elpa-eglot 1.9, batch mode) drives
`cl-lsp --stdio` through editors/emacs/cl-lsp.el: `cl-lsp-complete` and
`completion-at-point` each insert a suggestion, and both accepts reach the server's
acceptance statistics (editors/emacs/tests/smoke.el)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EMACS_DIR = ROOT / "editors" / "emacs"


def _has_eglot() -> bool:
    if shutil.which("emacs") is None:
        return False
    probe = subprocess.run(
        ["emacs", "--batch", "--eval", "(require 'eglot)"], capture_output=True, timeout=60
    )
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _has_eglot(), reason="emacs with eglot is not installed")


def test_emacs_accepts_show_up_in_stats(tmp_path: Path, tiny_model: Path) -> None:
    source = tmp_path / "notes.txt"
    text = "def scale(value, factor):\n    return \n"
    source.write_text(text)
    out, stats = tmp_path / "out", tmp_path / "stats.json"
    env = {
        **os.environ,
        "CL_LSP_CMD": f"{sys.executable} -m cl_lsp --stdio --model {tiny_model}",
        "CL_LSP_FILE": str(source),
        "CL_LSP_LINE": "2",
        "CL_LSP_COL": str(len("    return ")),  # after a blank: nothing for capf to filter by
        "CL_LSP_OUT": str(out),
        "CL_LSP_STATS_OUT": str(stats),
        "CL_LSP_SETTINGS": '{"completion": {"maxTokens": 8}, "context": {"enabled": false}}',
        "CL_LSP_DATA_DIR": str(tmp_path / "data"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "HOME": str(tmp_path),  # no user init, no ~/.emacs.d state
    }
    proc = subprocess.run(
        ["emacs", "--batch", "-L", str(EMACS_DIR), "-l", str(EMACS_DIR / "tests" / "smoke.el")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    first = (tmp_path / "out.1").read_text()
    second = (tmp_path / "out.2").read_text()
    assert first.startswith("def scale(value, factor):\n    return ") and first != text
    assert second == first  # the same prompt, the same suggestion, through capf this time
    total = json.loads(stats.read_text())["total"]
    assert (total["shown"], total["accepted"], total["partial"]) == (2, 2, 0)
    inserted = first.splitlines()[1][len("    return ") :]
    assert total["accepted_chars"] == 2 * len(inserted) > 0

"""A real headless Neovim (Debian's 0.7.2 or newer) with the cl_lsp Lua plugin drives
`cl-lsp --stdio` and applies a completion to a buffer (editors/nvim/tests/run.sh)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "editors" / "nvim" / "tests" / "run.sh"

pytestmark = pytest.mark.skipif(shutil.which("nvim") is None, reason="nvim is not on PATH")


def run_nvim(tmp_path: Path, file: Path, line: int, col: int, **extra: str) -> str:
    out = tmp_path / "out.txt"
    env = {
        **os.environ,
        "CL_LSP_CMD": f"{sys.executable} -m cl_lsp --stdio",
        "CL_LSP_FILE": str(file),
        "CL_LSP_LINE": str(line),
        "CL_LSP_COL": str(col),
        "CL_LSP_OUT": str(out),
        "CL_LSP_TIMEOUT_MS": "120000",
        # The server's index cache stays in the test's folder.
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        **extra,
    }
    proc = subprocess.run(
        ["bash", str(RUN)], env=env, capture_output=True, text=True, timeout=400, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return out.read_text()


def test_neovim_applies_a_completion(tmp_path: Path, smollm: Path) -> None:
    source = tmp_path / "files.py"
    text = "import os\n\n\ndef read_file(path):\n    with open(path) as f:\n        return \n"
    source.write_text(text)
    # Line 6 (1-based), byte column 15: after "        return ". The embedded model.
    result = run_nvim(tmp_path, source, 6, 15, CL_LSP_SETTINGS='{"completion": {"maxTokens": 16}}')
    lines = result.splitlines()
    assert lines[:5] == text.splitlines()[:5]  # nothing else in the buffer changed
    # SmolLM2 (greedy) completes the obvious: `return f.read()` here.
    assert lines[5].startswith("        return ") and "read" in lines[5]
    assert "<" not in lines[5]  # no special-token text leaked


def test_neovim_accepts_show_up_in_stats(tmp_path: Path, tiny_model: Path) -> None:
    """The plugin runs the item's accept command: a whole accept, then a partial one (the
    next word), each counted by the server's statistics (this test's own database)."""
    import json

    source = tmp_path / "notes.txt"
    source.write_text("def scale(value, factor):\n    return val\n")
    data = tmp_path / "data"
    extra = {
        "CL_LSP_CMD": f"{sys.executable} -m cl_lsp --stdio --model {tiny_model}",
        "CL_LSP_DATA_DIR": str(data),
        "CL_LSP_STATS_OUT": str(tmp_path / "stats.json"),
        "CL_LSP_SETTINGS": '{"completion": {"maxTokens": 8}, "context": {"enabled": false}}',
    }
    whole = run_nvim(tmp_path, source, 2, len("    return val"), **extra)
    first = json.loads((tmp_path / "stats.json").read_text())["total"]
    assert (first["shown"], first["accepted"], first["partial"]) == (1, 1, 0)
    inserted = whole.splitlines()[1][len("    return val") :]
    assert first["accepted_chars"] == len(inserted) > 0
    run_nvim(tmp_path, source, 2, len("    return val"), CL_LSP_PARTIAL="word", **extra)
    second = json.loads((tmp_path / "stats.json").read_text())["total"]  # survived a restart
    assert (second["shown"], second["accepted"], second["partial"]) == (2, 1, 1)
    assert first["accepted_chars"] < second["accepted_chars"]

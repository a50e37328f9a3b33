"""The prompt gate's policy on one workspace: what is admitted and why the rest is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from cl_lsp.core.document import DocumentStore
from cl_lsp.gate import PromptGate, PromptText, Refused
from cl_lsp.repository import Repository


@pytest.fixture
def gate(tmp_path: Path) -> tuple[PromptGate, DocumentStore, Path]:
    root = tmp_path / "ws"
    (root / "src").mkdir(parents=True)
    (root / ".gitignore").write_text("private.py\n")
    outside = tmp_path / "elsewhere.py"
    outside.write_text("def far():\n    return 1\n")
    (root / "src" / "link.py").symlink_to(outside)
    repository = Repository(root, tmp_path / "cache")
    repository.index.scan()
    documents = DocumentStore()
    return PromptGate(documents, lambda: repository), documents, root


def verdict(gate: PromptGate, documents: DocumentStore, path: Path, text: str) -> str | None:
    documents.open(path.as_uri(), text, 1, "python")
    admitted = gate.admit(path.as_uri())
    return admitted.reason if isinstance(admitted, Refused) else None


def test_the_policy_in_one_place(gate: tuple[PromptGate, DocumentStore, Path]) -> None:
    g, documents, root = gate
    assert verdict(g, documents, root / "src" / "app.py", "x = 1\n") is None
    assert "ignored" in (verdict(g, documents, root / "private.py", "x = 1\n") or "")
    assert "secrets" in (verdict(g, documents, root / ".env", "A=1\n") or "")
    key = 'KEY = "AKIAIOSFODNN7EXAMPLE"\n'
    assert "credential" in (verdict(g, documents, root / "src" / "config.py", key) or "")
    assert "link" in (verdict(g, documents, root / "src" / "link.py", "def far(): ...\n") or "")


def test_context_from_other_buffers_passes_the_gate(
    gate: tuple[PromptGate, DocumentStore, Path],
) -> None:
    g, documents, root = gate
    for name, text in (("a.py", "a = 1\n"), ("private.py", "secret = 2\n"), (".env", "T=3\n")):
        documents.open((root / name).as_uri(), text, 1, "python")
        documents.note_edit((root / name).as_uri(), 0)
    current = (root / "a.py").as_uri()
    assert g.other_documents("file:///nowhere.py") == {"a.py": "a = 1\n"}
    assert g.recent_edits("file:///nowhere.py") == [("a.py", "a = 1")]
    assert g.recent_edits(current) == []
    admitted = g.admit(current)
    assert isinstance(admitted, PromptText) and admitted.rel_path == "a.py"

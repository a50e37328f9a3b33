"""End to end: code actions (docstrings, verified fix-its) and syntax diagnostics over LSP."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from cl_lsp.core.syntax_tree import SourceText, count_syntax_problems
from tests.e2e.conftest import (
    Starter,
    open_doc,
    vscode_capabilities,
    wait_ready,
)

TINY = {"model": {"nCtx": 2048}, "context": {"enabled": False}}
REPO = Path(__file__).resolve().parents[2]

SOURCE = """import os


def add(a, b):
    total = a + b
    return total


class Box:
    def put(self, item):
        self.items.append(item)
"""


def save(client, uri: str) -> None:
    client.text_document_did_save(
        types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )


def action_params(
    uri: str,
    line: int,
    character: int,
    diagnostics: list[types.Diagnostic] | None = None,
    only: list[str] | None = None,
) -> types.CodeActionParams:
    position = types.Position(line, character)
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(position, position),
        context=types.CodeActionContext(diagnostics=diagnostics or [], only=only),
    )


def apply_edits(text: str, edit: types.WorkspaceEdit | None, uri: str) -> str:
    assert edit is not None and edit.changes is not None
    starts = [0]
    for i, ch in enumerate(text):
        if ch == "\n":
            starts.append(i + 1)

    def offset(p: types.Position) -> int:
        return starts[p.line] + p.character if p.line < len(starts) else len(text)

    edits = sorted(edit.changes[uri], key=lambda e: offset(e.range.start), reverse=True)
    for e in edits:
        text = text[: offset(e.range.start)] + e.new_text + text[offset(e.range.end) :]
    return text


async def actions_at(client, params: types.CodeActionParams) -> list[types.CodeAction]:
    # The model loads in the background: an empty answer means "not yet".
    for _ in range(200):
        result = await client.text_document_code_action_async(params)
        actions = [a for a in result or [] if isinstance(a, types.CodeAction)]
        if actions or result is not None:
            return actions
        await asyncio.sleep(0.05)
    return []


def titled(actions: list[types.CodeAction], text: str) -> types.CodeAction:
    found = [a for a in actions if text in a.title]
    assert found, [a.title for a in actions]
    return found[0]


def docstring_of(text: str, def_line: str) -> list[str]:
    lines = text.split("\n")
    i = lines.index(def_line)
    out = []
    for line in lines[i + 1 :]:
        out.append(line)
        if line.rstrip().endswith('"""') and (len(out) > 1 or line.count('"""') == 2):
            break
    return out


async def test_docstring_is_resolved_lazily_and_placed(
    lsp: Starter, tmp_path: Path, tiny_model: Path
) -> None:
    client = await lsp("--model", str(tiny_model), options=TINY)
    await wait_ready(client)
    caps = client.init_result.capabilities  # type: ignore[attr-defined]
    assert caps.code_action_provider.resolve_provider
    uri = open_doc(client, tmp_path / "calc.py", SOURCE)
    actions = await actions_at(client, action_params(uri, 4, 8))
    action = titled(actions, "Generate docstring for `add`")
    assert action.edit is None  # computed only when chosen
    resolved = await client.code_action_resolve_async(action)
    after = apply_edits(SOURCE, resolved.edit, uri)
    doc = docstring_of(after, "def add(a, b):")
    assert doc[0].startswith('    """') and not doc[0].startswith("     ")
    assert doc[-1].endswith('"""')
    assert all(line.startswith("    ") or not line for line in doc)
    assert "    Args:" in doc and "        a:" in "\n".join(doc)
    # Nothing else changed, and the file still parses.
    assert after.replace("\n".join(doc) + "\n", "", 1) == SOURCE
    assert count_syntax_problems(SourceText(after, "python").tree) == 0
    # An existing docstring is offered for replacement, never duplicated.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=after)],
        )
    )
    again = await actions_at(client, action_params(uri, 3, 4))
    regenerate = titled(again, "Regenerate docstring for `add`")
    replaced = apply_edits(after, (await client.code_action_resolve_async(regenerate)).edit, uri)
    assert replaced.count('"""') == after.count('"""')
    assert count_syntax_problems(SourceText(replaced, "python").tree) == 0


async def test_source_action_documents_every_definition(
    lsp: Starter, tmp_path: Path, tiny_model: Path
) -> None:
    client = await lsp("--model", str(tiny_model), options=TINY)
    await wait_ready(client)
    text = (
        "export function area(width, height) {\n  return width * height;\n}\n\n"
        "class Shape {\n  grow(factor) {\n    return factor;\n  }\n}\n"
    )
    uri = open_doc(client, tmp_path / "shapes.js", text, language="javascript")
    refactors = await actions_at(client, action_params(uri, 0, 0, only=["refactor"]))
    assert [a.kind for a in refactors] == [types.CodeActionKind.RefactorRewrite]
    actions = await actions_at(client, action_params(uri, 0, 0, only=["source"]))
    action = titled(actions, "Generate docstrings for 3 undocumented definitions")
    after = apply_edits(text, (await client.code_action_resolve_async(action)).edit, uri)
    assert count_syntax_problems(SourceText(after, "javascript").tree) == 0
    lines = after.split("\n")
    for header in ("export function area(width, height) {", "class Shape {", "  grow(factor) {"):
        i = lines.index(header)
        indent = header[: len(header) - len(header.lstrip())]
        assert lines[i - 1] == indent + " */"
        j = max(k for k in range(i) if lines[k] == indent + "/**")
        assert all(line.startswith(indent + " *") for line in lines[j + 1 : i])
    assert "@param width" in after and "@param factor" in after


async def test_eager_edits_for_clients_without_resolve_support(
    lsp: Starter, tmp_path: Path, tiny_model: Path
) -> None:
    caps = vscode_capabilities()  # like Emacs eglot 1.9: no codeAction.resolveSupport
    assert caps.text_document is not None and caps.text_document.code_action is not None
    caps.text_document.code_action.resolve_support = None
    client = await lsp("--model", str(tiny_model), options=TINY, capabilities=caps)
    await wait_ready(client)
    uri = open_doc(
        client, tmp_path / "lib.rs", "pub fn twice(x: i32) -> i32 {\n    x * 2\n}\n", "rust"
    )
    actions = await actions_at(client, action_params(uri, 1, 4))
    action = titled(actions, "Generate doc comment for `twice`")
    after = apply_edits("pub fn twice(x: i32) -> i32 {\n    x * 2\n}\n", action.edit, uri)
    assert after.startswith("/// ") and after.endswith(
        "pub fn twice(x: i32) -> i32 {\n    x * 2\n}\n"
    )


async def test_noisy_fix_is_rejected_never_offered(
    lsp: Starter, tmp_path: Path, tiny_model: Path
) -> None:
    # The random-weight model writes noise; without the parser's fallback nothing passes.
    options = {**TINY, "completion": {"fixParserHints": False}}
    client = await lsp("--model", str(tiny_model), options=options)
    await wait_ready(client)
    broken = SOURCE.replace("def add(a, b):", "def add(a, b)")
    uri = open_doc(client, tmp_path / "broken.py", broken)
    save(client, uri)  # a file opened broken is reported once it is saved
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    ours = client.diagnostics[uri]
    assert ours and all(d.source == "cl-lsp" for d in ours)
    assert ours[0].range.start.line == 3
    actions = await actions_at(client, action_params(uri, 3, 5, diagnostics=ours))
    assert not [a for a in actions if a.kind == types.CodeActionKind.QuickFix]


async def test_parser_fallback_inserts_the_missing_token_when_the_model_fails(
    lsp: Starter, tmp_path: Path, tiny_model: Path
) -> None:
    # The random-weight model's rewrites all fail verification; tree-sitter knows a ')'
    # is missing and where, and that repair is verified like any other.
    client = await lsp("--model", str(tiny_model), options=TINY)
    await wait_ready(client)
    good = "function f(x) {\n  if (x > 0) {\n    return x;\n  }\n  return 0;\n}\n"
    broken = good.replace("if (x > 0) {", "if (x > 0 {")
    uri = open_doc(client, tmp_path / "broken.js", broken, language="javascript")
    save(client, uri)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    ours = client.diagnostics[uri]
    assert ours and ours[0].range.start.line == 1, ours
    actions = await actions_at(client, action_params(uri, 1, 10, diagnostics=ours))
    fix = titled(actions, "Fix: ")
    assert fix.edit is not None and fix.edit.changes is not None
    (edit,) = fix.edit.changes[uri]
    assert edit.new_text == ")" and edit.range.start == edit.range.end
    assert apply_edits(broken, fix.edit, uri) == good


async def test_fix_it_with_smollm_is_verified_and_minimal(
    lsp: Starter, tmp_path: Path, smollm: Path
) -> None:
    client = await lsp(options={"context": {"enabled": False}})
    await wait_ready(client)
    broken = SOURCE.replace("def add(a, b):", "def add(a, b)")
    uri = open_doc(client, tmp_path / "broken.py", broken)
    save(client, uri)  # a file opened broken is reported once it is saved
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    diagnostics = client.diagnostics[uri]
    actions = await actions_at(client, action_params(uri, 3, 5, diagnostics=diagnostics))
    fix = titled(actions, "Fix: ")
    assert fix.kind == types.CodeActionKind.QuickFix and fix.edit is not None
    assert fix.edit.changes is not None
    (edit,) = fix.edit.changes[uri]
    assert edit.new_text == ":" and edit.range.start == edit.range.end  # minimal
    assert apply_edits(broken, fix.edit, uri) == SOURCE


async def test_resolve_is_cancellable(lsp: Starter, tmp_path: Path, slow_model: Path) -> None:
    client = await lsp("--model", str(slow_model), options={"model": {"nCtx": 8192, "nBatch": 64}})
    await wait_ready(client)
    long = "".join(f"def function_{i}(value):\n    return value * {i}\n\n" for i in range(300))
    uri = open_doc(client, tmp_path / "long.py", long)
    actions = await actions_at(client, action_params(uri, 0, 0, only=["source"]))
    action = titled(actions, "Generate docstrings for")
    pending = client.protocol.send_request(types.CODE_ACTION_RESOLVE, action, msg_id="resolve-me")
    await asyncio.sleep(0.05)
    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="resolve-me"))
    with pytest.raises(JsonRpcException) as caught:
        await asyncio.wrap_future(pending)
    assert caught.value.code == -32800
    # The engine is free again: a small action on a small file still resolves.
    small = open_doc(client, tmp_path / "small.py", "def one():\n    return 1\n")
    quick = titled(await actions_at(client, action_params(small, 0, 4)), "Generate docstring")
    resolved = await client.code_action_resolve_async(quick)
    assert resolved.edit is not None


async def test_syntax_diagnostics_follow_the_policy(
    lsp: Starter, tmp_path: Path, tiny_model: Path
) -> None:
    options = {**TINY, "completion": {"diagnosticsDelayMs": 10}}
    client = await lsp("--model", str(tiny_model), options=options)
    await wait_ready(client)
    caps = client.init_result.capabilities  # type: ignore[attr-defined]
    assert caps.text_document_sync.save is not None
    uri = open_doc(client, tmp_path / "clean.py", SOURCE)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert not client.diagnostics[uri]

    def change(target: str, version: int, text: str) -> None:
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=target, version=version),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    # A clean file broken while typing: reported (after the debounce).
    change(uri, 2, SOURCE.replace("total = a + b", "total = (a + b"))
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert client.diagnostics[uri] and client.diagnostics[uri][0].source == "cl-lsp"
    # Fixed again: cleared.
    change(uri, 3, SOURCE)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert not client.diagnostics[uri]
    # A file opened broken stays quiet until it is saved; closing clears it.
    draft = open_doc(client, tmp_path / "draft.py", "def f(:\n")
    change(draft, 2, "def f(:\n    pass\n")
    save(client, draft)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert client.diagnostics[draft] and client.diagnostics[draft][0].range.start.line == 0
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=draft))
    )
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert not client.diagnostics[draft]


@pytest.mark.skipif(shutil.which("nvim") is None, reason="nvim is not installed")
def test_neovim_applies_a_docstring_action(tmp_path: Path, tiny_model: Path) -> None:
    source = tmp_path / "calc.py"
    source.write_text(SOURCE)
    out = tmp_path / "out.py"
    env = {
        **os.environ,
        "CL_LSP_CMD": f"{sys.executable} -m cl_lsp --stdio --model {tiny_model}",
        "CL_LSP_FILE": str(source),
        "CL_LSP_LINE": "5",
        "CL_LSP_COL": "4",
        "CL_LSP_OUT": str(out),
        "CL_LSP_ACTION": "Generate docstring",
        "CL_LSP_SETTINGS": '{"context": {"enabled": false}, "model": {"nCtx": 2048}}',
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    run = subprocess.run(
        ["bash", str(REPO / "editors/nvim/tests/run.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    after = out.read_text()
    doc = docstring_of(after, "def add(a, b):")
    assert doc[0].startswith('    """') and doc[-1].endswith('"""')
    assert count_syntax_problems(SourceText(after, "python").tree) == 0

"""Secrets never reach a prompt; no network connection without a remote backend
(issue 8, scenario 10).

The workspace holds the usual places secrets live, each with a unique canary string; the
user even has them open in the editor and edits them (open buffers and recent edits are
context sources). Every prompt the server runs is captured (CL_LSP_PROMPT_LOG) across a
hundred-odd completions in the ordinary files, and searched for canaries.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from tests.e2e.asyncrpc import AsyncRaw, position_of

CANARIES = {
    ".env": "API_TOKEN=canary_env_51b7d1\nDATABASE_URL=postgres://u:canary_pw_a81c@db/x\n",
    ".env.local": "SECRET=canary_envlocal_c0ffee\n",
    "id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\ncanary_rsa_9e3f\n-----END OPENSSH",
    "deploy/server.pem": "-----BEGIN PRIVATE KEY-----\ncanary_pem_77aa\n-----END",
    # A key pasted into an innocently named file: caught by content.
    "notes/handover.txt": "prod key:\n-----BEGIN RSA PRIVATE KEY-----\ncanary_pasted_0b0b\n",
    ".aws/credentials": "[default]\naws_secret_access_key = canary_aws_4d2e\n",
    ".ssh/config.py": "def host():\n    return 'canary_ssh_dir_1f1f'\n",
    # Google's default download name does not say "service account": caught by content.
    "gcp-project-3f2a1b.json": json.dumps(
        {"type": "service_account", "private_key": "canary_gcp_key_5c5c", "client_email": "x"}
    ),
    "service-account.json": json.dumps(
        {"type": "service_account", "private_key": "canary_sa_2b2b"}
    ),
    # .gitignored code: indexable by language, excluded by the rules.
    "local_settings.py": "def get_token():\n    return 'canary_gitignored_py_8d8d'\n",
    "private/keys.py": "def load_keys():\n    return {'k': 'canary_gitignored_dir_3e3e'}\n",
    "build/out.py": "def built():\n    return 'canary_ignored_build_6a6a'\n",
}
GITIGNORE = "local_settings.py\nprivate/\nbuild/\n"
APP = '''"""The application: uses settings and keys the way real code does."""

from local_settings import get_token
from private.keys import load_keys
from lib.util import normalize


def fetch(session, url):
    token = get_token()
    keys = load_keys()
    return session.get(normalize(url), headers={"Authorization": token, "X": keys})


def main():
    result = fetch(None, "https://example.invalid")
'''
UTIL = "def normalize(url):\n    return url.strip().rstrip('/')\n"


def canary_words() -> list[str]:
    words = []
    for text in CANARIES.values():
        words += [w.strip("'\",}") for w in text.replace("=", " ").replace("\n", " ").split()]
    return sorted({w for w in words if w.startswith(("canary_", "postgres://u:canary"))})


def network_sockets(pid: int) -> list[str]:
    """TCP/UDP sockets the process holds (unix sockets are local and allowed)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6"):
        path = Path(f"/proc/{pid}/net/{table}")
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[9] in inodes:
                found.append(f"{table}: {line.strip()}")
    return found


def inline(uri: str, position: dict[str, int]) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": position, "context": {"triggerKind": 2}}


async def test_no_secret_in_any_prompt_and_no_network(tmp_path: Path, tiny_model: Path) -> None:
    root = tmp_path / "ws"
    for rel, text in {
        **CANARIES,
        ".gitignore": GITIGNORE,
        "app.py": APP,
        "lib/util.py": UTIL,
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    (root / "lib" / "__init__.py").write_text("")
    log = tmp_path / "prompts.jsonl"
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "CL_LSP_PROMPT_LOG": str(log)}
    server = await AsyncRaw.start("--model", str(tiny_model), env=env)
    try:
        options = {"completion": {"maxTokens": 8, "maxBlockTokens": 8}, "model": {"nCtx": 4096}}
        await server.initialize(root, options)
        assert (await server.wait_ready())["state"] == "ready"
        # The user has every secret file open, and types in each (recent edits).
        for n, rel in enumerate(CANARIES):
            uri = (root / rel).as_uri()
            text = CANARIES[rel]
            language = "python" if rel.endswith(".py") else "plaintext"
            await server.notify(
                "textDocument/didOpen",
                {"textDocument": {"uri": uri, "languageId": language, "version": 1, "text": text}},
            )
            end = position_of(text, len(text))
            await server.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": uri, "version": 2},
                    "contentChanges": [{"range": {"start": end, "end": end}, "text": f"# {n}\n"}],
                },
            )
        app_uri = (root / "app.py").as_uri()
        text = APP
        await server.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": app_uri, "languageId": "python", "version": 1, "text": text}},
        )
        answered = 0
        typed = "    keys = load_keys()\n    token = get_token() + normalize(str(keys))\n"
        version = 1
        for step in range(120):
            # Type one more character of `typed` at the end: a new prompt every time.
            char = typed[step % len(typed)]
            end = position_of(text, len(text))
            text += char
            version += 1
            await server.notify(
                "textDocument/didChange",
                {
                    "textDocument": {"uri": app_uri, "version": version},
                    "contentChanges": [{"range": {"start": end, "end": end}, "text": char}],
                },
            )
            answer = await server.request(
                "textDocument/inlineCompletion", inline(app_uri, position_of(text, len(text)))
            )
            assert "result" in answer, answer
            answered += 1
        shown = await server.command("cl-lsp.showContext", app_uri, position_of(text, len(text)))
        sockets = network_sockets(server.pid)
    finally:
        await server.close()
    prompts = [json.loads(line) for line in log.read_text().splitlines()]
    real = [p for p in prompts if not p["warm"]]
    print(f"{answered} completions, {len(prompts)} prompts captured ({len(real)} not warm-ups)")
    assert answered == 120 and len(real) >= 100
    assert any("def normalize" in p["prompt"] for p in prompts)  # context did flow
    leaks = [(w, i) for i, p in enumerate(prompts) for w in canary_words() if w in p["prompt"]]
    assert not leaks, leaks[:5]
    assert not any(w in shown for w in canary_words())
    assert sockets == []

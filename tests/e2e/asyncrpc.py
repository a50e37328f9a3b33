"""An asyncio JSON-RPC pipe to a server process that records every message it receives,
in arrival order, so tests can check "answered exactly once" and response ordering."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import sys
from pathlib import Path
from typing import Any


class AsyncRaw:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.arrivals: list[dict[str, Any]] = []  # every message from the server, in order
        self.responses: dict[Any, list[tuple[int, dict[str, Any]]]] = {}  # id -> [(seq, msg)]
        self.notifications: list[dict[str, Any]] = []
        self._waiters: dict[Any, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1_000_000)
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(
        cls, *args: str, module: str = "cl_lsp", env: dict[str, str] | None = None
    ) -> AsyncRaw:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            module,
            "--stdio",
            *args,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            env=env or dict(os.environ),
            limit=64 * 1024 * 1024,
        )
        return cls(process)

    @property
    def pid(self) -> int:
        return self.process.pid

    async def _read(self) -> None:
        out = self.process.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = await out.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            assert length is not None
            message = json.loads(await out.readexactly(length))
            seq = len(self.arrivals)
            self.arrivals.append(message)
            if "method" in message:
                if "id" in message:  # a server request: configuration, progress tokens
                    await self.send({"id": message["id"], "result": None})
                else:
                    self.notifications.append(message)
                continue
            self.responses.setdefault(message.get("id"), []).append((seq, message))
            waiter = self._waiters.pop(message.get("id"), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)

    async def send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}, ensure_ascii=False).encode()
        stdin = self.process.stdin
        assert stdin is not None
        stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        await stdin.drain()

    async def notify(self, method: str, params: Any = None) -> None:
        await self.send({"method": method, "params": params})

    def request_nowait(self, method: str, params: Any = None, id_: Any = None) -> Any:
        """Send a request in the background; returns its id (answers land in `responses`)."""
        msg_id = next(self._ids) if id_ is None else id_
        self._waiters[msg_id] = asyncio.get_running_loop().create_future()
        asyncio.ensure_future(self.send({"id": msg_id, "method": method, "params": params}))
        return msg_id

    async def request(
        self, method: str, params: Any = None, id_: Any = None, timeout: float = 60
    ) -> dict[str, Any]:
        msg_id = next(self._ids) if id_ is None else id_
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[msg_id] = waiter
        await self.send({"id": msg_id, "method": method, "params": params})
        return await asyncio.wait_for(waiter, timeout)

    async def wait_answer(self, msg_id: Any, timeout: float = 60) -> dict[str, Any]:
        if msg_id in self.responses:
            return self.responses[msg_id][0][1]
        waiter = self._waiters.get(msg_id)
        if waiter is None:
            waiter = self._waiters[msg_id] = asyncio.get_running_loop().create_future()
        return await asyncio.wait_for(asyncio.shield(waiter), timeout)

    async def command(self, command: str, *arguments: Any) -> Any:
        answer = await self.request(
            "workspace/executeCommand", {"command": command, "arguments": list(arguments)}
        )
        assert "error" not in answer, answer
        return answer["result"]

    async def initialize(
        self, root: Path, options: dict[str, Any] | None = None, inline: bool = True
    ) -> dict[str, Any]:
        caps: dict[str, Any] = {
            "general": {"positionEncodings": ["utf-16"]},
            "textDocument": {"synchronization": {}, "completion": {}},
        }
        if inline:
            caps["textDocument"]["inlineCompletion"] = {}
        answer = await self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": root.as_uri(),
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                "capabilities": caps,
                "initializationOptions": options,
            },
        )
        await self.notify("initialized", {})
        return answer

    async def wait_ready(self, timeout: float = 120) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            status = await self.command("cl-lsp.status")
            index_ready = status.get("index", {}).get("state", "ready") == "ready"
            if status.get("state") in ("ready", "error") and index_ready:
                return dict(status)
            await asyncio.sleep(0.05)
        raise AssertionError("the server never became ready")

    async def close(self) -> int | None:
        if self.process.returncode is None:
            try:
                await asyncio.wait_for(self.request("shutdown"), 5)
                await self.notify("exit")
                await asyncio.wait_for(self.process.wait(), 5)
            except (asyncio.TimeoutError, ConnectionError, OSError):
                pass
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()
        self._reader.cancel()
        return self.process.returncode


def rss_kb(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise LookupError(field)


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def position_of(text: str, offset: int) -> dict[str, int]:
    """The LSP (UTF-16) position of a string index ("\\n" line breaks only)."""
    line = text.count("\n", 0, offset)
    start = text.rfind("\n", 0, offset) + 1
    return {"line": line, "character": utf16_len(text[start:offset])}

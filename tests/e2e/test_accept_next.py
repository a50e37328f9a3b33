"""Accept-then-next over LSP: after a suggestion is shown, the one that follows its
acceptance is computed ahead, so the request after Tab is answered from the cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.e2e.conftest import Starter, open_doc, wait_ready
from tests.e2e.test_speed_features import OPTIONS, insert, stats, suggest

TEXT = "def scale(value, factor):\n    result = value * factor\n    return res\n"
LINE, COLUMN = 2, len("    return res")


async def test_the_suggestion_after_tab_is_ready(
    lsp: Starter, tmp_path: Path, tiny_model: Path
) -> None:
    options = {**OPTIONS, "completion": {**OPTIONS["completion"], "warm": False}}
    client = await lsp("--model", str(tiny_model), options=options)
    await wait_ready(client)
    # Plain text: the Python post-processor would (rightly) reject the tiny model's noise.
    uri = open_doc(client, tmp_path / "scale.txt", TEXT, language="plaintext")
    shown = await suggest(client, uri, LINE, COLUMN)
    assert shown and "\n" not in shown
    for _ in range(300):  # the prefetch runs after the answer, at the lowest priority
        if (await stats(client))["prefetches"] >= 1:
            break
        await asyncio.sleep(0.1)
    before = await stats(client)
    assert before["prefetches"] == 1
    insert(client, uri, 2, LINE, COLUMN, shown)  # Tab
    await suggest(client, uri, LINE, COLUMN + len(shown))
    after = await stats(client)
    assert after["lru_hits"] == before["lru_hits"] + 1
    assert after["requests"] == before["requests"]  # no model call for it

"""`PromptLogEngine` appends every prompt it is asked to run, detokenized, to a file
(`CL_LSP_PROMPT_LOG=<file>`): the hardening tests read it to prove that no secret ever
reaches a prompt, and users can see exactly what the model was shown. A debugging aid;
the production wrapper is `GuardedEngine` in engine/guarded.py.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import Future
from pathlib import Path

from cl_lsp.engine.base import Engine, GenerationRequest, GenerationResult
from cl_lsp.engine.delegate import EngineDelegate

log = logging.getLogger(__name__)

PROMPT_LOG_ENV = "CL_LSP_PROMPT_LOG"


class PromptLogEngine(EngineDelegate):
    """Append each submitted prompt as one JSON line: {"warm", "ids", "prompt"}."""

    def __init__(self, inner: Engine, path: Path | str) -> None:
        super().__init__(inner)
        self.path = Path(path)
        self._lock = threading.Lock()

    def _text(self, ids: list[int]) -> str:
        detokenize = getattr(self.inner, "detokenize", None)
        if detokenize is None:
            return ""
        try:
            return str(detokenize(list(ids)))
        except Exception as error:  # logging must never break a completion
            return f"<detokenize failed: {error}>"

    def submit(self, request: GenerationRequest) -> Future[GenerationResult]:
        record = {"warm": request.warm, "ids": list(request.ids), "prompt": self._text(request.ids)}
        line = json.dumps(record, ensure_ascii=False) + "\n"
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write(line)
        except OSError as error:
            log.warning("cannot write the prompt log %s: %s", self.path, error)
        return self.inner.submit(request)

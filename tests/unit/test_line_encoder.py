"""LineEncoder: the same ids as a whole encoding, while typing, or no splitting at all."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cl_lsp.config import ModelSettings
from cl_lsp.core.line_encoder import LineEncoder
from cl_lsp.engine.llama_engine import LlamaEngine
from cl_lsp.engine.loader import load_engine


@pytest.fixture(scope="module")
def engine(tiny_model: Path) -> Iterator[LlamaEngine]:
    loaded, _info = load_engine(ModelSettings(path=str(tiny_model), n_ctx=512))
    yield loaded
    loaded.close()


CODE = st.text(
    alphabet=st.sampled_from(list("abcxyz_ 019()[]{}:;,.=+-#'\"\n\t") + ["é", "注", "😀"]),
    max_size=300,
)


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(CODE, min_size=1, max_size=5))
def test_same_ids_as_encoding_the_whole_text(engine: LlamaEngine, texts: list[str]) -> None:
    encoder = LineEncoder(engine.tokenize, engine.spec.sentencepiece_space)
    assert encoder.splits  # Llama's SentencePiece vocabulary: no token spans a newline
    text = ""
    for piece in texts:  # a document growing as it is typed, then a fresh text
        text += piece
        assert encoder(text) == engine.tokenize(text)


def test_typing_reuses_the_text_above_the_cursor_line(engine: LlamaEngine) -> None:
    calls: list[str] = []

    def encode(text: str) -> list[int]:
        calls.append(text)
        return engine.tokenize(text)

    encoder = LineEncoder(encode, True)
    above = "".join(f"def f{i}(x):\n    return x * {i}\n" for i in range(200))
    encoder(above + "y = f")
    calls.clear()
    for typed in ("y = f1", "y = f12", "y = f12("):
        assert encoder(above + typed) == engine.tokenize(above + typed)
    assert all(len(text) < 20 for text in calls), [len(t) for t in calls]


def test_no_splitting_when_tokens_cross_newlines() -> None:
    # A byte-pair vocabulary may merge "\n" with the indentation after it.
    def encode(text: str) -> list[int]:
        return [hash(part) % 1000 for part in text.replace("\n ", "\x00").split(" ")]

    encoder = LineEncoder(encode, True)
    assert not encoder.splits
    assert encoder("a\n b c") == encode("a\n b c")
    assert not LineEncoder(encode, False).splits  # not SentencePiece: never split

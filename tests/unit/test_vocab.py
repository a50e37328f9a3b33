"""The remote backend's local vocabulary (llama.cpp's C API, vocab_only) agrees with the
loaded model's own tokenizer: the same ids, the same texts."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from cl_lsp.config import ModelSettings
from cl_lsp.engine.base import EngineError
from cl_lsp.engine.llama_engine import LlamaEngine
from cl_lsp.engine.loader import load_session
from cl_lsp.engine.vocab import LocalVocab

TEXTS = [
    "def foo(x):\n    return x",
    "  indented <PRE> is text, not a token\n",
    "ünïcödé 😀 and\ttabs\r\n",
    "a" * 3000,  # longer than the first buffer guess for some vocabularies? never shorter
]


@pytest.mark.parametrize("which", ["tiny", "smollm"])
def test_local_vocab_matches_the_model(which: str, tiny_model: Path, smollm: Path) -> None:
    path = tiny_model if which == "tiny" else smollm
    session = load_session(ModelSettings(path=str(path), n_ctx=512))
    vocab = LocalVocab(path)
    engine = session.engine
    assert isinstance(engine, LlamaEngine)
    try:
        for text in TEXTS:
            ids = vocab.tokenize(text)
            assert ids == engine.tokenize(text)
            # SentencePiece gives the text its dummy leading space back, as llama.cpp does.
            assert vocab.detokenize(ids) == engine.detokenize(ids)
            dummy = " " if session.spec.sentencepiece_space else ""
            assert vocab.detokenize(ids) == dummy + text
        assert vocab.tokenize("") == [] and vocab.detokenize([]) == ""
        info = session.info
        assert info is not None
        if info.fim.pre is not None:  # the tiny Code Llama: its FIM token's own text
            assert vocab.token_text(info.fim.pre) == "▁<PRE>"
            assert vocab.detokenize([info.fim.pre]) == ""  # special: no text
        if info.bos_id is not None:
            assert vocab.detokenize([info.bos_id, *vocab.tokenize("x = 1")]).lstrip() == "x = 1"
    finally:
        vocab.close()
        vocab.close()  # idempotent
        session.engine.close()


def test_loading_prints_nothing(tiny_model: Path, capfd: pytest.CaptureFixture[str]) -> None:
    """llama.cpp's loader log (model facts, ~100 lines) stays out of stderr, which is the
    editor's log, and out of stdout, which is the LSP channel, also in a process where no
    `Llama(verbose=False)` quieted llama-cpp-python's logger before."""
    llama_log = logging.getLogger("llama-cpp-python")
    level = llama_log.level
    llama_log.setLevel(logging.NOTSET)
    try:
        capfd.readouterr()
        LocalVocab(tiny_model).close()
        out, err = capfd.readouterr()
    finally:
        llama_log.setLevel(level)
    assert out == "" and "llama_model_loader" not in err
    assert llama_log.level == level


def test_a_missing_file_is_an_engine_error(tmp_path: Path) -> None:
    with pytest.raises(EngineError):
        LocalVocab(tmp_path / "absent.gguf")

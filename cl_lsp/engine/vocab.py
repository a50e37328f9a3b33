"""A model's own tokenizer without its weights, through llama.cpp's public C API.

The remote backend builds prompts as token ids like the local one, so it needs the served
model's vocabulary: llama.cpp loads a GGUF `vocab_only` (no weights, no context, a few MB
even for a 70B file). llama-cpp-python's `Llama` always creates a context, and its
`LlamaModel` wrapper is private (`llama_cpp._internals`); the `llama_*` functions used here
are the bindings of llama.h that the package exports.
"""

from __future__ import annotations

import ctypes
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cl_lsp.engine.base import EngineError

# llama-cpp-python prints llama.cpp's log to stderr unless this logger's level is above
# the message's (`Llama(verbose=False)` sets it to ERROR for good).
_LLAMA_LOG = logging.getLogger("llama-cpp-python")


@contextmanager
def _quiet_llama_log() -> Iterator[None]:
    """Loading a vocabulary prints ~100 lines of model facts: keep only errors."""
    previous = _LLAMA_LOG.level
    if previous < logging.ERROR:
        _LLAMA_LOG.setLevel(logging.ERROR)
    try:
        yield
    finally:
        if previous < logging.ERROR:
            _LLAMA_LOG.setLevel(previous)


class LocalVocab:
    """tokenize / detokenize / token_text with one model's vocabulary."""

    def __init__(self, path: Path) -> None:
        import llama_cpp

        self._api: Any = llama_cpp
        fix = "Point model.path at a GGUF of the model the server runs."
        if not path.is_file():
            raise EngineError(
                f"llama.cpp could not read the vocabulary of {path}: no such file.", fix
            )
        params = llama_cpp.llama_model_default_params()
        params.vocab_only = True
        with _quiet_llama_log():
            model = llama_cpp.llama_model_load_from_file(str(path).encode("utf-8"), params)
        if not model:
            raise EngineError(f"llama.cpp could not read the vocabulary of {path}.", fix)
        vocab = llama_cpp.llama_model_get_vocab(model)
        if not vocab:
            llama_cpp.llama_model_free(model)
            raise EngineError(f"llama.cpp found no vocabulary in {path}.", fix)
        self._model: Any = model
        self._vocab: Any = vocab
        self._bos = int(llama_cpp.llama_vocab_bos(vocab))
        self._close_lock = threading.Lock()

    def tokenize(self, text: str) -> list[int]:
        """Ids of `text`: no BOS, special-token text not parsed (it is ordinary text)."""
        if not text:
            return []
        data = text.encode("utf-8", "surrogatepass")
        size = len(data) + 8  # SentencePiece adds at most a dummy-space token per byte run
        for _ in range(2):
            tokens = (self._api.llama_token * size)()
            count = int(
                self._api.llama_tokenize(self._vocab, data, len(data), tokens, size, False, False)
            )
            if count >= 0:
                return list(tokens[:count])
            size = -count  # the buffer was too small: llama.cpp says how many it needs
        raise EngineError(f"llama.cpp could not tokenize {len(data)} bytes.")

    def _piece(self, token: int, buffer: ctypes.Array[ctypes.c_char]) -> bytes:
        n = int(self._api.llama_token_to_piece(self._vocab, token, buffer, len(buffer), 0, False))
        if n >= 0:
            return buffer.raw[:n]
        larger = (ctypes.c_char * -n)()
        n = int(self._api.llama_token_to_piece(self._vocab, token, larger, len(larger), 0, False))
        return larger.raw[: max(n, 0)]

    def detokenize(self, ids: list[int]) -> str:
        """The text of `ids`; special tokens render as nothing (as llama.cpp's own)."""
        buffer = (ctypes.c_char * 64)()
        data = b"".join(self._piece(token, buffer) for token in ids)
        # Llama 1-style vocabularies put a space after BOS: the text does not start with it.
        if ids and ids[0] == self._bos and data.startswith(b" "):
            data = data[1:]
        return data.decode("utf-8", "replace")

    def token_text(self, token: int) -> str:
        """The vocabulary's text of one token ("▁<PRE>"), special or not."""
        raw = self._api.llama_vocab_get_text(self._vocab, token)
        return raw.decode("utf-8", "replace") if raw else ""

    def close(self) -> None:
        with self._close_lock:
            model, self._model = self._model, None
        if model:
            self._api.llama_model_free(model)

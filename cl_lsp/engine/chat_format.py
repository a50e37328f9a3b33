"""A model's chat template, rendered to token ids with its control tokens as ids.

Built from the `ModelInfo` of the one bounded GGUF header read (engine/gguf_info.py): the
template is `tokenizer.chat_template`, the control tokens are the vocab's CONTROL entries.
Templates come from untrusted model files: they render in jinja2's immutable sandbox
(llama-cpp-python does the same since CVE-2024-34359).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path

from cl_lsp.engine.gguf_info import ModelFileError, ModelInfo, read_model_info

log = logging.getLogger(__name__)


class ChatFormat:
    """Render messages with the model's template; encode the result with control ids."""

    def __init__(
        self,
        template: str,
        control: dict[str, int],
        bos: str = "",
        eos: str = "",
        add_bos: int | None = None,
    ) -> None:
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        self._template = env.from_string(template)
        self.control = control
        self.bos, self.eos = bos, eos
        self.add_bos = add_bos  # the BOS id to put first, or None
        names = sorted(control, key=len, reverse=True)
        self._split = re.compile("(" + "|".join(map(re.escape, names)) + ")") if names else None

    @classmethod
    def from_info(cls, info: ModelInfo) -> ChatFormat | None:
        """The model's chat format; None when it has no template or one we cannot compile."""
        template = info.metadata.get("tokenizer.chat_template")
        if not isinstance(template, str) or not template:
            return None
        by_id = {v: k for k, v in info.control_tokens.items()}
        bos = by_id.get(info.bos_id, "") if info.bos_id is not None else ""
        eos = by_id.get(info.eos_id, "") if info.eos_id is not None else ""
        try:
            return cls(
                template,
                dict(info.control_tokens),
                bos,
                eos,
                info.bos_id if info.add_bos else None,
            )
        except Exception as error:  # a template we cannot compile: fall back to prefix-only
            log.warning("cannot read the chat template of %s: %s", info.path, error)
            return None

    @classmethod
    def from_gguf(cls, path: Path) -> ChatFormat | None:
        """Read a model file's header (bounded) for its chat format; None on any problem."""
        try:
            return cls.from_info(read_model_info(path))
        except ModelFileError as error:
            log.warning("cannot read the chat template of %s: %s", path, error.message)
            return None

    def render(self, messages: list[dict[str, str]]) -> str:
        return str(
            self._template.render(
                messages=messages,
                add_generation_prompt=True,
                bos_token=self.bos,
                eos_token=self.eos,
            )
        )

    def encode(self, text: str, tokenize: Callable[[str], list[int]]) -> list[int]:
        ids: list[int] = []
        if self.add_bos is not None and not (self.bos and text.startswith(self.bos)):
            ids.append(self.add_bos)
        pieces = self._split.split(text) if self._split else [text]
        for piece in pieces:
            if piece in self.control:
                ids.append(self.control[piece])
            elif piece:
                ids.extend(tokenize(piece))
        return ids

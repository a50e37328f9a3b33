"""The in-process llama.cpp engine: one worker thread owns the `Llama`.

Concurrent calls into one `Llama` crash or hang, so every decode happens on the worker.
Prompts arrive as token ids; the worker keeps the KV entries of the longest common prefix
with the previous prompt, evaluates the rest in batches (checking for cancellation between
batches) and decodes greedily token by token (checking between tokens).
"""

from __future__ import annotations

import codecs
import ctypes
import hashlib
import logging
import os
import threading
import time
from array import array
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cl_lsp.config import ModelSettings
from cl_lsp.core.healing import PieceTable, spell
from cl_lsp.core.prompt import PromptSpec, common_prefix_length
from cl_lsp.engine.base import (
    Cancelled,
    EngineError,
    EngineFacts,
    EngineStats,
    GenerationRequest,
    GenerationResult,
)
from cl_lsp.engine.draft import Answer, DraftKey, DraftPolicy, NgramDraft
from cl_lsp.engine.job_queue import JobQueue
from cl_lsp.engine.kv_states import SavedState, StateStore

log = logging.getLogger(__name__)


# KV snapshots (see LlamaEngine._prefill): save the state before a request throws away at
# least this many evaluated tokens; restore it when it shares this many more with a prompt.
_SNAPSHOT_MIN_LOST = 64
_SNAPSHOT_MIN_GAIN = 32

# Prefill batch sizing (see LlamaEngine._batch_size).
_BATCH_S = 0.12
_MIN_BATCH = 16
_FIRST_BATCH = 64

# Speculative decoding: the most drafted tokens verified in one forward pass, how many
# recent generations drafts may come from, and how many prompt tokens before each are
# kept with it (so that the next prompt's ending finds where that generation began).
_DRAFT_MAX = 16
_HISTORY = 4
_HISTORY_PROMPT_TAIL = 8


@dataclass
class _Draft:
    """Drafted tokens evaluated after the current position but not yet chosen; `row` is
    the batch row whose logits give the next choice (`logits`, when set, are that
    choice's logits kept from an earlier request), `key` where the draft came from."""

    tokens: list[int]
    row: int = -1
    key: DraftKey = ("prompt", 0)
    verified: int = 0  # of its tokens, how many were chosen so far
    logits: Any = None


@dataclass
class _SavedRow:
    """The logits of the token at `position`, kept while the KV cache holds the same
    tokens up to it: a prompt that ends there again (a keystroke inside a word leaves
    the healed prompt unchanged) needs no forward pass to make its first choice."""

    position: int
    logits: Any


@dataclass
class _DecodeCounts:
    passes: int = 0  # forward passes while generating
    drafted: int = 0  # speculative tokens evaluated
    accepted: int = 0  # ... that greedy decoding chose


def _state_key(key: str | None, ids: list[int]) -> str:
    """A document's key; requests without one (the CLI, warm-ups) are told apart by the
    head of their prompt."""
    if key is not None:
        return key
    return "#" + hashlib.blake2b(array("i", ids[:64]).tobytes(), digest_size=8).hexdigest()


def default_threads() -> int:
    """Half the cores: the editor and the server share the machine with the model, and
    llama.cpp's spinning worker threads slow down several-fold when oversubscribed
    (measured here: 2 threads on a busy 2-core machine prefilled 4x slower than 1)."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def open_llama(path: Path, settings: ModelSettings, n_ctx: int, n_batch: int) -> Any:
    """A `llama_cpp.Llama` with the settings' threads, GPU layers and flash attention,
    keeping the logits of each pass's last row only (the engine asks for more rows per
    batch when it needs them)."""
    import llama_cpp

    threads = settings.n_threads or default_threads()
    return llama_cpp.Llama(
        model_path=str(path),
        n_ctx=n_ctx,
        n_batch=n_batch,
        n_ubatch=n_batch,
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=settings.n_gpu_layers,
        flash_attn=settings.flash_attn,
        logits_all=False,
        verbose=False,
    )


class LlamaEngine(EngineFacts):
    """Serve generation requests for one GGUF model, strictly one at a time."""

    def __init__(
        self,
        model_path: Path,
        settings: ModelSettings,
        spec: PromptSpec,
        stop_ids: frozenset[int],
        trained_ctx: int | None,
        description: str = "",
    ) -> None:
        import llama_cpp  # imported here so the pure core and the CLI start without it

        n_ctx = settings.n_ctx or min(trained_ctx or 4096, settings.max_ctx)
        threads = settings.n_threads or default_threads()
        try:
            self._llm = open_llama(model_path, settings, n_ctx, settings.n_batch)
        except (ValueError, RuntimeError, OSError) as error:
            raise EngineError(
                f"llama.cpp could not load the model {model_path}: {error}.",
                "Check that the file is a complete GGUF model supported by this llama.cpp build.",
            ) from error
        self._llama_cpp = llama_cpp
        self._spec = spec
        self._vocab = llama_cpp.llama_model_get_vocab(self._llm.model)
        self._n_vocab = self._llm.n_vocab()
        self._stop_ids = frozenset(stop_ids) | self._eog_ids()
        self._n_batch = settings.n_batch
        self._kv_reuse = settings.kv_reuse
        self._snapshot_bytes = max(0, settings.kv_snapshot_mb) << 20 if settings.kv_reuse else 0
        self._states = StateStore(self._snapshot_bytes)  # per-document KV states
        self._cache_key = ""  # the state key of the prompt the KV cache holds
        self._stats = EngineStats()
        self._description = description or model_path.name
        self._evaluated: list[int] = []  # token ids whose KV entries are in the cache
        self._saved_row: _SavedRow | None = None  # the last prompt token's logits
        self._prefill_rate: float | None = None  # tokens/s, measured on full batches
        self._pieces: PieceTable | None = None  # built on first use (token healing)
        self._pieces_lock = threading.Lock()
        self._allowed_arrays: dict[bytes, Any] = {}  # healing text -> numpy ids
        self._policy = DraftPolicy()  # how long a speculative draft pays on this machine
        self._ngrams = NgramDraft()  # the running sequence's n-grams, kept between requests
        self._history: deque[Answer] = deque(maxlen=_HISTORY)  # recent generations
        self._queue = JobQueue(
            self._generate,
            self._stats,
            "cl-lsp-engine",
            lambda _: log.exception("generation failed"),
        )
        log.info("model loaded: %s (n_ctx=%d, threads=%d)", model_path, n_ctx, threads)

    # -- what the service reads -------------------------------------------------------
    @property
    def n_ctx(self) -> int:
        return int(self._llm.n_ctx())

    def reusable_tokens(self, ids: list[int]) -> int:
        """How many leading tokens of `ids` the KV cache or a saved state already holds
        (an estimate from any thread: the worker may be changing both meanwhile)."""
        if not self._kv_reuse:
            return 0
        current = common_prefix_length(list(self._evaluated), ids)
        return max(current, self._states.best_match(ids)[1])

    def tokenize(self, text: str) -> list[int]:
        # Tokenizing reads the vocabulary only, so it is safe outside the worker.
        if not text:
            return []
        data = text.encode("utf-8", "surrogatepass")
        return list(self._llm.tokenize(data, add_bos=False, special=False))

    @property
    def piece_table(self) -> PieceTable:
        """Every token's bytes, for token healing; built once (a few ms per 10k tokens)."""
        with self._pieces_lock:
            if self._pieces is None:
                pieces = [self._piece(token) for token in range(self._n_vocab)]
                self._pieces = PieceTable(pieces, exclude=self._stop_ids)
            return self._pieces

    def detokenize(self, ids: list[int]) -> str:
        return self._llm._model.detokenize(ids, special=False).decode("utf-8", "replace")

    def _eog_ids(self) -> frozenset[int]:
        is_eog = self._llama_cpp.llama_vocab_is_eog
        # Control tokens are few and sit at the ends of the vocabulary; scan all ids once.
        return frozenset(i for i in range(self._n_vocab) if is_eog(self._vocab, i))

    # -- the queue ----------------------------------------------------------------------
    def submit(self, request: GenerationRequest) -> Future[GenerationResult]:
        """Queue a request; a newer one with the same key cancels the older (latest wins)."""
        return self._queue.submit(request)

    def close(self) -> None:
        if self._queue.close():
            self._llm.close()

    # -- generation (worker thread only) -------------------------------------------------
    def _generate(self, request: GenerationRequest) -> GenerationResult:
        ids = request.ids
        if not ids:
            raise EngineError("Empty prompt.")
        if len(ids) + request.max_tokens > self.n_ctx:
            raise EngineError(
                f"Prompt of {len(ids)} tokens plus {request.max_tokens} to generate exceeds "
                f"the context of {self.n_ctx} tokens."
            )
        started = time.perf_counter()
        deadline = started + request.time_limit_s if request.time_limit_s else None
        prefill_deadline = deadline
        if request.prefill_limit_s:
            prefill_deadline = min(deadline or float("inf"), started + request.prefill_limit_s)
        drafts = None
        if request.speculative and not request.warm:
            drafts = self._ngrams
            drafts.sync(ids)
            drafts.set_history(self._history)
        reused, complete, ahead = self._prefill(ids, request, prefill_deadline, drafts)
        prefilled = time.perf_counter()
        healed = False
        tokens: list[int]
        counts = _DecodeCounts(drafted=len(ahead.tokens))
        if request.warm:
            text, tokens, reason = "", [], "warm"
        elif complete:
            text, tokens, reason, healed = self._decode(request, deadline, drafts, ahead, counts)
            if tokens:
                answer = ids[-_HISTORY_PROMPT_TAIL:] + tokens
                self._history.append(Answer(answer, stopped_at_end=reason == "complete"))
        else:  # a slow machine gets no suggestion rather than a hang
            text, tokens, reason = "", [], "time_limit"
        return GenerationResult(
            text=text,
            tokens=tokens,
            prompt_tokens=len(ids),
            reused_tokens=reused,
            prefill_s=prefilled - started,
            generate_s=time.perf_counter() - prefilled,
            stop_reason=reason,
            healed=healed,
            decode_passes=counts.passes,
            drafted=counts.drafted,
            accepted=counts.accepted,
        )

    def _prefill(
        self,
        ids: list[int],
        request: GenerationRequest,
        deadline: float | None,
        drafts: NgramDraft | None,
    ) -> tuple[int, bool, _Draft]:
        # Keep the common prefix; at least the last prompt token is evaluated for its logits
        # (a warm-up needs no logits: it may keep everything).
        common = common_prefix_length(self._evaluated, ids) if self._kv_reuse else 0
        if self._snapshot_bytes:
            common = self._use_snapshot(ids, common)
            self._cache_key = _state_key(request.key, ids)
        saved = self._saved_logits(len(ids) - 1, common)
        whole = request.warm or saved is not None  # no logits needed from a pass
        keep = min(common, len(ids) if whole else len(ids) - 1)
        self._llm.n_tokens = keep
        self._forget(keep)
        start = keep
        ahead = _Draft([], logits=None if request.warm else saved)
        while start < len(ids):
            if request.cancel.is_set():
                raise Cancelled()
            if deadline is not None and time.perf_counter() > deadline:
                return keep, False, ahead
            batch = ids[start : start + self._batch_size()]
            began = time.perf_counter()
            last = start + len(batch) == len(ids)
            if not last or drafts is None:
                self._llm.eval(batch)
                self._evaluated.extend(batch)
                if last:
                    self._save_row(-1)
            else:
                # The prompt's last batch: the first answer tokens may ride along, guessed
                # from what the model answered last time (its marginal cost in a batch is
                # a fraction of a pass of its own).
                ahead = self._draft(drafts, request, 0, len(batch), request.heal_prefix)
                self._eval_rows(batch + ahead.tokens, first_output=len(batch) - 1)
                ahead.row = len(batch) - 1
                self._save_row(ahead.row, position=len(ids) - 1)
                spent = time.perf_counter() - began
                self._policy.record_pass(len(batch) + len(ahead.tokens), spent)
            self._note_rate(len(batch), time.perf_counter() - began)
            start += len(batch)
        return keep, True, ahead

    # -- KV states: places to come back to ------------------------------------------------
    def _use_snapshot(self, ids: list[int], common: int) -> int:
        """Typing somewhere else (a cursor jump, another file) throws away the KV cache of
        where the user was; they usually come back. Save that state (one per document, the
        least recently used dropped out of model.kv_snapshot_mb) before it is lost, and
        restore a saved one when it shares much more with a prompt than the cache does (a
        memcpy instead of a prefill of thousands of tokens)."""
        best, shared = self._states.best_match(ids)
        if best is not None and shared - common >= _SNAPSHOT_MIN_GAIN:
            state = self._states.pop(best)
            assert state is not None
            self._save_state(common)  # the place being left may recur too
            if self._load_state(state):
                self._stats.snapshot_restores += 1
                return shared
            self._forget(0)  # the cache is in an unknown state: start over
            self._llm.n_tokens = 0
            return 0
        self._save_state(common)  # only when this prompt throws away enough (it checks)
        return common

    def _save_state(self, common: int) -> None:
        if len(self._evaluated) - common < _SNAPSHOT_MIN_LOST:
            return  # nothing worth keeping beyond what the new prompt keeps anyway
        lib, ctx = self._llama_cpp, self._llm.ctx
        size = int(lib.llama_state_seq_get_size(ctx, 0))
        if not self._states.fits(size):
            return
        # Reuse the buffer of this document's previous state: allocating hundreds of MB
        # of zeroed memory costs more than the copy.
        data = self._states.spare_buffer(self._cache_key, size) or (ctypes.c_uint8 * size)()
        written = int(lib.llama_state_seq_get_data(ctx, data, size, 0))
        if written <= 0:
            return
        self._states.put(self._cache_key, SavedState(list(self._evaluated), data, written))
        self._stats.snapshot_saves += 1

    def _load_state(self, state: SavedState) -> bool:
        lib = self._llama_cpp
        if int(lib.llama_state_seq_set_data(self._llm.ctx, state.data, state.size, 0)) <= 0:
            log.warning("restoring a KV state failed; evaluating the prompt afresh")
            return False
        self._forget(0)
        self._evaluated = list(state.tokens)
        self._llm.n_tokens = len(state.tokens)
        self._llm.input_ids[: len(state.tokens)] = state.tokens
        return True

    def _batch_size(self) -> int:
        """Prefill batches sized to take about _BATCH_S on this machine, so a newer
        keystroke waits at most that long for the running prefill to notice it is
        cancelled: n_batch tokens take 0.25 s on a fast machine, 3 s on a slow one."""
        if self._prefill_rate is None:
            return min(self._n_batch, _FIRST_BATCH)
        return max(_MIN_BATCH, min(self._n_batch, int(self._prefill_rate * _BATCH_S)))

    def _note_rate(self, tokens: int, seconds: float) -> None:
        if tokens < _MIN_BATCH or seconds <= 0:
            return  # tiny batches measure overhead, not throughput
        rate = tokens / seconds
        previous = self._prefill_rate
        self._prefill_rate = rate if previous is None else 0.7 * previous + 0.3 * rate

    def _piece(self, token: int) -> bytes:
        # The raw piece, leading space kept: a middle that starts with "▁x" means " x".
        buffer = ctypes.create_string_buffer(128)
        n = self._llama_cpp.llama_token_to_piece(self._vocab, token, buffer, 128, 0, False)
        return buffer.raw[: max(n, 0)]

    def _logits(self, row: int = -1) -> Any:
        """The logits of output `row` of the last forward pass (-1: its last)."""
        import numpy as np

        pointer = self._llama_cpp.llama_get_logits_ith(self._llm.ctx, row)
        return np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))

    # -- logits kept between requests ---------------------------------------------------
    def _forget(self, n: int) -> None:
        """Drop our record of the KV entries from position n on (and logits kept for them)."""
        del self._evaluated[n:]
        if self._saved_row is not None and self._saved_row.position >= n:
            self._saved_row = None

    def _save_row(self, row: int, position: int | None = None) -> None:
        """Keep a copy of output `row`'s logits, those of the token at `position` (default:
        the last evaluated): llama.cpp overwrites them at the next pass."""
        import numpy as np

        where = len(self._evaluated) - 1 if position is None else position
        self._saved_row = _SavedRow(where, np.array(self._logits(row), copy=True))

    def _saved_logits(self, position: int, common: int) -> Any:
        """The kept logits of the token at `position`, if the cache still holds the same
        tokens up to it (`common`: how many it shares with the prompt)."""
        saved = self._saved_row
        if saved is None or saved.position != position or common <= position:
            return None
        return saved.logits

    def _choice_logits(self, ahead: _Draft) -> Any:
        return ahead.logits if ahead.logits is not None else self._logits(ahead.row)

    def _next_token(self, ahead: _Draft) -> int:
        import numpy as np

        return int(np.argmax(self._choice_logits(ahead)))

    def _constrained_token(self, pending: bytes, ahead: _Draft) -> int | None:
        """Greedy over the tokens that keep spelling `pending` (token healing)."""
        import numpy as np

        allowed = self._allowed_arrays.get(pending)
        if allowed is None:
            ids = self.piece_table.allowed(pending)
            if not ids:
                return None
            allowed = np.fromiter(ids, dtype=np.int64, count=len(ids))
            if len(self._allowed_arrays) > 256:
                self._allowed_arrays.clear()
            self._allowed_arrays[pending] = allowed
        return int(allowed[int(np.argmax(self._choice_logits(ahead)[allowed]))])

    # -- speculative decoding: KV bookkeeping --------------------------------------------
    def _eval_rows(self, batch: list[int], first_output: int) -> None:
        """Evaluate `batch` in one forward pass keeping the logits of its rows from
        `first_output` on (Llama.eval keeps the last only: the context is created without
        logits_all; the prompt's rows before a draft need none)."""
        llm = self._llm
        n_past = llm.n_tokens
        llm._ctx.kv_cache_seq_rm(-1, n_past, -1)
        llm._batch.set_batch(batch=batch, n_past=n_past, logits_all=False)
        for i in range(first_output, len(batch)):
            llm._batch.batch.logits[i] = True
        llm._ctx.decode(llm._batch)
        llm.input_ids[n_past : n_past + len(batch)] = batch
        llm.n_tokens = n_past + len(batch)
        self._evaluated.extend(batch)

    def _truncate(self, n: int) -> None:
        """Forget the KV entries from position n on (a rejected draft): the cache, the
        Llama's own token record and ours stay the same sequence."""
        self._forget(n)
        self._llm.n_tokens = n
        self._llm._ctx.kv_cache_seq_rm(-1, n, -1)

    def _draft(
        self,
        drafts: NgramDraft,
        request: GenerationRequest,
        chosen: int,
        base: int,
        pending: bytes,
    ) -> _Draft:
        """The draft worth verifying alongside a pass over `base` tokens (the policy
        weighs what such passes cost here against how often such drafts hold).
        `pending`: healed text still to spell; a drafted token that cannot spell it
        cannot be chosen (a keystroke inside a word that the last answer did not
        predict), so the draft ends before it."""
        # A draft token is worth evaluating only if a choice follows it: `chosen` counts
        # the non-healing tokens chosen so far (the prefill's pass gives the first).
        later_choices = request.max_tokens - chosen - 1
        room = self.n_ctx - len(self._evaluated) - base
        limit = max(0, min(_DRAFT_MAX, later_choices, room, self._n_batch - base))
        guess, key = drafts.lookup(limit)
        for i, token in enumerate(guess):
            if not pending:
                break
            try:
                pending, _ = spell(pending, self._piece(token))
            except ValueError:
                guess = guess[:i]
                break
        return _Draft(guess[: self._policy.length(len(guess), key, base)], key=key)

    def _decode(
        self,
        request: GenerationRequest,
        deadline: float | None,
        drafts: NgramDraft | None,
        ahead: _Draft,
        counts: _DecodeCounts,
    ) -> tuple[str, list[int], str, bool]:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        text = ""
        tokens: list[int] = []
        reason = "max_tokens"
        stops = self._stop_ids | request.stop_ids
        pending = request.heal_prefix
        healing_steps = 0  # tokens spent spelling the healed text are not new text
        # Speculation: `ahead` holds drafted tokens evaluated after the current position
        # but not yet chosen (the prefill may have started one); its row gives the choice.
        # Each healing step spells at least one byte, so this bound is never the limit.
        for _ in range(request.max_tokens + len(pending)):
            if len(tokens) - healing_steps >= request.max_tokens:
                break
            if request.cancel.is_set():
                raise Cancelled()
            if deadline is not None and time.perf_counter() > deadline:
                reason = "time_limit"
                break
            if pending:
                constrained = self._constrained_token(pending, ahead)
                if constrained is None:  # the vocabulary cannot spell it: give up healing
                    reason = "heal_failed"
                    break
                token = constrained
                healing_steps += 1
            else:
                token = self._next_token(ahead)
            if token in stops:
                reason = "stop_token"
                break
            tokens.append(token)
            raw = self._piece(token)
            pending, new = spell(pending, raw) if pending else (b"", raw)
            piece = decoder.decode(new) if new else ""
            text += piece
            if piece and request.should_stop is not None and request.should_stop(piece):
                reason = "complete"
                break
            if drafts is not None:
                drafts.append(token)
            if ahead.tokens and ahead.tokens[0] == token:  # the draft was right: evaluated
                ahead.tokens.pop(0)
                ahead.row += 1
                ahead.verified += 1
                counts.accepted += 1
                if not ahead.tokens:
                    self._policy.record_draft(ahead.key, ahead.verified, ahead.verified)
                continue
            if ahead.tokens:  # the draft went wrong here: its tail is not this sequence
                drafted = ahead.verified + len(ahead.tokens)
                self._policy.record_draft(ahead.key, drafted, ahead.verified)
                self._truncate(len(self._evaluated) - len(ahead.tokens))
            if len(tokens) - healing_steps >= request.max_tokens:
                break  # the last choice is made: evaluating it would only warm the cache
            counts.passes += 1
            began = time.perf_counter()
            ahead = _Draft([])
            if drafts is not None:
                chosen = len(tokens) - healing_steps
                ahead = self._draft(drafts, request, chosen, 1, pending)
            if ahead.tokens:
                self._eval_rows([token, *ahead.tokens], first_output=0)
                ahead.row = 0
                counts.drafted += len(ahead.tokens)
            else:
                self._llm.eval([token])
                self._evaluated.append(token)
            self._policy.record_pass(1 + len(ahead.tokens), time.perf_counter() - began)
        healed = bool(request.heal_prefix) and not pending
        return text, tokens, reason, healed

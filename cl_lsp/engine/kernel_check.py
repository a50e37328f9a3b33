"""Does this llama.cpp build compute a position alike in one-token and batched passes?

Speculative decoding verifies drafted tokens in one multi-token pass, plain decoding
evaluates one token a pass. Greedy choice over the same logits gives the same tokens, so
speculation is exact wherever the two kinds of pass give bit-identical logits; llama.cpp
picks different kernels by batch size (on CPU, llamafile's tinyBLAS and repacked weights
serve only passes of 2+ tokens), and then near-ties may resolve differently. `cl-lsp
doctor` reports the measured difference.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cl_lsp.config import ModelSettings


def batch_logit_difference(path: Path, settings: ModelSettings, text: str, batch: int = 4) -> float:
    """The largest difference between the logits of the last `batch` tokens of `text`
    evaluated in one pass and the same tokens evaluated one pass each (0.0: identical)."""
    import llama_cpp
    import numpy as np

    from cl_lsp.engine.llama_engine import open_llama

    # The engine's own set-up (threads do not change the sums: each logit is one
    # thread's dot product), with a context just big enough for the sample.
    llm = open_llama(path, settings, n_ctx=512, n_batch=64)
    try:
        ids = llm.tokenize(text.encode("utf-8"), add_bos=True)[:256]
        if len(ids) <= batch:
            raise ValueError(f"need more than {batch} tokens of text, got {len(ids)}")
        head, tail = ids[:-batch], ids[-batch:]
        llm.eval(head)
        start = llm.n_tokens
        n_vocab = llm.n_vocab()

        def rows(pass_sizes: list[int]) -> list[Any]:
            """Evaluate `tail` from `start` in passes of these sizes, every row's logits."""
            llm._ctx.kv_cache_seq_rm(-1, start, -1)
            out: list[Any] = []
            at = 0
            for size in pass_sizes:
                llm._batch.set_batch(batch=tail[at : at + size], n_past=start + at, logits_all=True)
                llm._ctx.decode(llm._batch)
                for row in range(size):
                    pointer = llama_cpp.llama_get_logits_ith(llm.ctx, row)
                    out.append(np.ctypeslib.as_array(pointer, shape=(n_vocab,)).copy())
                at += size
            return out

        together = rows([batch])
        alone = rows([1] * batch)
        return max(float(np.abs(a - b).max()) for a, b in zip(together, alone, strict=True))
    finally:
        llm.close()

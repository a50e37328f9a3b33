"""`cl-lsp doctor`: what cl-lsp would run with, checked end to end.

Prints the inference backend (CPU/Metal/CUDA, from llama.cpp itself), threads, the model
(resolution source and GGUF metadata: family, FIM tokens, trained context, RoPE base),
the workspace index of a root, and a timed test completion. Every problem comes with a
fix; the exit status is 1 when there was a problem, 0 otherwise (warnings do not count).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path
from typing import TextIO

from cl_lsp import __version__
from cl_lsp.config import Settings

SAMPLE = (
    "def fibonacci(n):\n"
    '    """Return the n-th Fibonacci number."""\n'
    "    if n < 2:\n"
    "        return n\n"
    "    return \n"
)
SAMPLE_CURSOR = len(SAMPLE) - 1  # after "return "


class Report:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.problems: list[tuple[str, str]] = []
        self.warnings: list[str] = []

    def section(self, title: str) -> None:
        print(f"\n== {title}", file=self.out)

    def line(self, text: str) -> None:
        print(text, file=self.out)

    def problem(self, message: str, fix: str) -> None:
        self.problems.append((message, fix))
        print(f"PROBLEM: {message}\n  fix: {fix}", file=self.out)

    def warn(self, message: str) -> None:
        self.warnings.append(message)
        print(f"warning: {message}", file=self.out)


def backend_info() -> tuple[str, str]:
    """("cpu" | "cuda" | "metal" | "vulkan" | "gpu", llama.cpp's system info line)."""
    import llama_cpp

    system = llama_cpp.llama_print_system_info().decode("utf-8", "replace").strip()
    if not llama_cpp.llama_supports_gpu_offload():
        return "cpu", system
    upper = system.upper()
    for name in ("CUDA", "METAL", "VULKAN", "HIP", "SYCL"):
        if name in upper:
            return name.lower(), system
    if sys.platform == "darwin":
        return "metal", system
    return "gpu", system


def run(settings: Settings, args: argparse.Namespace, out: TextIO | None = None) -> int:
    report = Report(out or sys.stdout)
    report.line(f"cl-lsp {__version__}, Python {platform.python_version()} ({sys.executable})")
    _backend(report, settings)
    engine_ok = _model(report, settings)
    _index(report, settings, Path(args.root) if getattr(args, "root", None) else Path.cwd())
    if engine_ok and not getattr(args, "no_completion", False):
        _completion(report, settings)
    _statistics(report, settings)
    report.section("summary")
    if report.problems:
        report.line(f"{len(report.problems)} problem(s):")
        for message, fix in report.problems:
            report.line(f"- {message}\n  fix: {fix}")
        return 1
    report.line("ok" + (f" ({len(report.warnings)} warning(s))" if report.warnings else ""))
    return 0


def _backend(report: Report, settings: Settings) -> None:
    from cl_lsp.engine.llama_engine import default_threads

    report.section("backend")
    try:
        import llama_cpp
    except ImportError as error:
        report.problem(
            f"llama-cpp-python is not importable: {error}",
            "run `bash packaging/build-llama-cpp.sh` (or `pip install llama-cpp-python`)",
        )
        return
    kind, system = backend_info()
    report.line(f"llama-cpp-python {llama_cpp.__version__}: {kind}")
    report.line(f"llama.cpp:       {system}")
    threads = settings.model.n_threads or default_threads()
    source = "model.n_threads" if settings.model.n_threads else "default: half the cores, max 8"
    report.line(f"threads:         {threads} ({source}; {os.cpu_count()} cores)")
    if settings.model.backend == "remote":
        report.line(f"model.backend:   remote ({settings.model.endpoint})")
    if kind == "cpu" and settings.model.n_gpu_layers:
        report.warn(
            f"model.n_gpu_layers is {settings.model.n_gpu_layers} but this llama.cpp build "
            "has no GPU backend; rebuild with CL_LSP_BACKEND=cuda|metal "
            "bash packaging/build-llama-cpp.sh"
        )
    if kind != "cpu" and not settings.model.n_gpu_layers:
        report.warn(f"a {kind} build, but model.n_gpu_layers is 0: set it to -1 to offload")


def _model(report: Report, settings: Settings) -> bool:
    """Resolve and check the model; True when an engine can be tried."""
    from cl_lsp.engine.base import EngineError
    from cl_lsp.engine.gguf_info import describe
    from cl_lsp.engine.loader import inspect_model, resolve_model

    report.section("model")
    if settings.model.backend == "remote":
        report.line(f"remote endpoint {settings.model.endpoint}; tokenizer checked below")
        return True
    try:
        resolved = resolve_model(settings.model)
        report.line(f"resolved from:  {resolved.source}")
        if resolved.note:
            report.warn(resolved.note)
        info = inspect_model(resolved.path)
    except EngineError as error:
        report.problem(error.message, error.fix)
        return False
    report.line(describe(info))
    if not info.has_fim:
        report.warn(
            "this model has no fill-in-the-middle tokens: completions see the prefix only; "
            "`cl-lsp model pull codellama-7b` gets one that infills"
        )
    if resolved.source == "embedded":
        report.warn("the embedded SmolLM2-135M is a smoke-test model; its suggestions are weak")
    return True


def _index(report: Report, settings: Settings, root: Path) -> None:
    from cl_lsp.repository import Repository, default_cache_dir

    report.section(f"index of {root}")
    if not settings.context.enabled:
        report.line("context.enabled is false: no repository context")
        return
    if not root.is_dir():
        report.problem(f"{root} is not a directory", "pass --root DIR")
        return
    started = time.perf_counter()
    workspace = Repository(root, default_cache_dir(), settings.context.ignore)
    try:
        workspace.index.scan()
        stats = workspace.index.stats()
    except Exception as error:
        report.problem(f"indexing {root} failed: {error}", "check the folder's permissions")
        return
    finally:
        workspace.close()
    seconds = time.perf_counter() - started
    report.line(
        f"{stats.get('files', 0)} files, {stats.get('definitions', 0)} definitions "
        f"({stats.get('parsed', 0)} parsed, {stats.get('reused', 0)} from the cache) "
        f"in {seconds:.2f} s; cache {default_cache_dir()}"
    )
    skipped = stats.get("skipped")
    if isinstance(skipped, dict) and skipped:
        report.line("skipped: " + ", ".join(f"{k} {v}" for k, v in skipped.items()))


def _completion(report: Report, settings: Settings) -> None:
    from cl_lsp.engine.base import EngineError
    from cl_lsp.engine.loader import load_engine
    from cl_lsp.service import CompletionRequest, CompletionService

    report.section("test completion")
    started = time.perf_counter()
    try:
        engine, _info = load_engine(settings.model)
    except EngineError as error:
        report.problem(error.message, error.fix)
        return
    except Exception as error:
        report.problem(f"loading the engine failed: {error}", "run with -vv for details")
        return
    loaded = time.perf_counter()
    report.line(f"engine:  {engine.description} (ready in {loaded - started:.2f} s)")
    try:
        service = CompletionService(engine, settings, None)
        request = CompletionRequest(SAMPLE, SAMPLE_CURSOR, "doctor.py", "python")
        completion = service.complete(request)
    except Exception as error:
        report.problem(
            f"the test completion failed: {error}",
            "check the model (and, for a remote backend, the server's log)",
        )
        return
    finally:
        engine.close()
    total = time.perf_counter() - loaded
    result = completion.result
    report.line(f"prompt:  ...{SAMPLE[SAMPLE_CURSOR - 20 : SAMPLE_CURSOR]!r}<cursor>")
    report.line(f"answer:  {completion.text!r}")
    if result is None:
        report.warn("the completion planner decided not to run the model here")
        return
    per_token = result.generate_s / len(result.tokens) * 1000 if result.tokens else 0.0
    report.line(
        f"timing:  {total * 1000:.0f} ms end to end; prefill {result.prompt_tokens} tokens in "
        f"{result.prefill_s * 1000:.0f} ms, {len(result.tokens)} tokens generated in "
        f"{result.generate_s * 1000:.0f} ms ({per_token:.0f} ms/token), stop: {result.stop_reason}"
    )
    if result.stop_reason == "time_limit":
        report.warn(
            f"the test hit completion.time_limit_ms ({settings.completion.time_limit_ms}); "
            "this machine is slow for this model: a smaller quantization or model, or a GPU"
        )
    if settings.completion.speculative and settings.model.backend != "remote":
        _speculation(report, settings)


def _speculation(report: Report, settings: Settings) -> None:
    """Whether speculative answers are the plain greedy ones bit for bit here: that holds
    where batched and one-token passes compute the same logits (a property of the build
    and of the weights' format, measured rather than assumed)."""
    from cl_lsp.engine.kernel_check import batch_logit_difference
    from cl_lsp.engine.loader import resolve_model_path

    try:
        difference = batch_logit_difference(
            resolve_model_path(settings.model), settings.model, SAMPLE
        )
    except Exception as error:  # a diagnostic of a diagnostic must not fail the doctor
        report.warn(f"could not compare batched and one-token passes: {error}")
        return
    if difference == 0.0:
        report.line(
            "speculation: batched and one-token passes give identical logits here, so "
            "speculative answers are exactly the plain greedy ones"
        )
    else:
        report.line(
            f"speculation: batched passes differ from one-token passes by up to "
            f"{difference:.3g} in a logit (llama.cpp picks kernels by batch size): "
            "speculative answers equal the plain greedy ones except at near-ties; "
            "completion.speculative=false, or on CPU the CL_LSP_BACKEND=cpu-exact build "
            "(exact for Q4_1-type weights), if you need them bit for bit"
        )


def _statistics(report: Report, settings: Settings) -> None:
    """What the user accepted in the last 7 days (`cl-lsp stats`); never a problem."""
    from cl_lsp.acceptance.report import read, text

    report.section("acceptance (last 7 days)")
    try:
        report.line(text(read(settings.stats, 7 * 86400.0)))
    except Exception as error:  # statistics must not fail the doctor
        report.warn(f"cannot read the acceptance statistics: {error}")

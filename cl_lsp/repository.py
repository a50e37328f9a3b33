"""The repository behind the editor: its index, kept fresh from disk by watchdog.

The initial scan runs in a background thread (completions are served meanwhile, with
whatever is indexed so far). Disk changes come from watchdog and, when the client offers
it, from workspace/didChangeWatchedFiles; both go through `file_changed`. If the OS runs
out of inotify watches, we fall back to polling and say so once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from cl_lsp.core.index import RepositoryIndex

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
Notice = Callable[[str], None]


def default_cache_dir() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("cl-lsp") / "index"


class Repository:
    def __init__(
        self,
        root: Path,
        cache_dir: Path | None = None,
        ignore: list[str] | None = None,
        own_paths: list[Path] | None = None,
    ) -> None:
        self.root = root.resolve()
        # The root as the editor named it: a path under it that resolves elsewhere leads out
        # through a link (the root itself may be a link, e.g. /tmp on macOS).
        self.named_root = root.absolute()
        # What the server itself writes (its log, the prompt log, caches): a change there
        # is never a workspace change. A log file inside the workspace would otherwise
        # log its own change events, each a new change (a feedback loop).
        self.own_paths = tuple(_resolved(p) for p in (own_paths or []))
        self.index = RepositoryIndex(self.root, cache_dir, ignore=list(ignore or []))
        self.scanned = threading.Event()
        self._cancel = threading.Event()
        self._observer: object | None = None

    # -- scanning -----------------------------------------------------------------------
    def start_scan(
        self, progress: Progress | None = None, done: Callable[[], None] | None = None
    ) -> None:
        def run() -> None:
            try:
                self.index.scan(progress=progress, cancel=self._cancel)
            except Exception:  # a broken file system must not take the server down
                log.exception("workspace scan failed")
            finally:
                self.scanned.set()
                if done is not None:
                    done()

        threading.Thread(target=run, name="cl-lsp-scan", daemon=True).start()

    def rel_path(self, path: Path | str) -> str | None:
        """The workspace-relative POSIX path, or None for a path outside the root."""
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except (ValueError, OSError):
            return None

    # -- disk changes ---------------------------------------------------------------------
    def is_own(self, path: Path | str) -> bool:
        """Whether `path` is one of the server's own files, or inside its own folders."""
        resolved = _resolved(Path(path))
        return any(resolved == own or own in resolved.parents for own in self.own_paths)

    def file_changed(self, path: Path | str) -> None:
        """Re-read one file from disk (or drop it when it is gone)."""
        if self.is_own(path):
            return
        rel = self.rel_path(path)
        if rel is None or not self.index.should_index(rel):
            return
        full = self.root / rel
        try:
            data: bytes | None = full.read_bytes() if full.is_file() else None
        except OSError:
            data = None
        self.index.update_file(rel, data)

    def watch(self, notice: Notice | None = None) -> None:
        """Start watchdog on the root; polling when inotify watches run out."""
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
            from watchdog.observers.polling import PollingObserver
        except ImportError:  # pragma: no cover - a hard dependency, but never fatal
            log.warning("watchdog is not installed: disk changes are picked up on save only")
            return

        workspace = self

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.is_directory or event.event_type in ("opened", "closed_no_write"):
                    return
                for attr in ("src_path", "dest_path"):
                    path = getattr(event, attr, "")
                    if path:
                        workspace.file_changed(path if isinstance(path, str) else path.decode())

        handler = Handler()
        try:
            observer = Observer()
            observer.schedule(handler, str(self.root), recursive=True)
            observer.start()
        except OSError as error:
            message = (
                f"cl-lsp: cannot watch {self.root} with the OS file watcher ({error}); "
                "polling for changes instead. Raise fs.inotify.max_user_watches to fix this."
            )
            log.warning(message)
            if notice is not None:
                notice(message)
            observer = PollingObserver(timeout=5)
            observer.schedule(handler, str(self.root), recursive=True)
            observer.start()
        self._observer = observer

    def close(self) -> None:
        self._cancel.set()
        observer = self._observer
        if observer is not None:
            observer.stop()  # type: ignore[attr-defined]
        self.index.close()


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except OSError:
        return path.absolute()

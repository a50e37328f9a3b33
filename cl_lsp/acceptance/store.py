"""The statistics database: SQLite under the user data dir, bounded, written by one
background thread in batches so that no keystroke ever waits for the disk.

Several servers (editor windows) may share the file: WAL mode and a busy timeout let them
write in turn. A failing database only loses statistics, never a completion."""

from __future__ import annotations

import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from cl_lsp.acceptance.summary import ACCEPTED, PARTIAL, Record

log = logging.getLogger(__name__)

DATA_DIR_ENV = "CL_LSP_DATA_DIR"
T = TypeVar("T")

SCHEMA = """
CREATE TABLE IF NOT EXISTS suggestions (
    seq INTEGER PRIMARY KEY,          -- insertion order; pruning drops the lowest
    id TEXT UNIQUE NOT NULL,          -- what the item's accept command carries
    ts REAL NOT NULL,                 -- unix time shown
    language TEXT NOT NULL,
    model TEXT NOT NULL,
    layout TEXT NOT NULL,
    source TEXT NOT NULL,             -- model | typed | lru
    latency_ms REAL NOT NULL,
    chars INTEGER NOT NULL,
    accepted INTEGER NOT NULL DEFAULT 0,  -- 0 no, 1 whole, 2 partly
    accepted_chars INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS suggestions_ts ON suggestions (ts);
"""


def default_path() -> Path:
    """`$CL_LSP_DATA_DIR/stats.sqlite3`, else the platform's user data dir."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override) / "stats.sqlite3"
    from platformdirs import user_data_path

    return user_data_path("cl-lsp") / "stats.sqlite3"


class StatsStore:
    """Writes queue up and go to disk together (at most `linger_s` later); reads run on
    the same thread after the pending writes, so they see everything recorded before."""

    def __init__(self, path: Path, max_rows: int = 100_000, linger_s: float = 0.5) -> None:
        self.path = path
        self.max_rows = max(1, max_rows)
        self.linger_s = linger_s
        self._queue: queue.Queue[tuple[str, Any, Future[Any] | None]] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="cl-lsp-stats", daemon=True)
        self._closed = False
        self._thread.start()

    # -- called from any thread; never blocks on the disk --------------------------------
    def shown(self, id_: str, record: Record, ts: float | None = None) -> None:
        self._put("shown", (id_, time.time() if ts is None else ts, record))

    def accepted(self, id_: str, chars: int | None) -> None:
        """A whole suggestion (`chars` None) or `chars` characters of it (a word, a line)."""
        self._put("accepted", (id_, chars))

    def call(self, job: Callable[[sqlite3.Connection], T]) -> Future[T]:
        """Run `job` with the connection on the writer thread, after pending writes."""
        future: Future[T] = Future()
        if self._closed:
            future.set_exception(RuntimeError("the statistics store is closed"))
        else:
            self._queue.put(("call", job, future))
        return future

    def records(self, since_s: float | None = None) -> Future[list[Record]]:
        """Suggestions shown in the last `since_s` seconds (None: all kept), oldest first."""
        cutoff = 0.0 if since_s is None else time.time() - since_s

        def read(db: sqlite3.Connection) -> list[Record]:
            rows = db.execute(
                "SELECT language, model, layout, source, latency_ms, chars, accepted,"
                " accepted_chars FROM suggestions WHERE ts >= ? ORDER BY seq",
                (cutoff,),
            )
            return [Record(*row) for row in rows]

        return self.call(read)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is pending and stop the thread (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(("close", None, None))
        self._thread.join(timeout)

    def _put(self, kind: str, payload: Any) -> None:
        if not self._closed:
            self._queue.put((kind, payload, None))

    # -- the writer thread --------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, timeout=2.0, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.executescript(SCHEMA)
        return db

    def _run(self) -> None:
        try:
            db = self._connect()
        except (OSError, sqlite3.Error) as error:
            log.warning("statistics off: cannot open %s: %s", self.path, error)
            self._drain_failing(error)
            return
        try:
            while True:
                kind, payload, future = self._queue.get()
                batch = [(kind, payload, future)]
                if kind in ("shown", "accepted"):
                    # Linger for more writes: one transaction for a burst of keystrokes.
                    deadline = time.monotonic() + self.linger_s
                    while len(batch) < 512:
                        try:
                            item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                        except queue.Empty:
                            break
                        batch.append(item)
                        if item[0] not in ("shown", "accepted"):
                            break
                if not self._apply(db, batch):
                    return
        finally:
            db.close()

    def _apply(self, db: sqlite3.Connection, batch: list[tuple[str, Any, Any]]) -> bool:
        """Write the batch's records in one transaction, then run its call or close."""
        writes = [item for item in batch if item[0] in ("shown", "accepted")]
        if writes:
            try:
                with db:
                    db.execute("BEGIN")
                    for kind, payload, _ in writes:
                        if kind == "shown":
                            self._insert(db, *payload)
                        else:
                            self._accept(db, *payload)
                    db.execute(
                        "DELETE FROM suggestions WHERE seq <= "
                        "(SELECT MAX(seq) FROM suggestions) - ?",
                        (self.max_rows,),
                    )
            except sqlite3.Error as error:
                log.warning("statistics: writing %d records failed: %s", len(writes), error)
        last_kind, job, future = batch[-1]
        if last_kind == "close":
            return False
        if last_kind == "call" and future is not None:
            try:
                future.set_result(job(db))
            except Exception as error:  # a reader's error goes to the reader
                future.set_exception(error)
        return True

    @staticmethod
    def _insert(db: sqlite3.Connection, id_: str, ts: float, record: Record) -> None:
        db.execute(
            "INSERT OR IGNORE INTO suggestions (id, ts, language, model, layout, source,"
            " latency_ms, chars, accepted, accepted_chars) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (
                id_,
                ts,
                record.language,
                record.model,
                record.layout,
                record.source,
                record.latency_ms,
                record.chars,
                record.accepted,
                record.accepted_chars,
            ),
        )

    @staticmethod
    def _accept(db: sqlite3.Connection, id_: str, chars: int | None) -> None:
        if chars is None:  # the whole suggestion; a later whole accept wins over a partial
            db.execute(
                "UPDATE suggestions SET accepted = ?, accepted_chars = chars WHERE id = ?",
                (ACCEPTED, id_),
            )
        else:  # partial accepts of one suggestion grow (word, then the next word ...)
            db.execute(
                "UPDATE suggestions SET accepted = ?, accepted_chars = MIN(chars, MAX("
                "accepted_chars, ?)) WHERE id = ? AND accepted != ?",
                (PARTIAL, max(0, chars), id_, ACCEPTED),
            )

    def _drain_failing(self, error: Exception) -> None:
        while True:
            kind, _, future = self._queue.get()
            if future is not None:
                future.set_exception(RuntimeError(f"statistics unavailable: {error}"))
            if kind == "close":
                return

"""The server's side of acceptance statistics: an id for every suggestion shown, the
accept command's record, the figures for `cl-lsp.stats`, and the quiet-context rule.

Everything here is called on the event loop and returns at once; the database work runs
on the store's thread."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from cl_lsp.acceptance.store import StatsStore, default_path
from cl_lsp.acceptance.streaks import Streaks
from cl_lsp.acceptance.summary import Record, summarize
from cl_lsp.config import StatsSettings

log = logging.getLogger(__name__)

ACCEPT_COMMAND = "cl-lsp.accepted"
_REMEMBERED_IDS = 4096  # id -> language of recent suggestions, to reset their streak


class Recorder:
    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._store: StatsStore | None = None
        self._lock = threading.Lock()
        self._streaks: Streaks | None = None  # None until the history is read
        self._early: list[tuple[str, bool]] = []  # events before that
        self._languages: OrderedDict[str, str] = OrderedDict()

    def _open(self, settings: StatsSettings) -> StatsStore | None:
        if not settings.enabled:
            return None
        if self._store is None:
            self._store = StatsStore(self._path or default_path(), settings.max_rows)
            log.info("acceptance statistics in %s", self._store.path)
            self._store.call(_history).add_done_callback(self._loaded)
        else:
            self._store.max_rows = max(1, settings.max_rows)
        return self._store

    def _loaded(self, future: Future[list[tuple[str, bool]]]) -> None:
        try:
            history = future.result()
        except Exception as error:
            log.warning("statistics: reading the history failed: %s", error)
            history = []
        with self._lock:
            self._streaks = Streaks.replay(history + self._early)
            self._early = []

    def _note(self, language: str, accepted: bool) -> None:
        with self._lock:
            if self._streaks is None:
                self._early.append((language, accepted))
            elif accepted:
                self._streaks.accepted(language)
            else:
                self._streaks.shown(language)

    def shown(self, settings: StatsSettings, record: Record) -> str | None:
        """Record a suggestion shown; its id for the item's accept command (None: off)."""
        store = self._open(settings)
        if store is None:
            return None
        id_ = uuid.uuid4().hex[:16]
        store.shown(id_, record)
        self._languages[id_] = record.language
        while len(self._languages) > _REMEMBERED_IDS:
            self._languages.popitem(last=False)
        self._note(record.language, accepted=False)
        return id_

    def accepted(self, settings: StatsSettings, id_: str, chars: int | None = None) -> bool:
        """The client ran the item's accept command: whole (`chars` None) or partly."""
        store = self._open(settings)
        if store is None:
            return False
        store.accepted(id_, chars)
        language = self._languages.get(id_)
        if language is not None:
            self._note(language, accepted=True)
        return True

    def quiet(self, settings: StatsSettings, language: str) -> bool:
        """Whether automatic requests in `language` get no answer (`stats.quiet_after`)."""
        if not settings.enabled or settings.quiet_after <= 0:
            return False
        self._open(settings)
        with self._lock:
            return self._streaks is not None and self._streaks.quiet(language, settings.quiet_after)

    def quiet_languages(self, settings: StatsSettings) -> list[tuple[str, int]]:
        threshold = settings.quiet_after if settings.quiet_after > 0 else QUIET_REPORT
        with self._lock:
            return self._streaks.quiet_languages(threshold) if self._streaks else []

    def summary(self, settings: StatsSettings, since_s: float | None) -> Future[dict[str, Any]]:
        """The figures for a period, computed on the store's thread after pending writes."""
        store = self._open(settings)
        result: Future[dict[str, Any]] = Future()
        if store is None:
            result.set_result({"enabled": False})
            return result

        def done(records: Future[list[Record]]) -> None:
            # On the store's thread, after the history was read: streaks are complete.
            quiet = self.quiet_languages(settings)
            try:
                data = summarize(records.result(), since_s).as_dict()
            except Exception as error:
                result.set_exception(error)
                return
            data["enabled"] = True
            data["path"] = str(store.path)
            data["quiet_after"] = settings.quiet_after
            data["quiet"] = [{"language": lang, "streak": n} for lang, n in quiet]
            result.set_result(data)

        store.records(since_s).add_done_callback(done)
        return result

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


# With the rule off, `stats` and `doctor` still name a language after this many
# suggestions in a row without an accept, so the user can decide.
QUIET_REPORT = 50


def _history(db: Any) -> list[tuple[str, bool]]:
    rows = db.execute("SELECT language, accepted FROM suggestions ORDER BY seq")
    return [(language, bool(accepted)) for language, accepted in rows]

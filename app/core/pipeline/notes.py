"""The left-out memo: what the last full scan of each folder left out and why."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from pathlib import Path

from app.core.durable import write_json_atomic

log = logging.getLogger(__name__)

NOTES_FILE = "left_out.json"  # in the data folder


class ScanNotes:
    """What the last full scan of each folder left out and why (videos, broken links, pipes,
    unreadable folders), kept in our data folder so `Library.skipped` can list them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, list[tuple[str, str]]] | None = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, list[tuple[str, str]]]:
        if self._data is None:
            try:
                data = json.loads(self.path.read_text(encoding="utf-8"))
                self._data = {str(k): [(str(p), str(r)) for p, r in v] for k, v in data.items()}
            except (OSError, ValueError, TypeError, AttributeError):
                self._data = {}  # missing or damaged: the next full scan lists them again
        return self._data

    def get(self, folder_ids: Iterable[int]) -> list[tuple[str, str]]:
        """(path, reason) left out in these folders, by path."""
        with self._lock:
            data = self._load()
            return sorted(n for i in folder_ids for n in data.get(str(i), []))

    def record(self, folder_id: int, notes: list[tuple[str, str]]) -> None:
        with self._lock:
            data = self._load()
            if data.get(str(folder_id), []) == notes:
                return
            if notes:
                data[str(folder_id)] = notes
            else:
                data.pop(str(folder_id), None)
            self._save(data)

    def forget(self, folder_id: int) -> None:
        self.record(folder_id, [])

    def _save(self, data: dict[str, list[tuple[str, str]]]) -> None:
        try:
            write_json_atomic(self.path, data, durable=False)
        except OSError as e:
            log.warning("cannot record the files left out in %s: %s", self.path, e)

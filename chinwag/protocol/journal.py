"""The durable outbox: sends the server has not answered yet, on disk, so a
client that crashes or quits with lines pending sends them at its next start,
each once (the server answers a `cmid` it has already stored with the
original message).

One append-only file per server and user, one JSON object per line:
`{"add": cmid, "to", "text", "reply_to", "ts"}` when a line is queued (written
and fsynced before the send goes out) and `{"done": cmid}` when the server
answered it (accepted or refused for good). A line torn by a crash is the
last one and is skipped. `load` keeps what is still pending and rewrites the
file with only that (write, fsync, rename), so it never grows without bound.

Exactly once holds while the server remembers the cmid (`limits.CMID_TTL_S`,
a day): a line pending longer than that is still sent — a duplicate is
better than a lost message — and may then be stored twice.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any


@dataclass(frozen=True, slots=True)
class PendingSend:
    cmid: str
    to: str
    text: str
    reply_to: str | None = None
    ts: float = 0.0  # when it was queued (Unix seconds)


class SendJournal:
    """The pending sends of one user on one server, in the order queued."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._pending: dict[str, PendingSend] = {}

    def load(self) -> list[PendingSend]:
        """The sends still pending from before (oldest first); compacts the
        file to them. Call once, before `add`."""
        self._pending = {}
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            record = _record(line)
            if record is None:
                continue
            if "add" in record:
                entry = _entry(record)
                if entry is not None:
                    self._pending[entry.cmid] = entry
            elif type(record.get("done")) is str:
                self._pending.pop(record["done"], None)
        self._rewrite()
        return list(self._pending.values())

    def add(self, entry: PendingSend) -> None:
        """Record a send before it goes out: on disk (fsynced) when this returns."""
        self._pending[entry.cmid] = entry
        self._append(_added(entry))
        file = self._open()
        os.fsync(file.fileno())

    def done(self, cmid: str) -> None:
        """The server answered it. Not fsynced: if this record is lost, the
        send goes again with its cmid and the server stores it once."""
        if self._pending.pop(cmid, None) is not None:
            self._append({"done": cmid})

    def __len__(self) -> int:
        return len(self._pending)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open(self) -> IO[str]:
        if self._file is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)  # the lines are private
            self._file = os.fdopen(fd, "a", encoding="utf-8")
        return self._file

    def _append(self, record: dict[str, Any]) -> None:
        file = self._open()
        file.write(_line(record))
        file.flush()

    def _rewrite(self) -> None:
        """Replace the file with only the pending sends, atomically."""
        self.close()
        if not self._pending and not self.path.exists():
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.writelines(_line(_added(e)) for e in self._pending.values())
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, self.path)


def _added(e: PendingSend) -> dict[str, Any]:
    return {"add": e.cmid, "to": e.to, "text": e.text, "reply_to": e.reply_to, "ts": e.ts}


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"


def _record(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None  # torn by a crash mid-write
    return record if isinstance(record, dict) else None


def _entry(record: dict[str, Any]) -> PendingSend | None:
    cmid, to, text, reply_to, ts = (record.get(k) for k in ("add", "to", "text", "reply_to", "ts"))
    if type(cmid) is not str or type(to) is not str or type(text) is not str:
        return None
    return PendingSend(
        cmid,
        to,
        text,
        reply_to if type(reply_to) is str else None,
        float(ts) if isinstance(ts, (int, float)) else time.time(),
    )

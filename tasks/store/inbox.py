"""The drop zone and its claims: ``inbox/`` and ``claimed/``.

A claim makes one worker the owner of one dropped file, exactly once:

- local folder: ``inbox/<name>`` is renamed to ``claimed/<claim id>__<name>``; whoever
  renames first owns it (the file leaves the user's folder at once);
- object storage: no rename, so the claim is a marker ``claimed/<digest>.claim`` created
  with ``If-None-Match: *``; the digest is of the name and the object's ETag, so two
  claimers of the same upload race for the same marker and exactly one wins. The object
  stays in ``inbox/`` until ingest has stored it elsewhere (``finish``).

A claim is finished (content and marker removed) only after its file is committed to a
batch or to quarantine, so a crash in between leaves a pending claim that the next
ingest run completes.
"""

from __future__ import annotations

import asyncio
import calendar
import hashlib
import json
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from tasks.config import DEFAULT_SETTLE_S
from tasks.store.backend import Backend, Entry, StorePart

INBOX, CLAIMED = "inbox", "claimed"
# The scoring inbox (unlabelled files to score) works the same way, in its own folders.
SCORING_INBOX, SCORING_CLAIMED = "scoring/inbox", "scoring/claimed"
CLAIM_SEPARATOR = "__"
MARKER_SUFFIX = ".claim"
# Names of files still being written by browsers, downloaders and editors. Such a file is
# left alone this long before a sweep claims it (ingest then quarantines it); any other
# file (a CSV, or ``export.txt``, which ingest quarantines) is taken once it settles.
IN_PROGRESS_SUFFIXES = (".crdownload", ".part", ".partial", ".download", ".tmp", ".temp", ".swp", "~")
STALE_OTHER_FILE_S = 3600.0
# A file renamed into a local inbox is whole: taken at once. One written in place and closed
# once (``cp``, a download, ``to_csv``) is taken once nothing touched it for FIRST_CLOSE_QUIET_S:
# longer than the pause of a script appending a row at a time (0.5 s in the faults e2e), so
# such a writer's reopening is heard first. A file closed more than once is a writer that
# reopens it: taken once quiet for ``DEFAULT_SETTLE_S`` (a setting: tasks.config).
FIRST_CLOSE_QUIET_S = 1.0
CLOSED_GATHER_MAX_S = 0.25  # inotify events are gathered at most this long before an answer
QUIET_S = 0.05  # ... or until none came for this long
SCAN_GAP_S = 0.5  # a sweep's two listings are at least this far apart (a stamp must hold)

T = TypeVar("T")
Snapshot = dict[str, str]  # name -> stamp, as one scan saw the inbox


class FinishedFiles:
    """What the kernel reports about files in a local inbox (inotify): moved in (whole, take
    it now), closed after writing (take it once quiet), or being written (not yet)."""

    MOVED, CLOSED, WRITING = "moved", "closed", "writing"

    def __init__(self, folder: str):
        from asyncinotify import Inotify, Mask

        self._inotify = Inotify()
        self._mask = Mask
        self._inotify.add_watch(folder, Mask.CLOSE_WRITE | Mask.MOVED_TO | Mask.CREATE | Mask.MODIFY)

    async def _next(self, timeout: float) -> tuple[str | None, str] | None:
        try:
            event = await asyncio.wait_for(self._inotify.get(), timeout)
        except TimeoutError:
            return None
        if event.mask & self._mask.Q_OVERFLOW:  # events were lost: the caller's scan finds the files
            return None, self.WRITING
        if event.mask & self._mask.MOVED_TO:
            state = self.MOVED
        elif event.mask & self._mask.CLOSE_WRITE:
            state = self.CLOSED
        else:
            state = self.WRITING
        return (str(event.name) if event.name is not None else None), state

    async def wait(self, timeout: float) -> list[tuple[str, str]]:
        """Wait up to ``timeout`` s for news; then the named files' states in the order the
        kernel reported them (repeats in a row folded), so a close, a reopening and a second
        close are all heard."""
        heard: list[tuple[str, str]] = []
        event = await self._next(timeout)
        deadline = asyncio.get_running_loop().time() + CLOSED_GATHER_MAX_S
        while event is not None:
            name, state = event
            if name is not None and looks_finished(name) and not name.startswith(".") and heard[-1:] != [(name, state)]:
                heard.append((name, state))
            if (left := deadline - asyncio.get_running_loop().time()) <= 0:
                break
            event = await self._next(min(QUIET_S, left))
        return heard

    def close(self) -> None:
        self._inotify.close()


class SettleClock:
    """Which files the kernel reported are ready: moved in (at once), closed once after
    writing and quiet for ``first_close_s``, or closed more than once (a writer that reopens
    the file to append) and quiet for ``settle_s`` since the last close. Any write restarts
    the clock. Pure bookkeeping: times come from the caller."""

    def __init__(self, settle_s: float, first_close_s: float = FIRST_CLOSE_QUIET_S):
        self.settle_s = settle_s
        self.first_close_s = min(first_close_s, settle_s)
        self._closed_at: dict[str, float] = {}
        self._closes: dict[str, int] = {}  # closes heard of each file not taken yet

    def hear(self, events: list[tuple[str, str]], now: float) -> list[str]:
        """Take news from ``FinishedFiles.wait``; the names ready at once (moved in)."""
        moved = []
        for name, state in events:
            if state == FinishedFiles.MOVED:
                self.forget([name])
                moved.append(name)
            elif state == FinishedFiles.CLOSED:
                self._closed_at[name] = now
                self._closes[name] = self._closes.get(name, 0) + 1
            else:  # being written: its close will start the clock
                self._closed_at.pop(name, None)
        return sorted(set(moved))

    def _quiet_s(self, name: str) -> float:
        return self.first_close_s if self._closes.get(name) == 1 else self.settle_s

    def due(self, now: float) -> list[str]:
        """Files written in place and quiet long enough; forgotten once returned."""
        ready = sorted(n for n, at in self._closed_at.items() if now - at >= self._quiet_s(n))
        self.forget(ready)
        return ready

    def forget(self, names: list[str]) -> None:
        """Taken (or gone): a later file of the same name starts afresh."""
        for name in names:
            self._closed_at.pop(name, None)
            self._closes.pop(name, None)

    def next_due(self) -> float | None:
        """When the next file becomes due (the caller's clock), if any waits."""
        return min((at + self._quiet_s(n) for n, at in self._closed_at.items()), default=None)


class ClaimGone(Exception):
    """The claimed content is no longer there as claimed (taken or overwritten meanwhile)."""


@dataclass(frozen=True)
class Claim:
    claim_id: str  # unique per drop; also its quarantine id if rejected
    name: str  # the file name as dropped
    content_key: str  # where the bytes are while claimed
    marker_key: str | None = None  # object storage: the claim marker
    stamp: str | None = None  # object storage: the ETag the claim is for


def claimed_at(claim_id: str) -> float:
    """When a claim was made (epoch seconds): a claim id starts with its UTC time."""
    stamp, millis = claim_id.split("-", 1)[0].split(".")
    return calendar.timegm(time.strptime(stamp, "%Y%m%dT%H%M%S")) + int(millis) / 1000


def new_claim_id() -> str:
    """Sorts by claim time (ms) and is unique: ``20261124T082533.123-1a2b3c4d``."""
    now = time.time()
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now))}.{int(now * 1000) % 1000:03d}-{uuid.uuid4().hex[:8]}"


def looks_finished(name: str) -> bool:
    """Not named like a download or save in progress."""
    return not name.lower().endswith(IN_PROGRESS_SUFFIXES)


class Inbox(StorePart):
    folder = INBOX

    def __init__(self, backend: Backend, settle_s: float = DEFAULT_SETTLE_S, *, folder: str = INBOX, claimed: str = CLAIMED):
        super().__init__(backend)
        self.folder, self.claimed = folder, claimed
        # Object storage shows an object only once its upload is complete: no wait.
        self.settle_s = settle_s if backend.can_rename else 0.0

    def make_ready(self) -> None:
        """A local inbox folder must exist for people to drop into."""
        self.backend.make_folder(self.folder)

    def waiting(self) -> list[Entry]:
        """Unclaimed files in the inbox, hidden ones excluded (copy tools write ``.name.tmp``
        then rename). On object storage a claimed object stays until ingested: its marker says so."""
        entries = [e for e in self.backend.files(self.folder) if not e.name.startswith(".")]
        if self.backend.can_rename or not entries:
            return entries
        markers = {e.name for e in self.backend.files(self.claimed)}
        return [e for e in entries if self._marker_name(e) not in markers]

    def left_alone(self) -> dict[str, str]:
        """Inbox entries the pipeline will not take, each with why (for the watcher's log)."""
        return {
            name: f"{what}: left alone, drop regular files only"
            for name, what in self.backend.odd_entries(self.folder).items()
            if not name.startswith(".")
        }

    @staticmethod
    def _marker_name(entry: Entry) -> str:
        return hashlib.sha256(f"{entry.name}\0{entry.stamp}".encode()).hexdigest()[:24] + MARKER_SUFFIX

    def put(self, name: str, data: bytes) -> None:
        """Drop a file (the seed data set, tests, ``make upload``), written atomically."""
        self.backend.write_bytes(f"{self.folder}/{name}", data)

    def put_file(self, name: str, local: Path) -> None:
        """Drop a local file (large ones stream from disk), written atomically."""
        self.backend.put_local(local, f"{self.folder}/{name}")

    # -- claiming --------------------------------------------------------------
    def claim(self, entry: Entry) -> Claim | None:
        """Take ``entry``; ``None`` if another worker took it first."""
        claim_id = new_claim_id()
        if self.backend.can_rename:
            key = f"{self.claimed}/{claim_id}{CLAIM_SEPARATOR}{entry.name}"
            return Claim(claim_id, entry.name, key) if self.backend.rename_exclusive(f"{self.folder}/{entry.name}", key) else None
        claim = Claim(
            claim_id, entry.name, f"{self.folder}/{entry.name}", f"{self.claimed}/{self._marker_name(entry)}", entry.stamp
        )
        record = {**asdict(claim), "claimed_at": datetime.now(UTC).isoformat(timespec="milliseconds")}
        return claim if self.backend.create_exclusive(claim.marker_key, json.dumps(record).encode()) else None

    def settled(self, previous: Snapshot, current: list[Entry], *, now_ns: int | None = None) -> list[Entry]:
        """Finished-looking files that stopped changing (local) or are simply there (object storage)."""
        if self.settle_s == 0:
            return [e for e in current if looks_finished(e.name)]
        now_ns = time.time_ns() if now_ns is None else now_ns
        return [
            e
            for e in current
            if looks_finished(e.name) and previous.get(e.name) == e.stamp and now_ns - e.modified_ns >= self.settle_s * 1e9
        ]

    def finished_files(self) -> FinishedFiles | None:
        """A kernel listener for files finished in a local inbox (Linux), or ``None`` where
        there is none (object storage, other systems): polling alone then."""
        if not self.backend.can_rename:
            return None
        try:
            return FinishedFiles(self.backend.path(self.folder))
        except (ImportError, OSError):
            return None

    def claim_finished(self, names: list[str]) -> list[Claim]:
        """Claim the named waiting files now, without a settle wait (the kernel reported them
        finished, or the caller wrote them)."""
        wanted = set(names)
        return [c for e in self.waiting() if e.name in wanted and (c := self.claim(e)) is not None]

    def claim_settled(self, previous: Snapshot) -> tuple[list[Claim], Snapshot]:
        """One watcher step: claim what settled since ``previous``; return the new snapshot."""
        current = self.waiting()
        claims = [c for e in self.settled(previous, current) if (c := self.claim(e)) is not None]
        taken = {c.name for c in claims}
        return claims, {e.name: e.stamp for e in current if e.name not in taken}

    def sweep(self, *, stale_other_s: float = STALE_OTHER_FILE_S) -> list[Claim]:
        """The daily (or manual) run's sweep: claim settled files, and in-progress-looking
        ones left unchanged for ``stale_other_s`` (abandoned downloads; ingest quarantines them)."""
        listed = self.waiting()
        if not listed:
            return []
        first = {e.name: e.stamp for e in listed}
        if self.settle_s:  # only as long as the youngest file still needs to be quiet
            youngest = max((e.modified_ns for e in listed if looks_finished(e.name)), default=0) / 1e9
            time.sleep(min(self.settle_s, max(SCAN_GAP_S, youngest + self.settle_s - time.time())))
        current = self.waiting()
        now = time.time_ns()
        chosen = {e.name for e in self.settled(first, current, now_ns=now)}
        chosen |= {e.name for e in current if first.get(e.name) == e.stamp and now - e.modified_ns >= stale_other_s * 1e9}
        return [c for e in current if e.name in chosen and (c := self.claim(e)) is not None]

    # -- working on claims -----------------------------------------------------
    def pending(self) -> list[Claim]:
        """Claims not finished yet, oldest first."""
        if self.backend.can_rename:
            claims = []
            for e in self.backend.files(self.claimed):
                if e.name.startswith("."):
                    continue
                claim_id, sep, name = e.name.partition(CLAIM_SEPARATOR)
                claims.append(Claim(claim_id if sep else Path(e.name).stem, name if sep else e.name, f"{self.claimed}/{e.name}"))
            return sorted(claims, key=lambda c: c.claim_id)
        records = []
        for e in self.backend.files(self.claimed):
            if e.name.endswith(MARKER_SUFFIX):
                record = self.backend.read_json_or_none(f"{self.claimed}/{e.name}")
                if record is not None:
                    records.append(record)
        records.sort(key=lambda r: (r["claimed_at"], r["claim_id"]))
        return [Claim(**{k: r[k] for k in ("claim_id", "name", "content_key", "marker_key", "stamp")}) for r in records]

    def add_claimed(self, name: str, data: bytes) -> Claim | None:
        """Drop a file and claim it at once (the seed data set). ``None`` if a watcher
        claimed it first: it is pending all the same."""
        self.put(name, data)
        return self.claim_named(name)

    def claim_named(self, name: str) -> Claim | None:
        """Claim one waiting file now, without waiting for it to settle (the caller wrote it)."""
        return next(iter(self.claim_finished([name])), None)

    @contextmanager
    def fetch(self, claim: Claim) -> Iterator[Path]:
        """The claimed content as a local file, consistent with what was claimed.

        Raises ``ClaimGone`` when the object was taken or overwritten since the claim."""
        if self.backend.can_rename:
            path = Path(self.backend.path(claim.content_key))
            if not path.is_file():
                raise ClaimGone(claim.name)
            yield path
            return
        with tempfile.TemporaryDirectory(prefix="pipeline-claim-") as tmp:
            local = Path(tmp) / "content"
            try:
                before = self._stamp(claim.content_key)
                self.backend.get_local(claim.content_key, local)
                after = self._stamp(claim.content_key)
            except FileNotFoundError:
                raise ClaimGone(claim.name) from None
            if not before == after == claim.stamp:
                raise ClaimGone(claim.name)
            yield local

    def settle(self, claim: Claim, handle: Callable[[Path], T]) -> T | None:
        """Run ``handle`` on the claimed content (it commits the file somewhere: a batch, a
        job, quarantine), then finish the claim. ``None`` when the content was taken or
        overwritten since the claim: the claim is dropped and the content left alone."""
        try:
            with self.fetch(claim) as local:
                outcome = handle(local)
        except ClaimGone:
            self.finish(claim, keep_content=True)  # not ours any more
            return None
        self.finish(claim)
        return outcome

    def _stamp(self, key: str) -> str:
        with self.backend.failures_named():
            return str(self.backend.fs.info(self.backend.path(key)).get("ETag", "")).strip('"')

    def _replaced_since(self, claim: Claim) -> bool:
        """Object storage: a new upload under the same name has its own claim; leave it."""
        if claim.stamp is None:
            return False
        try:
            return self._stamp(claim.content_key) != claim.stamp
        except FileNotFoundError:
            return False

    def finish(self, claim: Claim, *, keep_content: bool = False) -> None:
        """The claim's file is accounted for elsewhere: remove it, then the marker (last, so a
        crash in between leaves a pending claim, never an unclaimed copy)."""
        if not keep_content and not self._replaced_since(claim):
            self.backend.delete(claim.content_key)
        if claim.marker_key:
            self.backend.delete(claim.marker_key)

"""Storage primitives over fsspec: the only code that talks to a file system or a bucket.

Keys are ``/``-separated paths relative to the data root (``raw/b-123/manifest.json``).
Two kinds of root, one interface:

- a local folder: a write goes to a temp file in the target folder and is renamed into
  place; an exclusive create is a hard link (fails if the name exists); ``rename`` is
  atomic, so inbox claims are a rename;
- an S3-compatible bucket (s3fs): a PUT is atomic (an object is visible whole or not at
  all); an exclusive create is a PUT with ``If-None-Match: *``; there is no rename, so
  callers use markers and commit files instead.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

CHUNK = 1 << 20
PROBE_FOLDER = ".probes"  # short-lived keys of the start-up check of conditional creates


class StorageUnavailable(RuntimeError):
    """Storage failed (unreachable, full, not permitted): not a data problem; retry later.
    Raised by the backend where the failure happens, worded "storage unreachable: <where>:
    <cause>"; the edges (tasks, commands, pages, the watcher) catch this one type."""


# errno values that mean the storage failed, not the data: full, not permitted, I/O, gone.
STORAGE_ERRNOS = {
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EACCES", "EPERM", "EROFS", "EIO", "ENOTCONN", "EHOSTUNREACH", "ENETUNREACH", "ESTALE")
    if hasattr(errno, name)
}


@functools.cache
def _client_errors() -> tuple[type[BaseException], ...]:
    """The S3 client stack's own failures: botocore (unreachable endpoint, timeouts, access
    denied, no such bucket), aiohttp and urllib3 (connections)."""
    from aiohttp import ClientError as HttpClientError
    from botocore.exceptions import BotoCoreError, ClientError
    from urllib3.exceptions import HTTPError

    return (BotoCoreError, ClientError, HttpClientError, HTTPError)


def storage_cause(exc: BaseException) -> str | None:
    """One line saying how the storage failed, or ``None`` when ``exc`` is something else
    (bad data, a bug, a missing key): told by the exception's type, along its cause chain."""
    import urllib.error

    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:  # the cause may sit deeper in the chain
        seen.add(id(exc))
        if isinstance(exc, urllib.error.URLError):
            return None  # Airflow's REST API (tasks.airflow_api) failed, not the storage
        if isinstance(exc, ConnectionError | TimeoutError) or (isinstance(exc, OSError) and exc.errno in STORAGE_ERRNOS):
            return exc.strerror if isinstance(exc, OSError) and exc.strerror else f"{type(exc).__name__}: {exc}"
        if isinstance(exc, FileNotFoundError | FileExistsError | IsADirectoryError | NotADirectoryError):
            return None  # the key's state, not the storage's (s3fs raises these from the client's NoSuchKey)
        if isinstance(exc, _client_errors()):
            return f"{type(exc).__name__}: {exc}"
        exc = exc.__cause__ or exc.__context__
    return None


def _storage_call(method: Callable[..., Any]) -> Callable[..., Any]:
    """A backend primitive whose storage failures are raised as ``StorageUnavailable``."""

    @functools.wraps(method)
    def call(self: Backend, *args: Any, **kwargs: Any) -> Any:
        with self.failures_named():
            return method(self, *args, **kwargs)

    return call


# The primitives that touch the storage (each class's own definitions are wrapped).
STORAGE_PRIMITIVES = (
    "free_bytes",
    "exists",
    "read_bytes",
    "read_json_or_none",
    "open",
    "is_link",
    "make_folder",
    "odd_entries",
    "get_local",
    "_list",
    "files",
    "walk_files",
    "write_with",
    "put_local",
    "copy",
    "upload_tree",
    "create_exclusive",
    "rename_exclusive",
    "delete",
    "delete_tree",
)


class StoragePromiseBroken(RuntimeError):
    """The storage does not keep a promise "exactly once" depends on; the message says which."""


@dataclass(frozen=True)
class Entry:
    """One file as a listing saw it. ``stamp`` changes whenever the content may have:
    the mtime in ns on local disk, the ETag on S3."""

    name: str
    size: int
    stamp: str
    modified_ns: int


class Backend:
    """A data root on any fsspec file system. Subclasses supply what differs. Every primitive
    raises a storage failure as ``StorageUnavailable``; a part that reads through a handle
    (pyarrow, pandas) does it inside ``failures_named()``."""

    can_rename = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name in STORAGE_PRIMITIVES:
            if name in cls.__dict__:
                setattr(cls, name, _storage_call(cls.__dict__[name]))

    @contextmanager
    def failures_named(self) -> Iterator[None]:
        """Around storage I/O: a storage failure becomes ``StorageUnavailable`` naming the
        storage and the cause; anything else (a missing key, bad data, a bug) passes unchanged."""
        try:
            yield
        except StorageUnavailable:
            raise
        except Exception as exc:
            if (cause := storage_cause(exc)) is None:
                raise
            raise StorageUnavailable(f"storage unreachable: {self.endpoint}: {cause}") from exc

    def __init__(self, fs: Any, root: str, url: str):
        self.fs = fs
        self.root = root.rstrip("/")
        self.url = url

    def path(self, key: str) -> str:
        return f"{self.root}/{key}" if key else self.root

    def free_bytes(self) -> int | None:
        """Space left for writes, where the storage says (a local file system); ``None`` on S3."""
        return None

    def uri(self, key: str) -> str:
        """What to show a person (and Airflow) for ``key``."""
        return f"{self.url}/{key}" if key else self.url

    # -- reading ---------------------------------------------------------------
    def exists(self, key: str) -> bool:
        return self.fs.exists(self.path(key))

    def read_bytes(self, key: str) -> bytes:
        return self.fs.cat_file(self.path(key))

    def read_json(self, key: str) -> Any:
        return json.loads(self.read_bytes(key))

    def read_json_or_none(self, key: str) -> Any:
        try:
            return self.read_json(key)
        except FileNotFoundError:
            return None

    def open(self, key: str) -> IO[bytes]:
        return self.fs.open(self.path(key), "rb")

    def is_link(self, key: str) -> bool:
        return False

    def make_folder(self, key: str) -> None:
        """Object storage has no folders: a prefix exists once something is under it."""

    def odd_entries(self, prefix: str) -> dict[str, str]:
        """Entries that are not regular files (object storage has none but "folders")."""
        return {}

    def get_local(self, key: str, local: Path) -> None:
        """Copy ``key`` to a local file."""
        self.fs.get_file(self.path(key), str(local))

    def _list(self, prefix: str) -> list[dict[str, Any]]:
        """What is directly under ``prefix``, as fsspec describes it; [] if nothing."""
        try:
            return self.fs.ls(self.path(prefix), detail=True)
        except (FileNotFoundError, NotADirectoryError):
            return []

    def children(self, prefix: str) -> list[str]:
        """Names directly under ``prefix`` (files and folders), sorted; [] if there is none."""
        base = self.path(prefix).rstrip("/") + "/"
        names = (info["name"] for info in self._list(prefix))
        return sorted({p[len(base) :].split("/", 1)[0] for p in names if p.startswith(base) and len(p) > len(base)})

    def files(self, prefix: str) -> list[Entry]:
        """Regular files directly under ``prefix``."""
        return [self._entry(info) for info in self._list(prefix) if info.get("type") == "file"]

    def _entry(self, info: dict[str, Any]) -> Entry:
        raise NotImplementedError

    def walk_files(self, prefix: str) -> list[str]:
        """Every file key below ``prefix``, relative to it."""
        base = self.path(prefix).rstrip("/") + "/"
        try:
            found = self.fs.find(self.path(prefix))
        except FileNotFoundError:
            return []
        return sorted(p[len(base) :] for p in found if p.startswith(base))

    # -- writing ---------------------------------------------------------------
    def write_bytes(self, key: str, data: bytes) -> None:
        with self.writer(key) as fh:
            fh.write(data)

    def write_json(self, key: str, obj: Any) -> None:
        self.write_bytes(key, (json.dumps(obj, indent=2, default=str) + "\n").encode())

    @contextmanager
    def writer(self, key: str) -> Iterator[IO[bytes]]:
        """A binary handle whose content appears at ``key`` only if the block succeeds."""
        with self.failures_named(), self._writer(key) as fh:
            yield fh

    def _writer(self, key: str) -> Any:  # a context manager, supplied by each backend
        raise NotImplementedError

    def write_with(self, key: str, write: Callable[[str], None]) -> None:
        """Publish what ``write(local_path)`` produces (for joblib.dump, savefig...)."""
        with tempfile.TemporaryDirectory(prefix="pipeline-") as tmp:
            local = os.path.join(tmp, "out")
            write(local)
            self.put_local(Path(local), key)

    def put_local(self, local: Path, key: str) -> None:
        """Publish a local file at ``key``."""
        with open(local, "rb") as src, self.writer(key) as dst:
            shutil.copyfileobj(src, dst, CHUNK)

    def copy(self, src: str, dst: str) -> None:
        with self.open(src) as fh, self.writer(dst) as out:
            shutil.copyfileobj(fh, out, CHUNK)

    def upload_tree(self, local_dir: Path, prefix: str) -> None:
        for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
            self.put_local(path, f"{prefix}/{path.relative_to(local_dir).as_posix()}")

    def create_exclusive(self, key: str, data: bytes) -> bool:
        """Write ``key`` only if it does not exist; False if someone else created it first."""
        raise NotImplementedError

    @property
    def endpoint(self) -> str:
        """Where the data lives, for messages: the folder, or the S3 endpoint and bucket."""
        return self.url

    def check_exclusive_create(self) -> None:
        """Create one probe key twice: the second create must be refused. A server that
        ignores ``If-None-Match: *`` would let two claimers both win (and two trainers write
        one version): refuse to run on it."""
        import uuid

        key = f"{PROBE_FOLDER}/{uuid.uuid4().hex}"
        try:
            first = self.create_exclusive(key, b"first")
            second = self.create_exclusive(key, b"second")
        finally:
            self.delete(key)
        if not first or second:
            raise StoragePromiseBroken(
                f"{self.endpoint} does not refuse a conditional create of an existing key (If-None-Match: *): "
                "inbox claims and model versions would not be exactly once. Use a server that supports "
                "conditional writes: see docs/storage.md, 'Compatible servers'"
            )

    def rename_exclusive(self, src: str, dst: str) -> bool:
        """Atomic move (local only); False if ``src`` is gone (someone else took it)."""
        raise NotImplementedError(f"{self.url}: object storage has no rename")

    def delete(self, key: str) -> None:
        try:
            self.fs.rm_file(self.path(key))
        except FileNotFoundError:
            pass

    def delete_tree(self, prefix: str) -> None:
        try:
            self.fs.rm(self.path(prefix), recursive=True)
        except FileNotFoundError:
            pass


for _name in STORAGE_PRIMITIVES:
    setattr(Backend, _name, _storage_call(Backend.__dict__[_name]))


def current_umask() -> int:
    """The process umask, read without changing it (``os.umask`` can only set it)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


class LocalBackend(Backend):
    can_rename = True

    def __init__(self, root: str):
        from fsspec.implementations.local import LocalFileSystem

        super().__init__(LocalFileSystem(), root, root)
        Path(root).mkdir(parents=True, exist_ok=True)

    def uri(self, key: str) -> str:
        return Path(self.path(key)).as_uri()

    def make_folder(self, key: str) -> None:
        Path(self.path(key)).mkdir(parents=True, exist_ok=True)

    def free_bytes(self) -> int | None:
        return shutil.disk_usage(self.root).free

    def _scan(self, prefix: str) -> list[os.DirEntry]:
        # os.scandir, not fsspec: no symlink following, and a missing folder is simply empty.
        try:
            return list(os.scandir(self.path(prefix)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def odd_entries(self, prefix: str) -> dict[str, str]:
        """Entries under ``prefix`` that are not regular files, with what they are."""
        out = {}
        for entry in self._scan(prefix):
            try:
                if entry.is_symlink():
                    out[entry.name] = "a symbolic link"
                elif entry.is_dir(follow_symlinks=False):
                    out[entry.name] = "a folder"
                elif not entry.is_file(follow_symlinks=False):
                    out[entry.name] = "not a regular file (a pipe, socket or device)"
            except FileNotFoundError:
                continue
        return out

    def files(self, prefix: str) -> list[Entry]:
        out = []
        for entry in self._scan(prefix):
            try:  # a file vanishing mid-scan is skipped
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            out.append(Entry(entry.name, st.st_size, f"{st.st_size}-{st.st_mtime_ns}", st.st_mtime_ns))
        return sorted(out, key=lambda e: e.name)

    @staticmethod
    def _temp_beside(target: Path) -> tuple[int, str]:
        """A temp file next to ``target``, with the mode the process umask gives new files
        (mkstemp makes 0600; teammates in the group must read reports and models)."""
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        os.fchmod(fd, 0o666 & ~current_umask())
        return fd, tmp

    @contextmanager
    def _writer(self, key: str) -> Iterator[IO[bytes]]:
        target = Path(self.path(key))
        fd, tmp = self._temp_beside(target)
        try:
            with os.fdopen(fd, "wb") as fh:
                yield fh
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, target)
        finally:
            Path(tmp).unlink(missing_ok=True)

    def create_exclusive(self, key: str, data: bytes) -> bool:
        target = Path(self.path(key))
        fd, tmp = self._temp_beside(target)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, target)  # atomic, and fails if the name exists
            return True
        except FileExistsError:
            return False
        finally:
            Path(tmp).unlink(missing_ok=True)

    def rename_exclusive(self, src: str, dst: str) -> bool:
        target = Path(self.path(dst))
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            return False
        try:
            os.rename(self.path(src), target)
        except FileNotFoundError:
            return False
        return True

    def is_link(self, key: str) -> bool:
        return Path(self.path(key)).is_symlink()

    def delete_tree(self, prefix: str) -> None:
        path = Path(self.path(prefix))
        if path.is_symlink():
            path.unlink()
        else:
            shutil.rmtree(path, ignore_errors=True)


class ObjectBackend(Backend):
    """S3-compatible storage through s3fs. Listings are never cached: other workers write too."""

    def __init__(self, url: str, env: Mapping[str, str] | None = None):
        """``env``: where the endpoint and credentials are (``AWS_ENDPOINT_URL``,
        ``AWS_ACCESS_KEY_ID``...); the process environment by default."""
        import fsspec

        env = os.environ if env is None else env
        protocol, _, rest = url.partition("://")
        options: dict[str, Any] = {"skip_instance_cache": True, "use_listings_cache": False}
        if protocol == "s3":
            if env.get("AWS_ENDPOINT_URL"):
                options["client_kwargs"] = {"endpoint_url": env["AWS_ENDPOINT_URL"]}
            if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
                options |= {"key": env["AWS_ACCESS_KEY_ID"], "secret": env["AWS_SECRET_ACCESS_KEY"]}
            if env.get("AWS_DEFAULT_REGION"):
                options.setdefault("client_kwargs", {})["region_name"] = env["AWS_DEFAULT_REGION"]
        super().__init__(fsspec.filesystem(protocol, **options), rest, url)

    @property
    def endpoint(self) -> str:
        where = (self.fs.client_kwargs or {}).get("endpoint_url") or "AWS S3"
        return f"{self.url} at {where}"

    def read_bytes(self, key: str) -> bytes:
        # One GET: with concurrency > 1, s3fs first HEADs the object for its size.
        return self.fs.cat_file(self.path(key), max_concurrency=1)

    def _list(self, prefix: str) -> list[dict[str, Any]]:
        # s3fs's ls() lists the parent too when a prefix is empty (to tell a missing folder
        # from a file): one more LIST per idle inbox poll. _lsdir is the listing alone.
        from fsspec.asyn import sync

        return sync(self.fs.loop, self.fs._lsdir, self.path(prefix), refresh=True)

    def _entry(self, info: dict[str, Any]) -> Entry:
        name = info["name"].rsplit("/", 1)[-1]
        modified = info.get("LastModified")
        modified_ns = int(modified.timestamp() * 1e9) if modified is not None else 0
        return Entry(name=name, size=int(info["size"]), stamp=str(info.get("ETag", "")).strip('"'), modified_ns=modified_ns)

    @contextmanager
    def _writer(self, key: str) -> Iterator[IO[bytes]]:
        # Spool to a local file, then one upload: nothing (not even a multipart part)
        # becomes visible unless the whole block succeeded.
        with tempfile.NamedTemporaryFile(prefix="pipeline-upload-") as spool:
            yield spool
            spool.flush()
            self.fs.put_file(spool.name, self.path(key))

    def copy(self, src: str, dst: str) -> None:
        self.fs.copy(self.path(src), self.path(dst))  # server-side

    def create_exclusive(self, key: str, data: bytes) -> bool:
        try:
            self.fs.pipe_file(self.path(key), data, mode="create")  # If-None-Match: *
        except FileExistsError:
            return False
        return True


def arrow_gives_memory_back() -> None:
    """Arrow's default pool (mimalloc) keeps what it frees for its own reuse, and pandas frames
    read from Parquet live in it: a task that read a 4 M-row batch held twice its rows until it
    exited. The system allocator hands big blocks back to the process (and the OS) at once."""
    import pyarrow as pa

    if pa.default_memory_pool().backend_name != "system":
        pa.set_memory_pool(pa.system_memory_pool())


class StorePart:
    """One part of the layout: owns the keys under ``folder``."""

    folder: str = ""

    def __init__(self, backend: Backend):
        self.backend = backend

    @property
    def uri(self) -> str:
        return self.backend.uri(self.folder)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def open_backend(data_url: str, env: Mapping[str, str] | None = None) -> Backend:
    """The backend at ``data_url``; an object store's endpoint and credentials from ``env``
    (the process environment by default)."""
    from tasks.config import is_object_storage

    if is_object_storage(data_url):
        return ObjectBackend(data_url, env)
    return LocalBackend(data_url.removeprefix("file://"))

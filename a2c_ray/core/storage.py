"""Local directories or URIs (s3://...) through pyarrow.

Every function takes and returns URIs as the user wrote them: a local path (made absolute,
``~`` expanded) or ``scheme://bucket/key`` with any ``?query`` kept. A path listed from a
remote filesystem therefore keeps its scheme, so it can be opened again (pyarrow itself
lists ``bucket/key`` without one). No Ray, no torch.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow.fs as pafs

from a2c_ray.core.config import A2CConfig, ConfigError

log = logging.getLogger("a2c_ray")
T = TypeVar("T")

DEFAULT_STORAGE = "~/a2c_ray_results"  # where sweeps go unless --storage-path says otherwise
SQLITE = "sqlite:///"  # an Optuna study's URL in a local SQLite file


class StorageError(ValueError):
    """A storage URI cannot be reached, read or written; the message names the URI."""


def is_remote(uri: str) -> bool:
    """Whether a URI names a remote filesystem (anything with a scheme but file://)."""
    return "://" in str(uri) and not str(uri).startswith("file://")


def resolve(uri: str | Path) -> str:
    """A URI as given, or a local path made absolute (with ~ expanded)."""
    uri = str(uri)
    if uri.startswith("file://"):
        uri = uri[len("file://"):]
    return uri if "://" in uri else os.path.abspath(os.path.expanduser(uri))


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite study URL; None for another database."""
    return Path(url[len(SQLITE):]) if url.startswith(SQLITE) else None


def moved_study(url: str, exp: str | Path) -> str:
    """The study of a sweep whose directory was moved or copied: its URL where it is now.

    A sweep's default study is ``optuna.db`` in its directory, saved as an absolute SQLite URL.
    Where the local directory ``exp`` holds an ``optuna.db`` and the URL names one elsewhere,
    the sweep was moved or copied, its study with it: the URL of the file in ``exp``, so that a
    copy never writes to the original's study. Any other URL is returned as it is.
    """
    saved = sqlite_file(url)
    if saved is None or is_remote(str(exp)):
        return url
    here = Path(resolve(exp)) / "optuna.db"
    if saved.name != here.name or saved == here or not here.is_file():
        return url
    return f"{SQLITE}{here}"


def _split(uri: str) -> tuple[str, str, str]:
    """(scheme:// or '', path, ?query or '') of a resolved URI."""
    uri = resolve(uri)
    if "://" not in uri:
        return "", uri, ""
    scheme, rest = uri.split("://", 1)
    path, sep, query = rest.partition("?")
    return f"{scheme}://", path, sep + query


@functools.lru_cache(maxsize=16)
def _fs(scheme: str, bucket: str, query: str) -> pafs.FileSystem:
    if not scheme:
        return pafs.LocalFileSystem()
    return pafs.FileSystem.from_uri(f"{scheme}{bucket}{query}")[0]


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem of a URI (one per bucket, reused) and the path inside it."""
    scheme, path, query = _split(uri)
    if not scheme:
        return _fs("", "", ""), path
    try:
        return _fs(scheme, path.split("/", 1)[0], query), path.rstrip("/")
    except (OSError, ValueError) as err:
        raise StorageError(f"{uri}: {_cause(err)}") from None


def join(base: str, *parts: str) -> str:
    """base/part/...; base may be a URI (its ?query stays at the end)."""
    scheme, path, query = _split(base)
    return scheme + "/".join([path.rstrip("/"), *parts]) + query


def name(uri: str) -> str:
    """The last component of a path or URI."""
    return _split(uri)[1].rstrip("/").rsplit("/", 1)[-1]


def parent(uri: str) -> str:
    """The directory a path or URI is in."""
    scheme, path, query = _split(uri)
    return scheme + path.rstrip("/").rsplit("/", 1)[0] + query


@dataclass(frozen=True)
class Entry:
    """One entry of a directory listing: its URI (scheme kept), name and kind."""

    uri: str
    name: str
    is_dir: bool


def exists(uri: str) -> bool:
    """Whether a file or directory exists."""
    fs, path = filesystem(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def list_dir(uri: str) -> list[Entry]:
    """Entries directly inside a directory, sorted by name (empty if it does not exist)."""
    fs, path = filesystem(uri)
    scheme, _, query = _split(uri)
    try:
        infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True))
    except NotADirectoryError:
        return []
    return sorted((Entry(scheme + i.path + query, i.base_name,
                         i.type == pafs.FileType.Directory) for i in infos),
                  key=lambda e: e.name)


def read_bytes(uri: str) -> bytes:
    """A file's bytes."""
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as f:
        return f.read()


def read_text(uri: str) -> str:
    """A file's text."""
    return read_bytes(uri).decode()


def write_text(uri: str, text: str) -> None:
    """Write a file whole, creating its directory; a reader sees the old or the new text.

    Locally through a temporary file and a rename; on object stores one PUT is atomic.
    """
    fs, path = filesystem(uri)
    directory = path.rsplit("/", 1)[0]
    fs.create_dir(directory, recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
        try:
            with os.fdopen(fd, "w") as f:
                f.write(text)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp's 0600 would outlive the rename
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return
    with fs.open_output_stream(path) as f:
        f.write(text.encode())


def retrying(call: Callable[[], T], what: str, wait_s: float = 120.0) -> T:
    """``call()``, tried again while the storage cannot be reached, for up to ``wait_s``.

    An object store goes away for seconds at a time (a network blip, an endpoint restarted);
    an OSError other than a missing file is taken for that, and tried again after 0.5, 1, 2
    ... seconds (at most 10 apart). A missing file, or an error that outlasts ``wait_s``, is
    raised. ``what`` names the operation in the warning.
    """
    delay, deadline = 0.5, time.monotonic() + wait_s
    while True:
        try:
            return call()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
            raise
        except OSError as err:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("%s: storage unreachable (%s); trying again in %.1f s", what,
                        _cause(err), delay)
            time.sleep(delay)
            delay = min(2 * delay, 10.0)


def copy_dir(src: str, dst: str) -> None:
    """Copy a directory tree between any two filesystems (local, shared, s3://)."""
    src_fs, src_path = filesystem(src)
    dst_fs, dst_path = filesystem(dst)
    dst_fs.create_dir(dst_path, recursive=True)
    pafs.copy_files(src_path, dst_path, source_filesystem=src_fs,
                    destination_filesystem=dst_fs)


def delete_dir(uri: str) -> None:
    """Delete a directory tree; nothing happens if it is gone already."""
    fs, path = filesystem(uri)
    try:
        fs.delete_dir(path)
    except FileNotFoundError:
        pass


def check_writable(uri: str) -> None:
    """Raise StorageError, naming the URI and the cause, unless a file can be written there.

    For a remote URI it writes and deletes one small object: a missing bucket, an endpoint
    that cannot be reached, and missing or wrong credentials (which S3 answers with "access
    denied" on the first write) all show here, before any work starts. A local path is only
    checked, not created.
    """
    if not is_remote(uri):
        existing = Path(resolve(uri))
        while not existing.exists():
            existing = existing.parent
        if not (existing.is_dir() and os.access(existing, os.W_OK)):
            raise StorageError(f"{uri}: cannot write to {existing}")
        return
    probe = join(uri, ".a2c_ray_write_check")
    try:
        write_text(probe, "ok")  # the requests a real write makes, directory marker included
        fs, path = filesystem(probe)
        fs.delete_file(path)
    except OSError as err:
        cause = _cause(err)
        if "ACCESS_DENIED" in cause or "AccessDenied" in cause:
            cause += " (are AWS credentials set? AWS_ACCESS_KEY_ID, AWS_PROFILE or a role)"
        raise StorageError(f"{uri}: cannot write there: {cause}") from None


@functools.cache
def _umask() -> int:
    """The process's umask, read once (reading it means setting it for a moment)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _cause(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def read_config(uri: str) -> A2CConfig:
    """An A2CConfig from a JSON file, local or s3:// (a sweep's best_config.json, a preset)."""
    try:
        text = read_text(resolve(uri))
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(f"config file {uri!r} does not exist") from None
    except OSError as err:
        raise ConfigError(f"config file {uri!r} cannot be read: {err}") from None
    return A2CConfig.from_json_text(text, uri)

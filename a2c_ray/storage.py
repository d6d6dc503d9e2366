"""Paths that are local directories or URIs (s3://...), through pyarrow's filesystems."""

from __future__ import annotations

import os

import pyarrow.fs as pafs

DEFAULT_STORAGE = "~/a2c_ray_results"  # where sweeps go unless --storage-path says otherwise


def resolve(uri: str) -> str:
    """A URI as given, or a local path made absolute (with ~ expanded)."""
    uri = str(uri)
    return uri if "://" in uri else os.path.abspath(os.path.expanduser(uri))


def filesystem(uri: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and the path inside it."""
    return pafs.FileSystem.from_uri(resolve(uri))


def join(base: str, *parts: str) -> str:
    """base/part/...; base may be a URI."""
    return "/".join([resolve(base).rstrip("/"), *parts])


def exists(uri: str) -> bool:
    """Whether a file or directory exists."""
    fs, path = filesystem(uri)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def read_text(uri: str) -> str:
    """A file's text."""
    fs, path = filesystem(uri)
    with fs.open_input_stream(path) as f:
        return f.read().decode()


def write_text(uri: str, text: str) -> None:
    """Write a file, creating its directory."""
    fs, path = filesystem(uri)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(text.encode())


def list_dir(uri: str) -> list[pafs.FileInfo]:
    """Entries directly inside a directory (empty if it does not exist)."""
    fs, path = filesystem(uri)
    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    return fs.get_file_info(pafs.FileSelector(path))

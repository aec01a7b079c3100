"""Stored files (gig images): one small interface over the local filesystem.

Files live under ``UPLOAD_DIR`` (default ``instance/uploads``) by key, a relative path such
as ``gigs/12/3f2a….png``. Keys are content-addressed within their folder, so storing the same
bytes twice writes one file. Writes go to a temporary file and are renamed into place, so a
reader never sees half a file. An object store can replace this module behind the same
functions.
"""

import hashlib
import os
import re
import tempfile
from pathlib import Path

from flask import current_app

from app.errors import ServiceError

_KEY = re.compile(r"^[a-z0-9][a-z0-9/_-]*\.[a-z0-9]{2,5}$")


class StorageError(ServiceError):
    """A key that is malformed or points outside the upload folder: nothing is there (404)."""

    def __init__(self, message: str):
        super().__init__(404, "not_found", message)


def upload_root() -> Path:
    """The folder files are stored under."""
    return Path(current_app.config.get("UPLOAD_DIR") or Path(current_app.instance_path) / "uploads")


def content_digest(data: bytes) -> str:
    """The content part of a key: a truncated SHA-256 of the bytes."""
    return hashlib.sha256(data).hexdigest()[:40]


def content_key(folder: str, data: bytes, extension: str) -> str:
    """The key `data` gets in `folder`: its content digest plus the extension."""
    return f"{folder.strip('/')}/{content_digest(data)}.{extension}"


def key_digest(key: str) -> str:
    """The content digest inside a key made by `content_key`."""
    return key.rsplit("/", 1)[-1].split(".", 1)[0]


def path_for(key: str) -> Path:
    """The filesystem path of `key`; refuses keys that could escape the upload folder."""
    if not _KEY.match(key or "") or ".." in key or "//" in key:
        raise StorageError(f"bad storage key {key!r}")
    return upload_root() / key


def save_file(key: str, data: bytes) -> str:
    """Store `data` under `key` atomically; returns the key."""
    path = path_for(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, delete=False) as handle:
        handle.write(data)
        temporary = handle.name
    os.replace(temporary, path)
    return key


def file_exists(key: str) -> bool:
    """Whether a file is stored under `key`."""
    return path_for(key).is_file()


def delete_file(key: str) -> None:
    """Remove the file stored under `key`; a missing file is not an error."""
    path_for(key).unlink(missing_ok=True)

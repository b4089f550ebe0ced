"""Blob storage: uploads, checkpoints, archives, under keys the server makes up.

Keys look like ``pairs/<id>/image``; no client-supplied name ever reaches a path.
``LocalStore`` keeps them in one directory (a mounted volume shared by API and workers);
an S3-compatible store would implement the same methods.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

_KEY = re.compile(r"^[a-z]+(/[A-Za-z0-9_.-]+)+$")
CHUNK = 1024 * 1024


def pair_prefix(pair_id: str) -> str:
    return f"pairs/{pair_id}"


def model_prefix(model_id: str) -> str:
    return f"models/{model_id}"


def generation_prefix(generation_id: str) -> str:
    return f"generations/{generation_id}"


def model_report_prefix(model_id: str) -> str:
    return f"{model_prefix(model_id)}/report"


def generation_reports_prefix(generation_id: str) -> str:
    """The shareable report of each model of a generation, in ``<prefix>/<model id>/``."""
    return f"{generation_prefix(generation_id)}/reports"


def generation_report_prefix(generation_id: str, model_id: str) -> str:
    return f"{generation_reports_prefix(generation_id)}/{model_id}"


class LocalStore:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def path(self, key: str) -> Path:
        """The local path of a key (the engine reads and writes model folders directly)."""
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

    def put_file(self, key: str, source: BinaryIO, digest: "hashlib._Hash | None" = None) -> int:
        """Copy a file object into ``key`` atomically, feeding ``digest`` on the way; returns the size."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".upload.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    if digest is not None:
                        digest.update(chunk)
                    size += len(chunk)
                    out.write(chunk)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return size

    def exists(self, key: str) -> bool:
        return self.path(key).exists()

    def delete(self, key: str) -> None:
        """Delete one blob or a whole prefix (a folder); missing keys are fine."""
        path = self.path(key)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def check(self) -> None:
        """Raise OSError unless the store is writable."""
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.root, prefix=".health."):
            pass

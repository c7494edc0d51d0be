"""Atomic file writes: a temporary file in the same folder, then a rename; the cache folder.

A reader (or a crash) never sees a half-written file under the final name.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

CACHE_ENV = "GANFORGE_CACHE_DIR"


def cache_dir() -> Path:
    """Where ganforge keeps what it can rebuild (reference features, built data sets):
    ``$GANFORGE_CACHE_DIR``, default ``~/.cache/ganforge``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "ganforge")


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publish_mode(path: str | Path, *, directory: bool = False) -> None:
    """Give a temporary file or folder the permissions a plain create would have.

    ``mkstemp``/``mkdtemp`` make private (0600/0700) entries; results people share (models,
    grids, checkpoints) should follow the umask like any other file.
    """
    os.chmod(path, (0o777 if directory else 0o666) & ~_umask())


def atomic_write(path: str | Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temporary file next to ``path``, then rename it into place."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        publish_mode(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())

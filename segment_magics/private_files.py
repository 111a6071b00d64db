"""Files the package creates are private: the directory 0700, the file 0600.

sqlite gives its ``-wal`` and ``-shm`` files the permissions of the database
file, so creating the database file privately first covers them too.
"""

from __future__ import annotations

import os
from pathlib import Path


def create_private(path: Path) -> None:
    """Create ``path`` (and a missing parent directory) readable by the owner only."""
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        parent.chmod(0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        path.chmod(0o600)

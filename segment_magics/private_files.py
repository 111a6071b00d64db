"""Files the package writes are private: the directory 0700, the file 0600.

sqlite gives its ``-wal`` and ``-shm`` files the permissions of the database
file, so making the database file private first covers them too. A file that
already exists (an outbox or ``--db`` path someone created) is tightened to 0600
when it is ours, because what we write into it is as private as what we create.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

_SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """Create ``path`` (and a missing parent directory) readable by the owner only, or
    take group and other access away from our existing file and its sqlite side files."""
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        parent.chmod(0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
        os.close(fd)
        path.chmod(0o600)
        return
    for each in (path, *(path.with_name(path.name + side) for side in _SQLITE_SIDE_FILES)):
        with contextlib.suppress(OSError):  # gone, or not a file we may change
            info = each.stat()
            ours = stat.S_ISREG(info.st_mode) and info.st_uid == os.geteuid()
            if ours and info.st_mode & 0o077:
                each.chmod(0o600)

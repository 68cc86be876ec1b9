"""An embedded PostgreSQL for a local run, from the pip-installed ``pgserver`` binaries.

:class:`EmbeddedPostgres` initialises a data directory once (``initdb``, trust authentication on 127.0.0.1
only) and gives the command line that runs the server in the foreground, so a supervisor owns the process and
stops it with SIGINT (PostgreSQL's fast shutdown). The data directory survives restarts. As root the server
runs as the system user ``pgserver`` (PostgreSQL refuses to run as root). TimescaleDB is not in this build:
the plain-PostgreSQL storage path is used.
"""

from __future__ import annotations

import os
import stat
import subprocess
import warnings
from dataclasses import dataclass
from pathlib import Path

__all__ = ["EmbeddedPostgres"]

SYSTEM_USER = "pgserver"


def _bin_dir() -> Path:
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset; harmless here
        warnings.simplefilter("ignore")
        from pgserver._commands import POSTGRES_BIN_PATH
        from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions
    if os.geteuid() == 0:
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    return Path(POSTGRES_BIN_PATH)


@dataclass(frozen=True)
class EmbeddedPostgres:
    """A server on ``127.0.0.1:port`` with its data in ``data_dir``."""

    data_dir: Path
    port: int

    @property
    def user(self) -> str | None:
        """The system user the server runs as (``pgserver`` when we are root, else ourselves)."""
        return SYSTEM_USER if os.geteuid() == 0 else None

    def url(self, dbname: str = "millstream") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{dbname}"

    def prepare(self) -> bool:
        """Create and initialise the data directory unless done before; True when it was created now."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        bin_dir = _bin_dir()
        if self.user is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from pgserver.utils import ensure_prefix_permissions, ensure_user_exists
            import pwd

            ensure_user_exists(self.user)
            entry = pwd.getpwnam(self.user)
            ensure_prefix_permissions(self.data_dir)
            os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)
            os.chmod(self.data_dir, 0o700)
        if (self.data_dir / "PG_VERSION").exists():
            return False
        subprocess.run(  # noqa: S603 - the pgserver binary and our own paths
            [str(bin_dir / "initdb"), "-D", str(self.data_dir), "--auth=trust", "--encoding=utf8", "-U", "postgres"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, user=self.user,
        )
        return True

    def argv(self) -> list[str]:
        """The foreground server; durable commits are asynchronous (fast, and a crash loses < 1 s)."""
        return [str(_bin_dir() / "postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(self.port),
                "-k", str(self.data_dir), "-c", "max_connections=200", "-c", "synchronous_commit=off",
                "-c", "shared_buffers=64MB"]

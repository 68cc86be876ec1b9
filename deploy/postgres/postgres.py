"""Development/test PostgreSQL on 127.0.0.1, from the pip-embedded server binaries of `pgserver`.

    python deploy/postgres/postgres.py start    init the data dir once, start, wait, print the URL
    python deploy/postgres/postgres.py stop     stop the server this script started
    python deploy/postgres/postgres.py url      print the URL of the server
    python deploy/postgres/postgres.py status   exit 0 when the server answers
    python deploy/postgres/postgres.py createdb NAME   create database NAME unless it exists

Idempotent: `start` reuses a server already running from the same data dir. As root, the server runs as
the system user `pgserver` (PostgreSQL refuses to run as root). TimescaleDB is not part of this build:
the project's plain-PostgreSQL storage path is the one exercised here.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
import warnings
from pathlib import Path

# pgserver imports platformdirs, which warns when XDG_RUNTIME_DIR is unset (as in CI); harmless here.
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")

ROOT = Path(__file__).resolve().parents[2]
CACHE = Path(os.environ.get("MILLSTREAM_CACHE", ROOT / ".cache"))
PORT = int(os.environ.get("POSTGRES_PORT", "15432"))
PGDATA = Path(os.environ.get("POSTGRES_DATA", CACHE / f"postgres-{PORT}"))
SYSTEM_USER = "pgserver"


def _log(message: str) -> None:
    print(f"[postgres] {message}", file=sys.stderr)


def _url() -> str:
    return f"postgresql://postgres@127.0.0.1:{PORT}/postgres"


def _answers() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", PORT), timeout=1):
            pass
    except OSError:
        return False
    import psycopg

    try:
        with psycopg.connect(_url(), connect_timeout=2) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _run_as() -> dict[str, object]:
    if os.geteuid() != 0:
        return {}
    from pgserver.utils import ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    import pwd

    entry = pwd.getpwnam(SYSTEM_USER)
    ensure_prefix_permissions(PGDATA)
    os.chown(PGDATA, entry.pw_uid, entry.pw_gid)
    return {"user": SYSTEM_USER}


def _pg_bin() -> Path:
    from pgserver._commands import POSTGRES_BIN_PATH
    from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

    if os.geteuid() == 0:
        ensure_prefix_permissions(POSTGRES_BIN_PATH)
        read, execute = stat.S_IRGRP | stat.S_IROTH, stat.S_IXGRP | stat.S_IXOTH
        ensure_folder_permissions(POSTGRES_BIN_PATH, read | execute)
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", read)
    return POSTGRES_BIN_PATH


def start() -> None:
    if _answers():
        _log(f"a server already answers on 127.0.0.1:{PORT}; reusing it")
        print(_url())
        return
    PGDATA.mkdir(parents=True, exist_ok=True)
    bin_dir = _pg_bin()
    run_as = _run_as()
    if not (PGDATA / "PG_VERSION").exists():
        _log(f"initialising {PGDATA}")
        subprocess.run(
            [str(bin_dir / "initdb"), "-D", str(PGDATA), "--auth=trust", "--encoding=utf8", "-U", "postgres"],
            check=True, stdout=subprocess.DEVNULL, **run_as,  # type: ignore[arg-type]
        )
    _log(f"starting on 127.0.0.1:{PORT}")
    options = f"-h 127.0.0.1 -p {PORT} -k {PGDATA} -c max_connections=200 -c fsync=off"
    subprocess.run(
        [str(bin_dir / "pg_ctl"), "-D", str(PGDATA), "-o", options, "-l", str(PGDATA / "server.log"),
         "-w", "-t", "60", "start"],
        check=True, stdout=subprocess.DEVNULL, **run_as,  # type: ignore[arg-type]
    )
    for _ in range(60):
        if _answers():
            _log("ready")
            print(_url())
            return
        time.sleep(0.5)
    _log("server did not answer within 30 s; see " + str(PGDATA / "server.log"))
    sys.exit(1)


def stop() -> None:
    if not (PGDATA / "postmaster.pid").exists():
        _log(f"no server running from {PGDATA}")
        return
    bin_dir = _pg_bin()
    run_as = {"user": SYSTEM_USER} if os.geteuid() == 0 else {}
    _log("stopping")
    subprocess.run(
        [str(bin_dir / "pg_ctl"), "-D", str(PGDATA), "-m", "fast", "-w", "stop"],
        check=False, stdout=subprocess.DEVNULL, **run_as,  # type: ignore[arg-type]
    )


def createdb(name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(_url(), autocommit=True, connect_timeout=10) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            return
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        _log(f"created database {name}")


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else ""
    if command == "start":
        start()
    elif command == "stop":
        stop()
    elif command == "status":
        sys.exit(0 if _answers() else 1)
    elif command == "url":
        print(_url())
    elif command == "createdb" and len(sys.argv) == 3:
        createdb(sys.argv[2])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)

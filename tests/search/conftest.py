"""Fixtures for the search tests: a throw-away PostgreSQL server on loopback (session
fixtures: ``postgres_server``, which tests can stop and start again, and its ``postgres_url``).

Uses the Debian server under /usr/lib/postgresql/*/bin, installing the ``postgresql``
package with apt-get when it is missing and we are root. The cluster lives in a temporary
directory, listens on 127.0.0.1 on a free port, runs as the ``postgres`` user when the
tests run as root, and is removed afterwards.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from search_postgres import PostgresServer

PASSWORD_LENGTH = 24


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


def _install() -> None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    command = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "postgresql"]
    if subprocess.run(command, env=env, capture_output=True).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, check=True)
        subprocess.run(command, env=env, capture_output=True, check=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url(postgres_server: PostgresServer) -> str:
    """``postgresql+psycopg2://lrkit:PASSWORD@127.0.0.1:PORT/postgres`` of a fresh server."""
    return postgres_server.url


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A fresh server on loopback, removed after the session."""
    root = os.geteuid() == 0
    bin_dir = _bin_dir()
    if bin_dir is None:
        if not root:
            message = "PostgreSQL is not installed and installing it needs root"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        _install()
        bin_dir = _bin_dir()
        assert bin_dir is not None, "apt-get installed postgresql but no pg_ctl was found"
    base = Path(tempfile.mkdtemp(prefix="lrkit-pg-"))
    password = secrets.token_hex(PASSWORD_LENGTH // 2)
    (base / "pw").write_text(password + "\n")
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    as_server = [runuser, "-u", "postgres", "--"] if root else []
    if root:
        for path in (base, base / "pw"):
            shutil.chown(path, "postgres", "postgres")
    data, port = base / "data", _free_port()
    subprocess.run(
        [
            *as_server,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "lrkit",
            "-E",
            "UTF8",
            "--auth=scram-sha-256",
            f"--pwfile={base / 'pw'}",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*as_server, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(base / "log")]
    server = PostgresServer(
        url=f"postgresql+psycopg2://lrkit:{password}@127.0.0.1:{port}/postgres",
        pg_ctl=[*pg_ctl, "-o", options],
    )
    server.start()
    try:
        yield server
    finally:
        subprocess.run([*pg_ctl, "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)

"""A throw-away PostgreSQL server for the search tests: the running server the
``postgres_server`` fixture (tests/search/conftest.py) hands out, which tests can stop and
start again.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass


@dataclass
class PostgresServer:
    """A running server: its URL, and ``stop()`` / ``start()`` to take it away and back."""

    url: str
    pg_ctl: list[str]

    def stop(self) -> None:
        """Stop at once, as a crash would (``pg_ctl stop -m immediate``)."""
        subprocess.run([*self.pg_ctl, "-m", "immediate", "stop"], check=True, capture_output=True)

    def start(self) -> None:
        subprocess.run([*self.pg_ctl, "-w", "-t", "60", "start"], check=True, capture_output=True)

"""Configuration from the environment, with safe defaults. Every variable is listed in the README."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass
from typing import Mapping


def _int(environ: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise SystemExit(f"{name} must be at least {minimum}, not {value}")
    return value


def _flag(environ: Mapping[str, str], name: str, default: bool) -> bool:
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise SystemExit(f"{name} must be 1 or 0, not {raw!r}")
def _networks(environ: Mapping[str, str], name: str, default: str) -> str:
    """A comma-separated list of IP addresses or networks (CIDR), or `none`; checked here, parsed by the user."""
    raw = environ.get(name)
    raw = default if raw is None or not raw.strip() else raw.strip()
    if raw.lower() == "none":
        return ""
    for item in raw.split(","):
        try:
            ipaddress.ip_network(item.strip(), strict=False)
        except ValueError:
            raise SystemExit(f"{name} must be IP addresses or networks, comma-separated, or none: {item!r}") from None
    return ",".join(item.strip() for item in raw.split(","))


@dataclass(frozen=True)
class Config:
    database_url: str = "postgresql:///l2i"
    pool_size: int = 4
    pool_timeout_s: int = 3
    connect_timeout_s: int = 3
    statement_timeout_ms: int = 5000
    max_body_bytes: int = 65536
    max_import_bytes: int = 50 * 1024 * 1024
    retry_after_s: int = 5
    # Behind pgbouncer in transaction pooling: no server-side prepared statements, no startup options.
    pgbouncer: bool = False
    # Test each pooled connection idle for a second or more before lending it (one empty round trip): a
    # connection killed by a failover or a restart is dropped and replaced instead of failing one request with a
    # 503 (l2i/db.py, CHECK_AFTER_IDLE_S).
    pool_check: bool = True
    # Peers whose X-Forwarded-For l2i believes (the proxy in front of it): the local nginx. A header from any
    # other peer is ignored; `none` believes nobody.
    trusted_proxies: str = "127.0.0.1,::1"
    # CSV import jobs (l2i/import_jobs.py): runner threads in this process (0: none here, `l2i worker` runs them),
    # jobs at once per account and in all (counted in the database, across every process and host), the lease a
    # runner holds on a job, and how long a request may wait for a job's end (Prefer: wait=N) and how many at once.
    import_threads: int = 2
    imports_per_account: int = 2
    imports_total: int = 4
    import_lease_s: int = 60
    import_max_wait_s: int = 30
    import_waiters: int = 4
    # Slow clients (l2i/guard.py): the longest wait for any read, also the whole request head's limit; and the
    # whole body's limit.
    read_timeout_s: int = 10
    body_timeout_s: int = 120
    # Group commit (l2i/batching.py): the most single-lead posts of one worker decided in one transaction; 1: each
    # in its own. gunicorn's config sets it to the worker's threads (l2i/gunicorn_conf.py); outside gunicorn
    # (tests in process, the CLI) it stays off unless set.
    intake_batch: int = 1
    graph_base_url: str = "https://graph.facebook.com/v19.0"
    graph_timeout_s: int = 3

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "Config":
        return cls(
            database_url=environ.get("DATABASE_URL", "").strip() or cls.database_url,
            pool_size=_int(environ, "L2I_POOL_SIZE", cls.pool_size),
            pool_timeout_s=_int(environ, "L2I_POOL_TIMEOUT", cls.pool_timeout_s),
            connect_timeout_s=_int(environ, "L2I_CONNECT_TIMEOUT", cls.connect_timeout_s),
            statement_timeout_ms=_int(environ, "L2I_STATEMENT_TIMEOUT_MS", cls.statement_timeout_ms),
            max_body_bytes=_int(environ, "L2I_MAX_BODY_BYTES", cls.max_body_bytes, minimum=1024),
            max_import_bytes=_int(environ, "L2I_MAX_IMPORT_BYTES", cls.max_import_bytes, minimum=1024),
            retry_after_s=_int(environ, "L2I_RETRY_AFTER", cls.retry_after_s),
            pgbouncer=_flag(environ, "L2I_PGBOUNCER", cls.pgbouncer),
            pool_check=_flag(environ, "L2I_POOL_CHECK", cls.pool_check),
            trusted_proxies=_networks(environ, "L2I_TRUSTED_PROXIES", cls.trusted_proxies),
            import_threads=_int(environ, "L2I_IMPORT_THREADS", cls.import_threads, minimum=0),
            imports_per_account=_int(environ, "L2I_IMPORTS_PER_ACCOUNT", cls.imports_per_account),
            imports_total=_int(environ, "L2I_IMPORTS_TOTAL", cls.imports_total),
            import_lease_s=_int(environ, "L2I_IMPORT_LEASE_S", cls.import_lease_s, minimum=2),
            import_max_wait_s=_int(environ, "L2I_IMPORT_MAX_WAIT_S", cls.import_max_wait_s, minimum=0),
            import_waiters=_int(environ, "L2I_IMPORT_WAITERS", cls.import_waiters, minimum=0),
            read_timeout_s=_int(environ, "L2I_READ_TIMEOUT", cls.read_timeout_s),
            body_timeout_s=_int(environ, "L2I_BODY_TIMEOUT", cls.body_timeout_s),
            intake_batch=_int(environ, "L2I_INTAKE_BATCH", cls.intake_batch),
            graph_base_url=environ.get("L2I_GRAPH_BASE_URL", "").strip() or cls.graph_base_url,
            graph_timeout_s=_int(environ, "L2I_GRAPH_TIMEOUT", cls.graph_timeout_s),
        )

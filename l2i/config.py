"""Configuration from the environment, with safe defaults. Every variable is listed in the README."""

from __future__ import annotations

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
            graph_base_url=environ.get("L2I_GRAPH_BASE_URL", "").strip() or cls.graph_base_url,
            graph_timeout_s=_int(environ, "L2I_GRAPH_TIMEOUT", cls.graph_timeout_s),
        )

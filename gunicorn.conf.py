# gunicorn settings for l2i. `gunicorn -c gunicorn.conf.py` starts the service; the environment overrides:
#   L2I_BIND      address to listen on              (default 127.0.0.1:8000; behind nginx, keep it on loopback)
#   L2I_WORKERS   worker processes                  (default 2 x cores + 1)
#   L2I_LOG_LEVEL gunicorn's and l2i's log level    (default info)
# Database settings (DATABASE_URL, L2I_POOL_SIZE, ...) are read by the app itself: see README.md.
import multiprocessing
import os

wsgi_app = "l2i.app:get_app()"

bind = os.environ.get("L2I_BIND", "127.0.0.1:8000")

# Sync workers: every request is a short CPU burst (parse, validate) plus one or two database round trips,
# so a process per core, plus one, keeps both cores busy while others wait on PostgreSQL. Each worker opens
# its own connection pool after the fork (get_app runs in the worker; preload_app stays off).
worker_class = "sync"
workers = int(os.environ.get("L2I_WORKERS", multiprocessing.cpu_count() * 2 + 1))

# A request that takes longer than this is killed and its worker replaced: the database timeouts
# (statement 5 s, pool wait 3 s, connect 3 s) answer 503 long before it.
timeout = 30
graceful_timeout = 20
keepalive = 5

# Recycle workers now and then, with jitter so they do not all restart together.
max_requests = 20000
max_requests_jitter = 2000

# Logs to stderr. gunicorn's access log stays off: l2i logs one line per request itself (l2i.access), without
# the query string (postback tokens travel in it) and without keys.
errorlog = "-"
accesslog = None
loglevel = os.environ.get("L2I_LOG_LEVEL", "info")
proc_name = "l2i"

# Behind nginx: trust X-Forwarded-* from the proxy on this host only.
forwarded_allow_ips = "127.0.0.1,::1"


def post_worker_init(worker):
    # A CSV import (POST /v1/leads/import) can run for minutes: it tells the arbiter after every batch that the
    # worker is alive, so `timeout` still kills a hung worker but not a long import.
    from l2i import csv_import
    csv_import.heartbeat = worker.notify

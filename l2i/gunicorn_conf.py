# gunicorn settings for l2i, shipped in the package: `gunicorn -c python:l2i.gunicorn_conf` starts an installed
# service (deploy/systemd/l2i.service), `gunicorn -c gunicorn.conf.py` (which imports this) the source tree's.
# The environment overrides:
#   L2I_BIND      address to listen on              (default 127.0.0.1:8000; behind nginx, keep it on loopback)
#   L2I_WORKERS   worker processes                  (default: one per core)
#   L2I_THREADS   request threads in each worker    (default 8; also the default L2I_POOL_SIZE and L2I_INTAKE_BATCH)
#   L2I_LOG_LEVEL gunicorn's and l2i's log level    (default info)
# Database settings (DATABASE_URL, L2I_POOL_SIZE, ...) are read by the app itself: see README.md.
import multiprocessing
import os

from l2i.logs import install_gunicorn_filter

wsgi_app = "l2i.app:get_app()"

bind = os.environ.get("L2I_BIND", "127.0.0.1:8000")

# Threaded workers: one process per core, 8 threads each, a pool of as many connections as threads. Chosen by
# measurement (intake at 32 connections, bench/intake.lua; noisy, since the 2 cores are shared): against sync
# workers (2 x cores + 1) it served more req/s in 5 of 6 interleaved pairs (e.g. 893 vs 628) with 10-25% less
# worker CPU per request, thanks to keep-alive (sync closes every connection) and fewer processes on 2 cores.
# 2 x 4, 2 x 16, 3 x 4, 5 x 2, 5 x 4 were no better; the access log cost nothing measurable and stays on.
# Re-checked 2026-11-30 (issue 13) after the SQL floor doubled (lead_intake's calling window computed once), intake
# at 32 connections, interleaved, load average 12-15: gthread 2 x 8 355 / 229 req/s, sync 4 x 1 (the reference's
# model, pool 1) 298 / 183, sync 5 x 1 310 / 214: gthread stays ahead in both rounds, p99 no worse.
# Again after lead_intake became one PL/pgSQL call (l2i_lead_intake; 3 interleaved rounds x 8 s, 32 connections):
# 2 x 8 607 req/s median, 3 x 4 585, 4 x 2 480, 4 x 1 350 (bench/RESULTS.md).
# Again after migration 0016 (floor +60%; 3 interleaved rounds x 8 s, 32 connections, 17:15 UTC): 2 x 8 785 req/s
# median, 3 x 4 807, 4 x 4 820, 2 x 16 805 (within the noise of one another); sync workers (the reference's model,
# pool 1 each), another run: 4 x 1 586, 6 x 1 625 against 2 x 8's 559, overlapping rounds, and sync has no guard
# against slow clients. 2 x 8 stays.
# Again on another host (AMD EPYC, 2026-11-30 19:40 UTC, 3 interleaved rounds x 8 s): 2 x 8, 2 x 4 and 4 x 2
# each led one round (3 x 3 none); the machine's speed swung by a third within a minute. A smaller pool than
# threads (L2I_POOL_SIZE=2, threads 8) was ahead in 6 of 6 interleaved pairs (+1 to +15%: fewer backends on the
# 2 cores), at the cost of headroom for slow requests: the default stays one connection per thread (README).
# Each worker opens its own pool after the fork (get_app runs in the worker; preload_app stays off).
# gthread with deadlines on reading each request (l2i/guard.py): a stalled or trickling client cannot hold a
# request thread (head: L2I_READ_TIMEOUT, 10 s; body: each read L2I_READ_TIMEOUT, the whole L2I_BODY_TIMEOUT, 120 s).
worker_class = "l2i.guard.GuardedThreadWorker"
workers = int(os.environ.get("L2I_WORKERS", multiprocessing.cpu_count()))
threads = int(os.environ.get("L2I_THREADS", 8))
os.environ.setdefault("L2I_POOL_SIZE", str(threads))  # read by l2i.config in each worker
# Group commit (l2i/batching.py): the single-lead posts a worker's threads take in at the same moment share one
# transaction and one round trip, at most one per thread. 2026-11-30, 32 connections, 6 pairs on/off (ABBA, 10 s
# each): PostgreSQL CPU per intake 0.59 vs 0.77 ms (medians; 1.3-1.4 vs 2.0 commits a request), req/s 1,123 vs
# 1,093, p99 66 vs 57 ms (a post may wait for the batch before its own). Against the reference, rounds run on, off,
# on: intake/ref 0.41 / 0.47 / 0.44, 0.39 / 0.38 / 0.39, 0.44 / 0.53 / 0.54 (bench/RESULTS.md). On for the
# database's sake: it is what several app hosts share. L2I_INTAKE_BATCH=1 turns it off.
os.environ.setdefault("L2I_INTAKE_BATCH", str(threads))
# Requests waiting for an import's end (Prefer: wait) hold a thread each: at most half of them, so that the others
# keep serving everyone (none with a single thread).
os.environ.setdefault("L2I_IMPORT_WAITERS", str(threads // 2))

# gthread answers the arbiter's heartbeat from its main thread, so `timeout` kills a wedged worker process,
# not a slow request: what bounds a request are the database timeouts (statement 5 s, pool wait 3 s, connect
# 3 s), which answer 503 (tests/test_faults.py).
timeout = 30
graceful_timeout = 20
keepalive = 5

# Recycle workers now and then, with jitter so they do not all restart together: a guard against a slow leak,
# not a need (worker RSS stays flat over a 5-minute intake run, bench/RESULTS.md). At 20,000 a worker was
# replaced about every minute under load, each time costing a cold start (~0.5 s of CPU, new connections,
# statements prepared again) and a p99 spike; at 500,000 it happens every 20-30 minutes at full load.
max_requests = 500000
max_requests_jitter = 50000

# Logs to stderr. gunicorn's access log stays off: l2i logs one line per request itself (l2i.access), without
# the query string (postback tokens travel in it) and without keys. gunicorn's own error log quotes whole
# request lines (an invalid one, at WARNING): a filter removes query strings and tokens from it (l2i/logs.py).
install_gunicorn_filter()
errorlog = "-"
accesslog = None
loglevel = os.environ.get("L2I_LOG_LEVEL", "info")
proc_name = "l2i"

# Behind nginx: trust X-Forwarded-* from the proxy on this host only.
forwarded_allow_ips = "127.0.0.1,::1"


def worker_exit(server, worker):
    # Each worker runs CSV import jobs in threads of its own (started by get_app, after the fork). A worker that
    # stops gives its jobs back after the current batch, so that another runner resumes them at once.
    from l2i import import_jobs
    import_jobs.stop_local_runner(timeout=graceful_timeout / 2)

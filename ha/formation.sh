#!/usr/bin/env bash
# A pg_auto_failover formation on loopback: a monitor, a primary and a synchronous secondary, each a PostgreSQL 15
# server on its own port, all inside one directory. tests/test_failover.py and the README ("Automatic failover")
# both use this script.
#
#   ha/formation.sh up DIR [MONITOR_PORT PRIMARY_PORT SECONDARY_PORT]   (default ports 5500 5501 5502)
#   ha/formation.sh url DIR          the conninfo for l2i: both nodes, target_session_attrs=read-write
#   ha/formation.sh standby-url DIR  the conninfo of whichever node is a secondary now (analysts)
#   ha/formation.sh state DIR        pg_autoctl show state
#   ha/formation.sh failover DIR     a planned failover (pg_autoctl perform failover), waits until it is done
#   ha/formation.sh crash DIR [primary|secondary]  that node's host dies: its keeper, then its postmaster, SIGKILLed
#   ha/formation.sh revive DIR       starts again the keeper of a node that crashed (it rejoins as a secondary)
#   ha/formation.sh wait DIR         waits until the formation has one primary and one secondary
#   ha/formation.sh down DIR         stops every server and removes DIR
#
# Debian's postgresql-15-auto-failover (pg_autoctl 2.0). pg_autoctl will not run as root (initdb refuses): as root
# the script runs it as the postgres user, and keeps every runtime, config and data directory inside DIR, owned by
# that user (a root-owned /tmp/pg_autoctl from an earlier attempt would stop it writing its pid file). The nodes
# trust connections on loopback (--auth trust, --no-ssl): a loopback demonstration, not a network set-up; see the
# README for what changes on real hosts. The database is `l2i`, the superuser `postgres`.
#
# Failover is tightened from pg_auto_failover's defaults (a dead primary took 35-40 s to replace here with the
# shorter health checks alone, 30 s of it the monitor's primary_demote_timeout): the monitor checks each node every
# second and declares it unhealthy after 6 s; it promotes the secondary once the old primary has demoted or 10 s
# have passed (DEMOTE_TIMEOUT_MS), and each keeper demotes its primary by itself after 5 s without the monitor and
# the standby (PARTITION_TIMEOUT_S, pg_autoctl's timeout.network_partition_timeout), before that 10 s run out.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
HEALTH_CHECK_PERIOD_MS=${HEALTH_CHECK_PERIOD_MS:-1000}
HEALTH_CHECK_TIMEOUT_MS=${HEALTH_CHECK_TIMEOUT_MS:-1000}
HEALTH_CHECK_RETRY_DELAY_MS=${HEALTH_CHECK_RETRY_DELAY_MS:-500}
HEALTH_CHECK_MAX_RETRIES=${HEALTH_CHECK_MAX_RETRIES:-1}
UNHEALTHY_TIMEOUT_MS=${UNHEALTHY_TIMEOUT_MS:-6000}
DEMOTE_TIMEOUT_MS=${DEMOTE_TIMEOUT_MS:-10000}
PARTITION_TIMEOUT_S=${PARTITION_TIMEOUT_S:-5}

usage() { sed -n '2,/^set -e/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 2; }

[ $# -ge 2 ] || usage
command=$1
dir=$(realpath -m "$2")

as_owner() {  # run a command as the user that owns the formation, with its directories
  local env=(XDG_RUNTIME_DIR="$dir/run" XDG_CONFIG_HOME="$dir/config" XDG_DATA_HOME="$dir/share"
             PATH="$PGBIN:$PATH" PGHOST=127.0.0.1)
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- env "${env[@]}" "$@"
  else
    env "${env[@]}" "$@"
  fi
}

port_of() { cat "$dir/$1.port"; }

monitor_uri() { echo "postgres://autoctl_node@127.0.0.1:$(port_of monitor)/pg_auto_failover?sslmode=disable"; }

monitor_sql() { as_owner psql -X -At -h 127.0.0.1 -p "$(port_of monitor)" -U postgres -d pg_auto_failover -c "$1"; }

start_keeper() {  # pg_autoctl run for one node, detached, logging into DIR/NAME.log
  as_owner setsid nohup pg_autoctl run --pgdata "$dir/$1" >>"$dir/$1.log" 2>&1 </dev/null &
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...: retry COMMAND every 0.5 s
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 $((seconds * 2))); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  echo "formation: $what did not happen within $seconds s" >&2
  tail -n 20 "$dir"/*.log >&2 || true
  return 1
}

states() {  # "reported/goal" of each node, in node order
  monitor_sql "SELECT string_agg(reportedstate || '/' || goalstate, ' ' ORDER BY nodeid) FROM pgautofailover.node"
}

single() { [ "$(states)" = "single/single" ]; }

settled() {  # one primary and one secondary, each in the state the monitor wants
  [ "$(states)" = "primary/primary secondary/secondary" ] || [ "$(states)" = "secondary/secondary primary/primary" ]
}

node_port_in_state() {  # the port of the node whose reported and goal state are $1
  monitor_sql "SELECT nodeport FROM pgautofailover.node WHERE reportedstate = '$1' AND goalstate = '$1' LIMIT 1"
}

case $command in
up)
  monitor_port=${3:-5500} primary_port=${4:-5501} secondary_port=${5:-5502}
  mkdir -p "$dir/run" "$dir/config" "$dir/share"
  echo "$monitor_port" >"$dir/monitor.port"
  echo "$primary_port" >"$dir/node1.port"
  echo "$secondary_port" >"$dir/node2.port"
  [ "$(id -u)" != 0 ] || chown -R postgres: "$dir"
  as_owner pg_autoctl create monitor --pgdata "$dir/monitor" --pgport "$monitor_port" --hostname 127.0.0.1 \
    --auth trust --no-ssl >>"$dir/monitor.log" 2>&1
  as_owner pg_autoctl config set --pgdata "$dir/monitor" postgresql.listen_addresses 127.0.0.1 >/dev/null
  start_keeper monitor
  wait_for 60 "the monitor answering" monitor_sql "SELECT 1"
  monitor_sql "ALTER SYSTEM SET pgautofailover.health_check_period = $HEALTH_CHECK_PERIOD_MS" >/dev/null
  monitor_sql "ALTER SYSTEM SET pgautofailover.health_check_timeout = $HEALTH_CHECK_TIMEOUT_MS" >/dev/null
  monitor_sql "ALTER SYSTEM SET pgautofailover.health_check_retry_delay = $HEALTH_CHECK_RETRY_DELAY_MS" >/dev/null
  monitor_sql "ALTER SYSTEM SET pgautofailover.health_check_max_retries = $HEALTH_CHECK_MAX_RETRIES" >/dev/null
  monitor_sql "ALTER SYSTEM SET pgautofailover.node_considered_unhealthy_timeout = $UNHEALTHY_TIMEOUT_MS" >/dev/null
  monitor_sql "ALTER SYSTEM SET pgautofailover.primary_demote_timeout = $DEMOTE_TIMEOUT_MS" >/dev/null
  monitor_sql "SELECT pg_reload_conf()" >/dev/null
  for node in node1 node2; do
    as_owner pg_autoctl create postgres --pgdata "$dir/$node" --pgport "$(port_of $node)" --hostname 127.0.0.1 \
      --listen 127.0.0.1 --name "$node" --dbname l2i --auth trust --no-ssl --monitor "$(monitor_uri)" \
      >>"$dir/$node.log" 2>&1
    # Before the keeper starts: `config set` rewrites the file a starting keeper reads.
    as_owner pg_autoctl config set --pgdata "$dir/$node" timeout.network_partition_timeout "$PARTITION_TIMEOUT_S" \
      >/dev/null
    start_keeper "$node"
    if [ "$node" = node1 ]; then
      wait_for 90 "node1 becoming the primary" single
    fi
  done
  wait_for 120 "node2 becoming a synchronous secondary" settled
  "$0" state "$dir"
  ;;
url)
  echo "host=127.0.0.1,127.0.0.1 port=$(port_of node1),$(port_of node2) dbname=l2i user=postgres" \
       "target_session_attrs=read-write"
  ;;
standby-url)
  echo "host=127.0.0.1 port=$(node_port_in_state secondary) dbname=l2i user=postgres"
  ;;
state) as_owner pg_autoctl show state --pgdata "$dir/monitor" ;;
wait) wait_for "${3:-120}" "the formation settling (one primary, one secondary)" settled ;;
failover)
  as_owner pg_autoctl perform failover --pgdata "$dir/monitor" --wait 120 >>"$dir/failover.log" 2>&1
  wait_for 120 "the formation settling after the failover" settled
  ;;
crash)
  port=$(node_port_in_state "${3:-primary}")
  node=$(grep -lx "$port" "$dir"/node1.port "$dir"/node2.port | xargs -n 1 basename | sed 's/\.port$//')
  rundir="$dir/run/pg_autoctl$dir/$node"
  postmaster=$(head -n 1 "$dir/$node/postmaster.pid")
  # The keeper first (its supervisor would restart PostgreSQL), then the postmaster; its backends exit on
  # noticing the postmaster is gone, and the monitor's health checks find the node dead.
  for pidfile in "$rundir/pg_autoctl.pid" "$rundir/pg_autoctl_postgres.pid" "$rundir/pg_autoctl_node-active.pid"; do
    [ -f "$pidfile" ] && kill -KILL "$(head -n 1 "$pidfile")" 2>/dev/null || true
  done
  kill -KILL "$postmaster"
  echo "$node $port $postmaster"
  ;;
revive)
  for node in node1 node2; do
    rundir="$dir/run/pg_autoctl$dir/$node"
    if ! { [ -f "$rundir/pg_autoctl.pid" ] && kill -0 "$(head -n 1 "$rundir/pg_autoctl.pid")" 2>/dev/null; }; then
      rm -f "$rundir"/*.pid
      start_keeper "$node"
      echo "$node"
    fi
  done
  ;;
down)
  for node in node2 node1 monitor; do
    [ -d "$dir/$node" ] && as_owner pg_autoctl stop --pgdata "$dir/$node" --immediate >/dev/null 2>&1 || true
  done
  for node in node2 node1 monitor; do  # anything pg_autoctl did not stop (a killed keeper leaves its postgres)
    for pidfile in "$dir/$node/postmaster.pid"; do
      [ -f "$pidfile" ] && kill -9 "$(head -n 1 "$pidfile")" 2>/dev/null || true
    done
  done
  sleep 0.5
  rm -rf "$dir"
  ;;
*) usage ;;
esac

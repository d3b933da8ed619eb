"""`make mutants`: named mutants of the critical SQL and Python, each applied to a scratch copy of the tree and
checked by the tests that target it. A mutant the tests do not kill is a missing test.

Each mutant is one or more exact text replacements (the text must occur exactly once, else the mutant is stale
and reported as such) and the pytest node ids that must catch it. The unmutated copy must pass those tests first.
Prints one line per mutant and the totals; exits 1 when a mutant survives or is stale.

    .venv/bin/python tests/mutants.py [NAME ...]      # all, or only the named ones
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    why: str
    edits: tuple[tuple[str, str, str], ...]  # (file, old, new)
    tests: tuple[str, ...]


EVENTS_0015 = "sql/migrations/0015_lead_events_partitions.sql"
INTAKE_0016 = "sql/migrations/0016_intake_statements.sql"

MUTANTS = (
    Mutant("claim_without_skip_locked", "the claim waits for (or fails on) a lead another claim holds",
           (("sql/queries/dialing.sql", "    LIMIT %(limit)s\n    FOR UPDATE OF q, l SKIP LOCKED",
             "    LIMIT %(limit)s\n    FOR UPDATE OF q, l"),),
           ("tests/test_backstops.py::test_a_claim_skips_a_locked_lead_and_returns_the_others_at_once",)),
    Mutant("claim_ignores_calling_window", "leads handed out at any hour",
           (("sql/queries/dialing.sql", "AND l2i_call_allowed(q.zones, q.states, clock.now)", "AND true"),),
           ("tests/test_dialing.py::test_a_lead_is_never_handed_out_outside_its_calling_window",)),
    Mutant("postback_call_id_index_dropped", "only the API's lookup keeps a call id to one postback",
           (("sql/migrations/0004_revenue.sql",
             "CREATE UNIQUE INDEX postbacks_account_call_id_key ON postbacks (account_id, call_id) "
             "WHERE call_id IS NOT NULL;",
             "CREATE INDEX postbacks_account_call_id_key ON postbacks (account_id, call_id) "
             "WHERE call_id IS NOT NULL;"),),
           ("tests/test_backstops.py::test_the_database_refuses_a_second_postback_with_the_same_call_id",)),
    Mutant("dedupe_key_not_locked", "two concurrent posts of a number whose lead expired make two leads",
           (("sql/migrations/0014_partitions.sql",
             "        WHERE k.account_id = p_account_id AND k.phone = p_phone FOR UPDATE;\n    END IF;",
             "        WHERE k.account_id = p_account_id AND k.phone = p_phone;\n    END IF;"),),
           ("tests/test_concurrency.py",
            "tests/test_partitions.py::test_posts_waiting_on_the_dedupe_key_replace_an_expired_lead_once")),
    Mutant("nine_digit_us_phone", "a 9-digit number is taken as a US phone",
           (("l2i/phones.py", "    if result != phonenumbers.ValidationResult.IS_POSSIBLE:\n",
             "    if result != phonenumbers.ValidationResult.IS_POSSIBLE and "
             "len(phonenumbers.national_significant_number(number)) != 9:\n"),),
           ("tests/test_backstops.py::test_a_nine_digit_number_is_not_a_us_phone",)),
    Mutant("key_by_prefix", "a key is found by its 12-character prefix, not its hash",
           (("sql/queries/api_keys.sql", "WHERE key_hash = %(key_hash)s AND revoked_at IS NULL",
             "WHERE prefix = %(prefix)s AND revoked_at IS NULL"),
            ("l2i/middleware.py", 'key = sql.one(conn, "key_hit", key_hash=hashlib.sha256(token.encode()).digest())',
             'key = sql.one(conn, "key_hit", key_hash=hashlib.sha256(token.encode()).digest(), prefix=token[:12])')),
           ("tests/test_backstops.py::test_a_key_sharing_a_real_keys_prefix_is_refused",)),
    Mutant("revoked_key_accepted", "a revoked key keeps working",
           (("sql/queries/api_keys.sql", "WHERE key_hash = %(key_hash)s AND revoked_at IS NULL",
             "WHERE key_hash = %(key_hash)s"),),
           ("tests/test_auth.py",)),
    Mutant("rate_limit_off_by_one", "one request fewer than the limit",
           (("l2i/middleware.py", 'if key["hits"] > key["rate_limit"]:', 'if key["hits"] >= key["rate_limit"]:'),),
           ("tests/test_auth.py",)),
    Mutant("consent_needs_only_one_field", "a lead with a consent time but no text version is called",
           (("l2i/intake.py", "    if missing:\n", "    if len(missing) > 1:\n"),),
           ("tests/test_intake.py",)),
    Mutant("suppression_ignored_at_intake", "a suppressed number is queued",
           ((INTAKE_0016, "v_held := CASE WHEN v_suppressed THEN ARRAY['suppressed']",
             "v_held := CASE WHEN false THEN ARRAY['suppressed']"),),
           ("tests/test_intake.py::test_suppressed_number_is_held", "tests/test_suppressions.py")),
    Mutant("deleted_lead_leaves_its_queue_row", "a deleted lead's queue row and dedupe key stay behind",
           ((INTAKE_0016, "    IF v_at IS NULL THEN\n        DELETE FROM dial_queue",
             "    IF false THEN\n        DELETE FROM dial_queue"),),
           ("tests/test_partitions.py::test_a_leads_queue_row_and_dedupe_key_follow_it",)),
    Mutant("queue_row_keeps_old_created_at", "a lead's queue row and dedupe key point at its old created_at",
           ((INTAKE_0016, "        v_at := NEW.created_at;\n", "        v_at := OLD.created_at;\n"),),
           ("tests/test_partitions.py::test_a_leads_queue_row_and_dedupe_key_follow_it",)),
    Mutant("partition_drop_orphans_queue", "a month is dropped under the queue rows of its leads",
           ((INTAKE_0016, "    IF p_partition LIKE 'leads\\_%'\n", "    IF false\n"),),
           ("tests/test_partitions.py::test_a_lead_of_any_time_is_stored_and_a_later_partition_takes_it_in",)),
    Mutant("future_rule_in_force", "an amendment decides leads before its date",
           ((INTAKE_0016, "        IF r.effective_from > (p_at AT TIME ZONE r.primary_tz)::date THEN",
             "        IF false THEN"),),
           ("tests/test_compliance.py::test_before_an_amendments_date_the_rule_in_force_decides_and_is_recorded",)),
    Mutant("pool_check_never", "a connection killed while idle is lent and fails a request",
           (("l2i/db.py", '    if time.monotonic() - getattr(conn, "_l2i_returned_at", float("-inf")) >= CHECK_AFTER_IDLE_S:',
             '    if False:'),),
           ("tests/test_pool.py",)),
    Mutant("pool_check_always", "every loan of a connection costs an extra round trip",
           (("l2i/db.py", '    if time.monotonic() - getattr(conn, "_l2i_returned_at", float("-inf")) >= CHECK_AFTER_IDLE_S:',
             '    if True:'),),
           ("tests/test_pool.py",)),
    Mutant("pool_return_unstamped", "a connection back from a request is tested again before every loan",
           (("l2i/db.py", "        conn._l2i_returned_at = time.monotonic()\n", "        pass\n"),),
           ("tests/test_pool.py",)),
    Mutant("batch_not_replayed", "one lead the database refuses fails every lead of its batch",
           (("l2i/batching.py",
             "            for lead in ordered:  # rolled back: each again, alone\n                self._alone(conn, lead)\n"
             "            return\n",
             "            raise\n"),),
           ("tests/test_batching.py",)),
    Mutant("batch_never_formed", "each queued lead still commits alone: no group commit",
           (("l2i/batching.py", "                if len(batch) == 1:\n                    self._alone(conn, batch[0])\n",
             "                if True:\n                    for lead in batch:\n                        self._alone(conn, lead)\n"),),
           ("tests/test_batching.py",)),
    Mutant("campaign_claim_index_unusable", "a claim for one campaign walks the whole account's queue",
           (("sql/migrations/0011_campaigns.sql",
             "CREATE INDEX dial_queue_campaign_claim_idx ON dial_queue (account_id, campaign_id, campaign_priority DESC,",
             "CREATE INDEX dial_queue_campaign_claim_idx ON dial_queue (enqueued_at, account_id, campaign_id, "
             "campaign_priority DESC,"),),
           ("tests/test_campaigns.py::test_the_claim_by_campaign_is_served_by_its_index",)),
    Mutant("call_time_fast_path_unchecked", "a lead outside its calling window is queued for now",
           (("sql/migrations/0012_intake_speed.sql", "    IF l2i_call_allowed(p_zones, p_states, p_after) THEN\n",
             "    IF p_after IS NOT NULL THEN\n"),),
           ("tests/test_calling_window.py::test_the_fast_path_answers_as_the_search",)),
    Mutant("read_only_not_retryable", "a read-only database is a 500 again",
           (("l2i/errors.py", '    "25006",  # read_only_sql_transaction\n', ""),),
           ("tests/test_read_only.py",)),
    Mutant("readyz_ignores_read_only", "/readyz says 200 on a read-only server",
           (("l2i/resources/health.py", 'if row["in_recovery"] or row["read_only"]:', 'if row["in_recovery"]:'),),
           ("tests/test_read_only.py",)),
    Mutant("json_depth_unchecked", "deep JSON is taken (and once was a 500)",
           (("l2i/bodies.py", "if json_depth(body) > MAX_JSON_DEPTH:", "if False:"),),
           ("tests/test_bodies.py",)),
    Mutant("chunked_read_as_empty", "a chunked body is read as empty",
           (("l2i/bodies.py", '    if req.content_length is None and "chunked" in',
             '    if False and "chunked" in'),),
           ("tests/test_bodies.py",)),
    Mutant("forwarded_for_from_anyone", "any client sets its own consent.ip with X-Forwarded-For",
           (("l2i/clients.py", "if forwarded_for and _trusted(client, trusted):", "if forwarded_for:"),),
           ("tests/test_clients.py",)),
    Mutant("forwarded_for_leftmost", "the client-written end of X-Forwarded-For is believed",
           (("l2i/clients.py", 'for hop in reversed(forwarded_for.split(",")):',
             'for hop in forwarded_for.split(","):'),),
           ("tests/test_clients.py",)),
    Mutant("query_strings_logged", "tokens in gunicorn's log",
           (("l2i/logs.py", '    text = _QUERY.sub("?[redacted]", text)\n', ""),),
           ("tests/test_logs.py",)),
    Mutant("access_path_unescaped", "a %0a in a URL forges an access line",
           (("l2i/middleware.py", "log_path(req.path), resp.status_code", "req.path, resp.status_code"),),
           ("tests/test_logs.py",)),
    Mutant("csv_formulas_kept", "a lead's =HYPERLINK(...) runs in the spreadsheet",
           (("l2i/cli.py", 'return "\'" + text if text[:1] in', 'return text if text[:1] in'),),
           ("tests/test_logs.py",)),
    Mutant("advisory_locks_public", "an analyst stalls postbacks with pg_advisory_lock",
           (("sql/migrations/0010_analyst_per_database.sql",
             "            EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', v_function);\n", ""),),
           ("tests/test_analyst.py",)),
    Mutant("connect_left_to_public", "an analyst of one database connects to another",
           (("sql/migrations/0010_analyst_per_database.sql",
             "    EXECUTE format('REVOKE CONNECT, TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());\n", ""),),
           ("tests/test_analyst.py",)),
    Mutant("events_default_rows_stay", "making a month fails while the default partition holds its events",
           ((EVENTS_0015, "    IF NOT v_moving THEN\n", "    IF true THEN\n"),),
           ("tests/test_partitions.py::test_an_event_of_any_time_is_stored_and_its_month_takes_it_in",)),
    Mutant("partition_drop_unguarded", "a live month's partition can be dropped",
           ((INTAKE_0016, "WHERE x.partition_name = p_partition AND x.before;",
             "WHERE x.partition_name = p_partition;"),),
           ("tests/test_partitions.py::test_an_event_of_any_time_is_stored_and_its_month_takes_it_in",)),
    Mutant("ensure_leads_only", "the months ahead of lead_events are not made",
           ((EVENTS_0015, "FOREACH v_table IN ARRAY ARRAY['leads', 'lead_events'] LOOP",
             "FOREACH v_table IN ARRAY ARRAY['leads'] LOOP"),),
           ("tests/test_partitions.py::test_ensure_makes_the_months_ahead_once",)),
    Mutant("events_without_lead_index", "GET /v1/leads/{id} reads every partition of lead_events whole",
           ((EVENTS_0015, "CREATE INDEX lead_events_lead_idx ON lead_events (lead_id, id);",
             "CREATE INDEX lead_events_lead_idx ON lead_events (account_id, id);"),),
           ("tests/test_partitions.py::test_a_leads_events_are_an_index_lookup_in_each_partition",)),
    Mutant("events_identity_restarts", "after the upgrade, new events reuse the copied ids",
           ((EVENTS_0015, "SELECT setval(pg_get_serial_sequence('lead_events', 'id'), coalesce(max(id), 0) + 1, false)",
             "SELECT setval(pg_get_serial_sequence('lead_events', 'id'), 1, false)"),),
           ("tests/test_partitions.py::test_the_migration_partitions_a_populated_lead_events",)),
)


def copy_tree(destination: Path) -> None:
    shutil.copytree(ROOT, destination, ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", "*.egg-info", "build", "dist", ".pytest_cache", ".hypothesis", "out"))


def apply(tree: Path, mutant: Mutant) -> str | None:
    """Apply the edits; the reason it is stale, if an old text is not there exactly once."""
    for file, old, new in mutant.edits:
        path = tree / file
        text = path.read_text()
        if text.count(old) != 1:
            return f"{file}: the text to change occurs {text.count(old)} times"
        path.write_text(text.replace(old, new))
    return None


def pytest(tree: Path, tests: tuple[str, ...], timeout_s: int) -> tuple[int, str]:
    # The copy comes first on the path: the venv's editable install would otherwise import the work tree's l2i.
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    args = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    try:
        result = subprocess.run(args, cwd=tree, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return 124, "timed out (counted as killed)"
    lines = (result.stdout + result.stderr).strip().splitlines()
    summary = lines[-1] if lines else ""
    caught = next((line.split(" - ")[0] for line in lines
                   if line.startswith(("FAILED tests/", "ERROR tests/"))), None)
    return result.returncode, f"{summary}; {caught}" if caught else summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="run only these mutants")
    parser.add_argument("--timeout", type=int, default=300, help="seconds per test run (default 300)")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"no such mutant: {', '.join(sorted(unknown))}")

    with tempfile.TemporaryDirectory(prefix="l2i-mutants-") as scratch:
        base = Path(scratch) / "base"
        copy_tree(base)
        check = subprocess.run([sys.executable, "-c", "import l2i; print(l2i.__file__)"], cwd=base,
                               env={**os.environ, "PYTHONPATH": str(base)}, capture_output=True, text=True)
        if not check.stdout.startswith(str(base)):
            print(f"the copy's l2i is not the one imported: {check.stdout or check.stderr}")
            return 2
        all_tests = tuple(dict.fromkeys(t for m in chosen for t in m.tests))
        # pytest runs a file only once: given a whole file and one of its tests, it may run just the test.
        whole = {t for t in all_tests if "::" not in t}
        all_tests = tuple(t for t in all_tests if t.split("::")[0] not in whole or "::" not in t)
        code, last = pytest(base, all_tests, args.timeout * 2)
        if code != 0:
            print(f"the unmutated tree fails its targeted tests: {last}")
            return 2
        print(f"unmutated: {len(all_tests)} test targets pass ({last})\n")

        survived, stale = [], []
        for mutant in chosen:
            tree = Path(scratch) / mutant.name
            copy_tree(tree)
            started = time.monotonic()
            reason = apply(tree, mutant)
            if reason:
                stale.append(mutant.name)
                print(f"STALE     {mutant.name:32} {reason}")
                continue
            code, last = pytest(tree, mutant.tests, args.timeout)
            verdict = "killed" if code != 0 else "SURVIVED"
            if code == 0:
                survived.append(mutant.name)
            print(f"{verdict:9} {mutant.name:32} {time.monotonic() - started:5.1f} s  {mutant.why}  [{last}]",
                  flush=True)
            shutil.rmtree(tree, ignore_errors=True)

    killed = len(chosen) - len(survived) - len(stale)
    print(f"\n{killed} of {len(chosen)} mutants killed; survived: {', '.join(survived) or 'none'}"
          + (f"; stale: {', '.join(stale)}" if stale else ""))
    return 1 if survived or stale else 0


if __name__ == "__main__":
    sys.exit(main())

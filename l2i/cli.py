"""The `l2i` command: migrations and the operator's day-to-day (accounts, keys, suppression).

Account, key and suppression commands run the very scripts in sql/admin/ that operators run with psql,
so both ways do exactly the same thing.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
from pathlib import Path

import psycopg
from psycopg import sql as pgsql
from psycopg.rows import dict_row

from l2i import adapters, campaigns, import_cli, phones, retention, sources, sql
from l2i.config import Config
from l2i.migrate import ensure_database, migrate
from l2i.sql import SQL_DIR

_PSQL_VARIABLE = re.compile(r":'([a-z_]+)'")


def admin_script(script: str) -> str:
    """sql/admin/SCRIPT.sql as a parameterized query: psql's :'var' becomes %(var)s; psql commands are dropped."""
    text = (SQL_DIR / "admin" / f"{script}.sql").read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("\\")]
    return _PSQL_VARIABLE.sub(r"%(\1)s", "\n".join(lines))


SOURCE_SECRETS = {
    "signing_secret": "Typeform's webhook secret, Facebook's app secret or Google's key (checked on every post)",
    "verify_token": "Facebook's webhook verify token",
    "page_token": "Facebook's page access token (to read leads)",
}
SOURCE_SECRET_ENV = {name: f"L2I_SOURCE_{name.upper()}" for name in SOURCE_SECRETS}


def _source_secrets(args) -> dict[str, str]:
    """A source's secrets from --NAME, --NAME-file FILE (- for standard input) or $L2I_SOURCE_NAME, in that order;
    '' when none. A file's or stdin's surrounding whitespace (its final newline) is not part of the secret."""
    if sum(getattr(args, f"{name}_file") == "-" for name in SOURCE_SECRETS) > 1:
        raise SystemExit("l2i: only one --*-file option can read standard input")
    secrets = {}
    for name in SOURCE_SECRETS:
        flag, value, path = "--" + name.replace("_", "-"), getattr(args, name), getattr(args, f"{name}_file")
        if value is not None and path is not None:
            raise SystemExit(f"l2i: give {flag} or {flag}-file, not both")
        if path == "-":
            value = sys.stdin.read().strip()
        elif path is not None:
            try:
                value = Path(path).read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise SystemExit(f"l2i: {flag}-file: cannot read {path}: {type(exc).__name__}") from None
        if path is not None and not value:
            raise SystemExit(f"l2i: {flag}-file: {path} is empty")
        secrets[name] = value if value is not None else os.environ.get(SOURCE_SECRET_ENV[name], "").strip()
    return secrets


def run_admin(database_url: str, script: str, /, **params) -> list[dict]:
    with psycopg.connect(database_url, autocommit=True, row_factory=dict_row) as conn:
        return conn.execute(admin_script(script), params).fetchall()


_COPY_LINE = re.compile(r"^\\copy\s+([a-z_]+)\s+FROM\s+pstdin\s*$", re.IGNORECASE)


def run_admin_copy(database_url: str, script: str, files: list[str], /, **params) -> list[dict]:
    """A script with a `\\copy TABLE FROM pstdin` line (psql reads the data from its stdin): its statements run
    in order in one transaction, the \\copy as a COPY of the files' bytes; returns the last statement's rows."""
    text = (SQL_DIR / "admin" / f"{script}.sql").read_text()
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows: list[dict] = []
        statement: list[str] = []
        for line in text.splitlines():
            copy_into = _COPY_LINE.match(line.strip())
            if copy_into:
                _copy_files(conn, copy_into[1], files)
            elif line.lstrip().startswith(("\\", "--")) or not line.strip():
                continue
            else:
                statement.append(line)
                if line.rstrip().endswith(";"):
                    query = _PSQL_VARIABLE.sub(r"%(\1)s", "\n".join(statement))
                    cursor = conn.execute(query, {k: v for k, v in params.items() if f"%({k})s" in query})
                    rows = cursor.fetchall() if cursor.description else []
                    statement = []
        conn.commit()
    return rows


def _copy_files(conn, table: str, files: list[str]) -> None:
    copy_sql = pgsql.SQL("COPY {} (raw) FROM STDIN").format(pgsql.Identifier(table))
    with conn.cursor().copy(copy_sql) as copy:
        for path in files:
            last = b"\n"
            with open(path, "rb") as source:
                while chunk := source.read(1 << 20):
                    copy.write(chunk)
                    last = chunk[-1:]
            if last != b"\n":
                copy.write(b"\n")


def _phones(raw: list[str]) -> str:
    normalized = []
    for phone in raw:
        try:
            normalized.append(phones.normalize(phone).e164)
        except phones.NotAPhone as exc:
            raise SystemExit(f"l2i: {phone!r} {exc}")
    return ",".join(normalized)


def _revoked(rows: list[dict], what: str) -> int:
    if not rows:
        print(f"l2i: no such {what}", file=sys.stderr)
        return 1
    print(f"revoked {rows[0]['id']} ({rows[0]['prefix']}) at {rows[0]['revoked_at']}")
    return 0


_CONTROL = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_NAMES = {"\\": "\\\\", "\t": "\\t", "\r": "\\r", "\n": "\\n"}


def table_cell(value) -> str:
    """A cell of a tab-separated table: a tab, line break or other control character in a lead's field (sent by
    anyone) would shift columns, forge rows or drive the terminal, so each is escaped (\\t, \\n, \\x1b, ...),
    and so is the backslash. NULL is an empty cell."""
    if value is None:
        return ""
    return _CONTROL.sub(_escape_control, str(value))


def _escape_control(match: re.Match) -> str:
    char = match[0]
    return _CONTROL_NAMES.get(char) or (f"\\x{ord(char):02x}" if ord(char) < 0x100 else f"\\u{ord(char):04x}")


def csv_cell(value) -> str:
    """A CSV cell that a spreadsheet will not run: text starting with = + - @ (or a tab or CR, which some
    spreadsheets skip before a formula) gets a leading apostrophe (OWASP, "CSV Injection",
    https://owasp.org/www-community/attacks/CSV_Injection). NULL is an empty cell."""
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _table(rows: list[dict], columns: tuple[str, ...], as_csv: bool = False) -> None:
    """Tab-separated with a header line (cells escaped), or CSV (--csv; cells safe for spreadsheets)."""
    if as_csv:
        writer = csv.writer(sys.stdout, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([csv_cell(row[c]) for c in columns] for row in rows)
        return
    print("\t".join(columns))
    for row in rows:
        print("\t".join(table_cell(row[c]) for c in columns))


def _scopes(raw: str) -> str:
    scopes = [s.strip() for s in raw.split(",") if s.strip()]
    unknown = sorted(set(scopes) - {"write", "read", "dial", "admin", "suppressions"})
    if not scopes or unknown:
        raise SystemExit("l2i: --scopes takes write and/or read, dial for dialers, admin for managing sources and "
                         "campaigns, suppressions for managing the suppression list, comma-separated "
                         f"(not {raw!r})")
    return ",".join(scopes)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="l2i", description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: $DATABASE_URL, else postgresql:///l2i")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    m = commands.add_parser("migrate", help="apply the schema migrations not applied yet")
    m.add_argument("--create-database", action="store_true", help="create the database first if it is missing")

    account = commands.add_parser("account", help="accounts").add_subparsers(dest="action", required=True)
    a = account.add_parser("create", help="create an account; prints its id")
    a.add_argument("name")
    ad = account.add_parser("dnc", help="connect (on) or disconnect (off) the National Do-Not-Call Registry")
    ad.add_argument("account_id")
    ad.add_argument("dnc", choices=("on", "off"))
    ar = account.add_parser("retention", help="show or set the days an account keeps its leads' personal data")
    ar.add_argument("account_id")
    ar.add_argument("days", nargs="?", type=int, default=None, help="default 1461 (4 years); none: show it")

    dnc = commands.add_parser("dnc", help="the National Do-Not-Call Registry").add_subparsers(dest="action",
                                                                                              required=True)
    dl = dnc.add_parser("load", help="load registry files (one 10-digit number a line) with COPY")
    dl.add_argument("files", nargs="+", metavar="FILE")
    dl.add_argument("--kind", choices=("full", "add", "delete"), default="full",
                    help="full: each file is the whole list of its area codes (default); add/delete: change files")

    key = commands.add_parser("key", help="API keys").add_subparsers(dest="action", required=True)
    k = key.add_parser("create", help="create a key; prints it last (it is shown only this once)")
    k.add_argument("account_id")
    k.add_argument("--scopes", required=True, type=_scopes,
                   help="write, read, dial, admin and/or suppressions (list and remove suppressed numbers), "
                        "comma-separated")
    k.add_argument("--rate-limit", type=int, default=None, help="requests per minute (default 120)")
    k.add_argument("--name", default=None, help="a label for the key")
    k.add_argument("--campaign", default=None, help="the key's default campaign (code or name), for leads naming none")
    kl = key.add_parser("list", help="list an account's keys (no secrets)")
    kl.add_argument("account_id")
    kl.add_argument("--csv", action="store_true", help="CSV instead of a tab-separated table")
    kr = key.add_parser("revoke", help="revoke a key, given its id or the key itself")
    kr.add_argument("key")

    s = commands.add_parser("suppress", help="add numbers to an account's suppression list")
    s.add_argument("account_id")
    s.add_argument("phones", nargs="*")
    s.add_argument("--file", default=None, help="a file of numbers, one a line (any format), loaded with COPY")
    s.add_argument("--reason", default=None)
    u = commands.add_parser("unsuppress", help="remove numbers from an account's suppression list")
    u.add_argument("account_id")
    u.add_argument("phones", nargs="+")

    pt = commands.add_parser("postback-token", help="postback URL tokens").add_subparsers(dest="action", required=True)
    ptc = pt.add_parser("create", help="create a token; prints it last (it is shown only this once)")
    ptc.add_argument("account_id")
    ptc.add_argument("--name", default=None, help="a label, such as the platform's name")
    ptc.add_argument("--rate-limit", type=int, default=None, help="postbacks per minute (default 600)")
    ptr = pt.add_parser("revoke", help="revoke a token, given its id or the token itself")
    ptr.add_argument("token")
    pb = commands.add_parser("postbacks", help="postbacks").add_subparsers(dest="action", required=True)
    pbr = pb.add_parser("rematch", help="match waiting postbacks to transfers recorded since")
    pbr.add_argument("account_id", nargs="?", default="")
    dial = commands.add_parser("dial", help="the dial queue").add_subparsers(dest="action", required=True)
    dr = dial.add_parser("reap", help="give back run-out leases and expire overdue leads now (cron-able; claims "
                                      "also do it, for their own account)")
    dr.add_argument("account_id", nargs="?", default=None, help="default: every account")
    campaign = commands.add_parser("campaign", help="campaigns").add_subparsers(dest="action", required=True)
    cc = campaign.add_parser("create", help="create a campaign; prints its code last")
    cc.add_argument("account_id")
    cc.add_argument("name")
    cc.add_argument("--code", default=None, help="2-32 of A-Z, 0-9, _, - (default: 8 random characters); never changes")
    cu = campaign.add_parser("update", help="change a campaign's settings (only those given)")
    cu.add_argument("account_id")
    cu.add_argument("campaign", help="its code (or name)")
    cu.add_argument("--name", default=None)
    for parser_ in (cc, cu):
        _campaign_options(parser_)
    cl = campaign.add_parser("list", help="an account's campaigns")
    cl.add_argument("account_id")
    for action, text in (("show", "one campaign, as JSON"), ("pause", "stop handing its leads to dialers (order kept)"),
                         ("resume", "hand its leads to dialers again")):
        cp = campaign.add_parser(action, help=text)
        cp.add_argument("account_id")
        cp.add_argument("campaign", help="its code (or name)")
    rules = commands.add_parser("rules", help="calling rules").add_subparsers(dest="action", required=True)
    rs = rules.add_parser("show", help="the rule of a state in force at a time: window, clock, cap, banned days, "
                                       "blackouts, citation")
    rs.add_argument("state")
    rs.add_argument("--at", default="", help="an ISO 8601 time with its offset (default: now)")
    blackout = commands.add_parser("blackout", help="emergency blackouts (no calls into a state for a while)")
    blackout = blackout.add_subparsers(dest="action", required=True)
    ba = blackout.add_parser("add", help="declare a blackout of a state; prints it")
    ba.add_argument("state")
    ba.add_argument("--until", required=True, help="when it ends: an ISO 8601 time with its offset")
    ba.add_argument("--from", dest="starts", default="", help="when it starts (default: now)")
    ba.add_argument("--reason", required=True, help="the declaration it follows, e.g. the proclamation")
    ba.add_argument("--counties", default="", help="comma-separated, for the record (the whole state is held)")
    bl = blackout.add_parser("list", help="blackouts not over yet")
    bl.add_argument("state", nargs="?", default="")
    bl.add_argument("--all", action="store_true", help="past ones too")
    be = blackout.add_parser("end", help="end a blackout now and release the leads that waited for it")
    be.add_argument("id", type=int)
    lead = commands.add_parser("lead", help="leads").add_subparsers(dest="action", required=True)
    lf = lead.add_parser("find", help="an account's leads for one number, newest first")
    lf.add_argument("account_id")
    lf.add_argument("phone")
    lf.add_argument("--csv", action="store_true", help="CSV instead of a tab-separated table")
    le = lead.add_parser("erase", help="a consumer's deletion request: erase a number everywhere but the "
                                       "suppression list (it is suppressed as opted_out); prints the audit row")
    le.add_argument("account_id")
    le.add_argument("phone")
    le.add_argument("--operator", default=None, help="who asks (recorded on the audit row), e.g. 'Jane, ticket 44'")

    ret = commands.add_parser("retention", help="lead data retention").add_subparsers(dest="action", required=True)
    ra = ret.add_parser("apply", help="anonymize leads past their account's retention, expire consent evidence and "
                                      "old call records (cron-able; one log line per account)")
    ra.add_argument("--dry-run", action="store_true", help="count what would change, change nothing")
    ra.add_argument("--batch", type=int, default=1000, help="rows per transaction (default 1000)")

    src = commands.add_parser("source", help="intake sources (one URL per sender)").add_subparsers(
        dest="action", required=True)
    sc = src.add_parser("create", help="create a source; prints its id, URL and token last (shown only this once)")
    sc.add_argument("account_id")
    sc.add_argument("name")
    sc.add_argument("--adapter", default=None, help="the sender's envelope: " + ", ".join(adapters.NAMES))
    sc.add_argument("--default", action="append", default=[], metavar="NAME=VALUE",
                    help="a value for leads that have none: source, sub_id, utm_*, ..., custom.NAME (repeatable)")
    sc.add_argument("--map", action="append", default=[], metavar="PATH=FIELD",
                    help="sender key or JSON path -> l2i field, e.g. answers.3.text=phone, 1.3=first_name")
    sc.add_argument("--consent-on-submit", action="store_true",
                    help="a submission is the consent act (needs --consent-text-version)")
    sc.add_argument("--consent-text-version", default=None)
    sc.add_argument("--consent-text", default=None, help="the consent language the form shows")
    sc.add_argument("--rate-limit", type=int, default=None, help="requests per minute (default 120)")
    for name, what in SOURCE_SECRETS.items():
        flag = "--" + name.replace("_", "-")
        sc.add_argument(flag, default=None, help=f"{what} (visible in the process list: prefer {flag}-file or "
                        f"${SOURCE_SECRET_ENV[name]})")
        sc.add_argument(f"{flag}-file", default=None, metavar="FILE",
                        help=f"read the {name.replace('_', ' ')} from FILE (- for standard input)")
    sl = src.add_parser("list", help="an account's sources (no tokens, no secrets)")
    sl.add_argument("account_id")
    ss = src.add_parser("show", help="a source's settings (no token, no secrets)")
    ss.add_argument("source_id")
    sr = src.add_parser("revoke", help="revoke a source, given its id or its token")
    sr.add_argument("source")
    sm = src.add_parser("map", help="map a sender key or JSON path to an l2i field (no FIELD: remove)")
    sm.add_argument("source_id")
    sm.add_argument("path")
    sm.add_argument("field", nargs="?", default="")
    sd = src.add_parser("default", help="set a default of the source's leads (no VALUE: remove)")
    sd.add_argument("source_id")
    sd.add_argument("name")
    sd.add_argument("value", nargs="?", default="")
    srt = commands.add_parser("sources", help="intake sources").add_subparsers(dest="action", required=True)
    srr = srt.add_parser("retry", help="fetch platform leads still waiting (Facebook Lead Ads when the Graph API "
                                       "was down)")
    srr.add_argument("source_id", nargs="?", default=None)
    part = commands.add_parser("partitions", help="the month partitions of leads and lead_events").add_subparsers(
        dest="action", required=True)
    pe = part.add_parser("ensure", help="make the month partitions of leads and lead_events ahead of time "
                                        "(cron-able: daily)")
    pe.add_argument("--months-ahead", type=int, default=3, help="months after this one to make (default 3)")
    pls = part.add_parser("list", help="the partitions of leads and lead_events, oldest first, with their bounds "
                                       "and rows")
    pls.add_argument("--before", default=None, help="mark the partitions whose whole month is before this time")
    idem = commands.add_parser("idempotency", help="Idempotency-Keys").add_subparsers(dest="action", required=True)
    idem.add_parser("sweep", help="forget keys older than 24 hours (cron-able)")

    im = commands.add_parser("import", help="import leads from a CSV file, as POST /v1/leads/import does")
    im.add_argument("account_id")
    im.add_argument("file", help="UTF-8 CSV with a header row; the same field names as the API")
    im.add_argument("--source", default=None, help="the source of rows that name none")
    im.add_argument("--json", action="store_true", help="print every row's outcome, as the HTTP answer")
    wk = commands.add_parser("worker", help="run CSV import jobs (as the service's own runners do) until stopped")
    wk.add_argument("--threads", type=int, default=None, help="jobs at once here (default L2I_IMPORT_THREADS)")

    args = parser.parse_args(argv)
    url = args.database_url or Config.from_env(os.environ).database_url
    try:
        return _dispatch(args, url)
    except psycopg.errors.InvalidTextRepresentation as exc:
        print(f"l2i: {exc.diag.message_primary} (is the id a UUID?)", file=sys.stderr)
    except psycopg.errors.ForeignKeyViolation:
        print("l2i: no such account", file=sys.stderr)
    except psycopg.errors.UniqueViolation as exc:
        print(f"l2i: {exc.diag.message_detail or exc.diag.message_primary}", file=sys.stderr)
    except (psycopg.errors.CheckViolation, psycopg.errors.InvalidParameterValue,
            psycopg.errors.InvalidDatetimeFormat, psycopg.errors.DatetimeFieldOverflow) as exc:
        print(f"l2i: {exc.diag.message_primary}", file=sys.stderr)
    except psycopg.OperationalError as exc:
        print(f"l2i: cannot reach the database: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
    return 1


def _pairs(raw: list[str], what: str) -> dict:
    pairs = {}
    for item in raw:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"l2i: {what} takes NAME=VALUE, not {item!r}")
        pairs[name] = value
    return pairs


def _defaults(raw: list[str]) -> dict:
    defaults: dict = {}
    for name, value in _pairs(raw, "--default").items():
        if name.startswith("custom."):
            defaults.setdefault("custom", {})[name[7:]] = value
        else:
            defaults[name] = value
    return defaults


def _source_errors(errors) -> int:
    for error in errors:
        print(f"l2i: {error.field}: {error.message}", file=sys.stderr)
    return 1


def _source_command(args, url: str) -> int:
    if args.action == "create":
        if args.rate_limit is not None and args.rate_limit < 1:
            raise SystemExit("l2i: --rate-limit must be at least 1")
        defaults, mapping = _defaults(args.default), _pairs(args.map, "--map")
        errors = sources.check_settings(adapter=args.adapter, defaults=defaults, mapping=mapping,
                                        consent_on_submit=args.consent_on_submit,
                                        consent_text_version=args.consent_text_version)
        if errors:
            return _source_errors(errors)
        row = run_admin(url, "source_create", account_id=args.account_id, name=args.name, adapter=args.adapter or "",
                        defaults=json.dumps(defaults), mapping=json.dumps(mapping),
                        consent_on_submit="true" if args.consent_on_submit else "false",
                        consent_text_version=args.consent_text_version or "", consent_text=args.consent_text or "",
                        rate_limit="" if args.rate_limit is None else str(args.rate_limit),
                        **_source_secrets(args))[0]
        print(f"# source {row['id']} for account {args.account_id}; store the token now, it is not shown again")
        print(f"# URL: https://YOUR-HOST/v1/sources/{row['token']}/leads")
        print(row["token"])
    elif args.action == "list":
        _table(run_admin(url, "source_list", account_id=args.account_id),
               ("id", "name", "prefix", "adapter", "consent_on_submit", "rate_limit", "created_at", "last_used_at",
                "revoked_at"))
    elif args.action == "show":
        rows = run_admin(url, "source_show", source_id=args.source_id)
        if not rows:
            print("l2i: no such source", file=sys.stderr)
            return 1
        for name, value in rows[0].items():
            print(f"{name}\t{json.dumps(value) if isinstance(value, (dict, list)) else value}")
    elif args.action == "revoke":
        return _revoked(run_admin(url, "source_revoke", source=args.source), "source")
    elif args.action in ("map", "default"):
        if args.action == "map":
            errors = sources.check_settings(adapter=None, defaults={}, mapping={args.path: args.field} if args.field
                                            else {}, consent_on_submit=False, consent_text_version=None)
        else:
            defaults = _defaults([f"{args.name}={args.value}"]) if args.value else {}
            errors = sources.check_settings(adapter=None, defaults=defaults, mapping={}, consent_on_submit=False,
                                            consent_text_version=None)
        if errors:
            return _source_errors(errors)
        if args.action == "map":
            rows = run_admin(url, "source_map", source_id=args.source_id, path=args.path, field=args.field)
        else:
            rows = run_admin(url, "source_default", source_id=args.source_id, name=args.name, value=args.value)
        if not rows:
            print("l2i: no such source", file=sys.stderr)
            return 1
        print(json.dumps(rows[0]["mapping" if args.action == "map" else "defaults"]))
    return 0


def _dispatch(args, url: str) -> int:
    if args.command == "source":
        return _source_command(args, url)
    if args.command == "partitions":
        return _partitions(args, url)
    if args.command == "idempotency":
        print(f"swept {run_admin(url, 'idempotency_sweep')[0]['swept']}")
        return 0
    if args.command == "sources":
        from l2i.resources.sources import retry_all
        config = Config.from_env(os.environ)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            results = retry_all(conn, config, args.source_id)
        for result in results:
            print("\t".join(str(result.get(k, "")) for k in ("source_id", "external_id", "outcome", "lead_id",
                                                              "status", "error")))
        waiting = sum(1 for r in results if r["outcome"] == "waiting")
        print(f"{len(results) - waiting} taken in, {waiting} still waiting")
        return 0
    if args.command == "import":
        return import_cli.command(url, args.account_id, args.file, source=args.source, as_json=args.json)
    if args.command == "worker":
        if args.threads is not None and args.threads < 1:
            raise SystemExit("l2i: --threads must be at least 1")
        return import_cli.worker(url, args.threads)
    if args.command == "retention":
        if args.batch < 1:
            raise SystemExit("l2i: --batch must be at least 1")
        retention.apply(url, batch=args.batch, dry_run=args.dry_run)
        return 0
    if args.command == "lead" and args.action == "erase":
        rows = run_admin(url, "lead_erase", account_id=args.account_id, phone=_phones([args.phone]),
                         operator=args.operator or "")
        row = rows[0]
        print(f"erasure {row['id']} account={row['account_id']} phone_sha256={row['phone_sha256']} "
              + " ".join(f"{k}={v}" for k, v in row["removed"].items()))
        return 0
    if args.command == "account" and args.action == "retention":
        rows = run_admin(url, "account_retention", account_id=args.account_id,
                         days="" if args.days is None else str(args.days))
        if not rows:
            print("l2i: no such account", file=sys.stderr)
            return 1
        print(f"account {rows[0]['account_id']}: retention {rows[0]['retention_days']} days")
        return 0
    if args.command == "migrate":
        if args.create_database and ensure_database(url):
            print("created the database")
        applied = migrate(url)
        print("\n".join(f"applied {name}" for name in applied) or "nothing to apply")
    elif args.command == "account" and args.action == "dnc":
        rows = run_admin(url, "account_dnc", account_id=args.account_id, dnc=args.dnc)
        if not rows:
            print("l2i: no such account", file=sys.stderr)
            return 1
        print(f"account {rows[0]['account_id']}: Do-Not-Call Registry {'on' if rows[0]['dnc_connected'] else 'off'}")
    elif args.command == "account":
        print(run_admin(url, "account_create", name=args.name)[0]["account_id"])
    elif args.command == "dnc":
        row = run_admin_copy(url, "dnc_load", args.files, kind=args.kind)[0]
        print(f"{row['kind']} load: {row['lines']} lines, {row['rejected']} rejected, {row['added']} added, "
              f"{row['removed']} removed, {row['areas']} area codes current, {row['held_leads']} queued leads held")
    elif args.command == "suppress" and args.file:
        if args.phones:
            raise SystemExit("l2i: give numbers or --file, not both")
        row = run_admin_copy(url, "suppress_file", [args.file], account_id=args.account_id,
                             reason=args.reason or "")[0]
        print(f"{row['added']} added, {row['already']} already suppressed")
    elif args.command == "key" and args.action == "create":
        if args.rate_limit is not None and args.rate_limit < 1:
            raise SystemExit("l2i: --rate-limit must be at least 1")
        row = run_admin(url, "key_create", account_id=args.account_id, scopes=args.scopes,
                        rate_limit="" if args.rate_limit is None else str(args.rate_limit),
                        label=args.name or "", campaign=args.campaign or "")[0]
        print(f"# key for account {args.account_id}, scopes {args.scopes}; store it now, it is not shown again")
        print(row["key"])
    elif args.command == "key" and args.action == "list":
        rows = run_admin(url, "key_list", account_id=args.account_id)
        _table(rows, ("id", "label", "prefix", "scopes", "rate_limit", "created_at", "last_used_at", "revoked_at"),
               args.csv)
    elif args.command == "key" and args.action == "revoke":
        return _revoked(run_admin(url, "key_revoke", key=args.key), "key")
    elif args.command == "suppress":
        if not args.phones:
            raise SystemExit("l2i: give the numbers to suppress, or --file FILE")
        rows = run_admin(url, "suppress", account_id=args.account_id, phones=_phones(args.phones),
                         reason=args.reason or "")
        for row in rows:
            print(f"{row['phone']}\t{'added' if row['added'] else 'already suppressed'}")
    elif args.command == "unsuppress":
        rows = run_admin(url, "unsuppress", account_id=args.account_id, phones=_phones(args.phones))
        for row in rows:
            state = ("removed" if row["removed"] else
                     "opted out: only sql/admin/opt_out_remove.sql removes it" if row["opted_out"] else
                     "was not suppressed")
            print(f"{row['phone']}\t{state}")
    elif args.command == "rules":
        rows = run_admin(url, "rules_show", state=args.state, at=args.at)
        if not rows:
            print(f"l2i: no calling rule for {args.state!r}", file=sys.stderr)
            return 1
        for name, value in rows[0].items():
            print(f"{name}: {'' if value is None else value}")
    elif args.command == "blackout" and args.action == "add":
        _table(run_admin(url, "blackout_add", state=args.state, until=args.until, reason=args.reason,
                         **{"from": args.starts}, counties=args.counties),
               ("id", "state", "counties", "starts_at", "ends_at", "reason", "created_by"))
    elif args.command == "blackout" and args.action == "list":
        _table(run_admin(url, "blackout_list", state=args.state, all="yes" if args.all else ""),
               ("id", "state", "counties", "starts_at", "ends_at", "reason", "created_by", "ended_at"))
    elif args.command == "blackout" and args.action == "end":
        rows = run_admin(url, "blackout_end", id=str(args.id))
        if not rows:
            print("l2i: no such blackout", file=sys.stderr)
            return 1
        _table(rows, ("id", "state", "starts_at", "ends_at", "ended_at", "reason", "released"))
    elif args.command == "postback-token" and args.action == "create":
        if args.rate_limit is not None and args.rate_limit < 1:
            raise SystemExit("l2i: --rate-limit must be at least 1")
        token = run_admin(url, "postback_token_create", account_id=args.account_id, label=args.name or "",
                          rate_limit="" if args.rate_limit is None else str(args.rate_limit))[0]["token"]
        print(f"# postback token for account {args.account_id}; store it now, it is not shown again")
        print(f"# URL: https://YOUR-HOST/v1/postbacks/calls?token={token}")
        print(token)
    elif args.command == "postback-token" and args.action == "revoke":
        return _revoked(run_admin(url, "postback_token_revoke", token=args.token), "postback token")
    elif args.command == "postbacks":
        print(f"matched {run_admin(url, 'postbacks_rematch', account_id=args.account_id)[0]['matched']}")
    elif args.command == "dial":
        moved: dict[str, int] = {}
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            released = sql.one(conn, "campaign_release", now=None, account_id=args.account_id)["released"]
            if released:
                moved["released"] = released
            for _ in range(10_000):  # 1000 leads a statement; bounded, stops at the first short batch
                rows = sql.many(conn, "dial_reap", now=None, account_id=args.account_id)
                for row in rows:
                    moved[row["to_status"]] = moved.get(row["to_status"], 0) + 1
                if len(rows) < 1000:
                    break
        for status in sorted(moved):
            print(f"{status}\t{moved[status]}")
        if not moved:
            print("nothing to reap")
    elif args.command == "campaign":
        return _campaign(args, url)
    elif args.command == "lead":
        rows = run_admin(url, "lead_find", account_id=args.account_id, phone=_phones([args.phone]))
        _table(rows, ("id", "status", "reasons", "source", "first_name", "last_name", "created_at", "transferred_at",
                      "buyer", "payout_cents"), args.csv)
    return 0


def _partitions(args, url: str) -> int:
    if args.action == "list":
        _table(run_admin(url, "partitions_list", before=args.before),
               ("partition_name", "starts_at", "ends_at", "estimated_rows", "before"))
        return 0
    if not 0 <= args.months_ahead <= 120:
        print("--months-ahead must be between 0 and 120", file=sys.stderr)
        return 2
    # Making a partition locks leads (or lead_events) briefly; behind a long query it would queue every intake
    # behind it. Give up after 5 s instead (the months ahead leave days to try again), with lock_timeout's error.
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("SET lock_timeout = '5s'")
        rows = conn.execute(admin_script("partitions_ensure"), {"months_ahead": args.months_ahead}).fetchall()
    for row in rows:
        print(f"{row['partition_name']}\t{'made' if row['made'] else 'there'}")
    return 0


def _campaign_options(parser: argparse.ArgumentParser) -> None:
    """The settings `l2i campaign create` and `update` take; the same as the API's (l2i.campaigns)."""
    add = parser.add_argument
    add("--required-fields", default=None, help="lead fields a lead must have, comma-separated (custom.NAME for "
                                               "custom fields); '' for none")
    add("--states", default=None, help="states served, comma-separated 2-letter codes; 'all' for every state")
    add("--hours", default=None, help="weekly hours in the lead's local time, e.g. "
                                      "'mon-fri=10:00-16:00,sat=10:00-14:00'; 'none' for the legal window only")
    add("--max-attempts", default=None, type=int)
    add("--retry-backoff", default=None, type=int, help="back-off base in seconds (doubles per attempt)")
    add("--backoff", default=None, help="back-off base per outcome, e.g. 'busy=300,voicemail=7200'")
    add("--daily-cap", default=None, help="leads queued per UTC day at most; 'none' for no cap")
    add("--priority", default=None, type=int, help="0-9, higher is called first")
    add("--agent", default=None, help="the value dialers receive with each lead (voice agent or script id)")
    add("--cost-per-lead-cents", default=None, help="what one lead costs, in cents; 'none' to clear")
    add("--active", dest="active", action="store_const", const=True, default=None, help="takes leads (default)")
    add("--inactive", dest="active", action="store_const", const=False, help="takes no new leads")
    add("--json", dest="settings_json", default=None, help="settings as the API's JSON body (flags win)")


def _comma_pairs(raw: str, flag: str) -> dict[str, str]:
    """'mon-fri=10:00-16:00,sat=10:00-14:00' -> {"mon-fri": "10:00-16:00", "sat": "10:00-14:00"}."""
    pairs = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"l2i: {flag} takes name=value pairs, comma-separated (not {item!r})")
        pairs[name.strip()] = value.strip()
    return pairs


def _campaign_settings(args, creating: bool) -> dict:
    """The settings the flags give, validated as the API validates a body; exits with every problem."""
    try:
        body = json.loads(args.settings_json) if args.settings_json else {}
    except ValueError as exc:
        raise SystemExit(f"l2i: --json is not JSON: {exc}")
    if not isinstance(body, dict):
        raise SystemExit("l2i: --json must be a JSON object")
    none = ("none", "null", "")
    if args.name is not None:
        body["name"] = args.name
    if creating and args.code is not None:
        body["code"] = args.code
    if args.required_fields is not None:
        body["required_fields"] = [f.strip() for f in args.required_fields.split(",") if f.strip()]
    if args.states is not None:
        body["states"] = None if args.states.lower() == "all" else [s for s in args.states.split(",") if s.strip()]
    if args.hours is not None:
        body["hours"] = None if args.hours.lower() in none else _comma_pairs(args.hours, "--hours")
    if args.backoff is not None:
        backoff = _comma_pairs(args.backoff, "--backoff")
        body["backoff_s"] = {k: int(v) if v.isdigit() else v for k, v in backoff.items()}
    for flag, name in (("daily_cap", "daily_cap"), ("cost_per_lead_cents", "cost_per_lead_cents")):
        value = getattr(args, flag)
        if value is not None:
            body[name] = None if value.lower() in none else value
    for flag, name in (("max_attempts", "max_attempts"), ("retry_backoff", "retry_backoff_s"),
                       ("priority", "priority"), ("agent", "agent"), ("active", "active")):
        if getattr(args, flag) is not None:
            body[name] = getattr(args, flag)
    settings, errors = campaigns.parse_settings(body, creating=creating)
    if errors:
        raise SystemExit("\n".join(f"l2i: {e.field}: {e.message}" for e in errors))
    return settings


def _campaign(args, url: str) -> int:
    if args.action == "list":
        _table(run_admin(url, "campaign_list", account_id=args.account_id),
               ("code", "name", "active", "paused", "default", "priority", "daily_cap", "states", "agent", "hours",
                "max_attempts", "created_at"))
        return 0
    if args.action == "create":
        settings = _campaign_settings(args, creating=True)
        row = run_admin(url, "campaign_create", account_id=args.account_id, name=settings.pop("name"),
                        settings=json.dumps(settings))[0]
        print(json.dumps(row["campaign"], indent=2, sort_keys=True, default=str))
        print(f"# campaign {row['code']}: senders name it as campaign (or category); its code never changes")
        print(row["code"])
        return 0
    if args.action == "update":
        rows = run_admin(url, "campaign_update", account_id=args.account_id, campaign=args.campaign,
                         settings=json.dumps(_campaign_settings(args, creating=False)))
    elif args.action in ("pause", "resume"):
        rows = run_admin(url, f"campaign_{args.action}", account_id=args.account_id, campaign=args.campaign)
        if rows:
            print(f"campaign {rows[0]['code']}: {'paused' if rows[0]['paused'] else 'running'}")
            return 0
    else:
        rows = run_admin(url, "campaign_show", account_id=args.account_id, campaign=args.campaign)
    if not rows:
        print("l2i: no such campaign in this account", file=sys.stderr)
        return 1
    print(rows[0]["campaign"])
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the pg_clients check scripts share: the command line, checks, the scratch table's name,
and the one JSON line each prints (stdout) with its exit status.

Success: {"ok": true, "driver": ..., ...} and exit 0. Failure: {"ok": false, "driver": ...,
"error": "..."} on stdout, the same message on stderr, exit 1. A usage error exits 2 (argparse).
Run them with Debian's /usr/bin/python3: only it imports python3-asyncpg, -psycopg, -sqlalchemy.
"""

import argparse
import resource
import json
import os
import sys
import threading
import time
import uuid


class CheckFailed(Exception):
    """A result that is not what Postgres must answer. A `details` dict, when set, is added to the
    failure's JSON line (e.g. how many queries failed and how)."""


def check(condition, what):
    if not condition:
        raise CheckFailed(what)


def raise_fd_limit():
    """--connections 2000 needs more descriptors than a shell's soft 1024: take the hard limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def parser(description, concurrency_flag="--connections"):
    """The options every script takes; defaults from the usual PG* environment variables."""
    raise_fd_limit()
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--host", default=os.environ.get("PGHOST", "localhost"),
                   help="host name or address, or a Unix socket directory (e.g. /run/portico) [$PGHOST]")
    p.add_argument("--port", type=int, default=int(os.environ.get("PGPORT", "5432")), help="[$PGPORT or 5432]")
    p.add_argument("--dbname", default=os.environ.get("PGDATABASE", "postgres"), help="[$PGDATABASE or postgres]")
    p.add_argument("--user", default=os.environ.get("PGUSER", "postgres"), help="[$PGUSER or postgres]")
    p.add_argument("--password", default=os.environ.get("PGPASSWORD"), help="[$PGPASSWORD]")
    p.add_argument("--queries", type=int, default=100,
                   help="parameterised queries per connection (default 100)")
    p.add_argument(concurrency_flag, dest="concurrency", type=int, default=1,
                   help="how many run the workload at once (default 1)")
    p.add_argument("--connect-timeout", type=int, default=10, help="seconds (default 10)")
    p.add_argument("--table", default=None,
                   help="scratch table, created when missing (default portico_check_<driver>)")
    return p


def run_id():
    """Tags this run's rows in the scratch table, so concurrent runs never count each other's."""
    return uuid.uuid4().hex


def table_name(args, driver):
    return args.table or f"portico_check_{driver}"


def table_ddl(table):
    return (f"CREATE TABLE IF NOT EXISTS {table} (id bigserial PRIMARY KEY, run text NOT NULL, "
            f"worker int NOT NULL, note text NOT NULL)")


def run_threads(work, count):
    """work(i) for i in range(count), each in its own thread; the results in order, or the first
    exception raised."""
    results = [None] * count
    errors = []

    def one(i):
        try:
            results[i] = work(i)
        except Exception as e:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


def report(driver, driver_version, args, work):
    """Runs work() (returns a dict of results) and prints the JSON line; exits 1 on any failure."""
    started = time.monotonic()
    try:
        result = work()
    except Exception as e:  # noqa: BLE001 - every failure becomes one clear line and exit 1
        target = f"user {args.user} database {args.dbname} at {args.host} port {args.port}"
        message = f"{driver}_check ({target}): {type(e).__name__}: {e}".strip()
        failure = dict(getattr(e, "details", None) or {})
        failure.update(ok=False, driver=driver, driver_version=driver_version, error=message)
        print(json.dumps(failure, sort_keys=True, default=str))
        print(message, file=sys.stderr)
        sys.exit(1)
    result.update(ok=True, driver=driver, driver_version=driver_version,
                  elapsed_ms=round((time.monotonic() - started) * 1000, 1))
    print(json.dumps(result, sort_keys=True, default=str))

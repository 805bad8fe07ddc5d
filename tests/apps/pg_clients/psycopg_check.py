#!/usr/bin/python3
"""psycopg 3 against a Postgres server or a pooler: N connections (threads) at once, each running
simple-protocol queries (no parameters, several statements in one string, client-side binding),
parameterised queries (extended protocol; psycopg prepares a statement by name once it has run
--prepare-threshold times: "none" never does, as transaction pooling before issue 6 needs), a
committed and a rolled-back transaction, pipeline mode with several queries in flight, executemany,
and with --copy COPY in and out. Prints one JSON line (see common.py).

  /usr/bin/python3 psycopg_check.py --host /run/portico --port 6432 --dbname app --user app \\
      --password secret --prepare-threshold none --connections 4
"""

import psycopg

import common


def connect(args, autocommit=True):
    params = {"host": args.host, "port": args.port, "dbname": args.dbname, "user": args.user,
              "connect_timeout": args.connect_timeout}
    if args.password is not None:
        params["password"] = args.password
    return psycopg.connect(autocommit=autocommit, prepare_threshold=args.prepare_threshold, **params)


def workload(args, run, table, worker):
    with connect(args) as conn:
        queries = 0
        pids = set()
        # Simple query protocol: no parameters, then two statements in one string.
        common.check(conn.execute("SELECT 1").fetchone() == (1,), "SELECT 1")
        cur = conn.execute("SELECT 'one'; SELECT 'two'")
        first = cur.fetchone()
        common.check(cur.nextset() and cur.fetchone() == ("two",) and first == ("one",), "two statements in one query")
        # Client-side binding, still the simple protocol.
        with psycopg.ClientCursor(conn) as ccur:
            ccur.execute("SELECT %s::int * 3, %s", (7, "it's"))
            common.check(ccur.fetchone() == (21, "it's"), "client-side bound query")
        queries += 4
        for i in range(args.queries):
            if i % 2 == 0:
                got = conn.execute("SELECT %s::int + 1", (i,)).fetchone()[0]
                common.check(got == i + 1, f"SELECT %s::int + 1 with {i} gave {got!r}")
            else:
                got = conn.execute("SELECT %s::text || %s::text", ("a", str(i))).fetchone()[0]
                common.check(got == f"a{i}", f"SELECT %s || %s with a, {i} gave {got!r}")
            queries += 1
        rows = conn.execute("SELECT g, md5(g::text) FROM generate_series(1, %s::int) g", (1000,)).fetchall()
        common.check(len(rows) == 1000 and rows[-1][0] == 1000, f"1000 rows, got {len(rows)}")
        queries += 1

        insert = f"INSERT INTO {table} (run, worker, note) VALUES (%s, %s, %s)"
        with conn.transaction():
            xid = conn.execute("SELECT txid_current()").fetchone()[0]
            pids.add(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
            conn.execute(insert, (run, worker, "committed"))
            common.check(conn.execute("SELECT txid_current()").fetchone()[0] == xid,
                         "txid_current() changed inside a transaction")
        queries += 4
        with conn.transaction():
            conn.execute(insert, (run, worker, "rolled back"))
            raise psycopg.Rollback()
        queries += 1

        # Pipeline mode: every query is sent before any result is read.
        with conn.pipeline():
            c1 = conn.execute("SELECT 1")
            c2 = conn.execute("SELECT %s::int * 2", (21,))
            c3 = conn.execute(insert, (run, worker, "pipelined"))
            c4 = conn.execute("SELECT count(*) FROM generate_series(1, %s::int)", (500,))
            c5 = conn.execute(f"SELECT count(*) FROM {table} WHERE run = %s AND worker = %s", (run, worker))
        pipeline_results = [c1.fetchone()[0], c2.fetchone()[0], c3.rowcount, c4.fetchone()[0], c5.fetchone()[0]]
        common.check(pipeline_results == [1, 42, 1, 500, 2], f"pipeline results {pipeline_results}")
        queries += 5
        with conn.cursor() as mcur:
            mcur.executemany(insert, [(run, worker, f"many {k}") for k in range(10)])
        queries += 10
        copied = 0
        if args.copy:
            with conn.cursor() as ccur:
                with ccur.copy(f"COPY {table} (run, worker, note) FROM STDIN") as copy:
                    for k in range(100):
                        copy.write_row((run, worker, f"copied {k}"))
                with ccur.copy(f"COPY (SELECT note FROM {table} WHERE run = %s AND worker = %s "
                               f"AND note LIKE 'copied %%') TO STDOUT", (run, worker)) as copy:
                    copied = sum(1 for _ in copy.rows())
            common.check(copied == 100, f"COPY out gave {copied} of 100 rows copied in")
            queries += 2
        total = conn.execute(f"SELECT count(*) FROM {table} WHERE run = %s AND worker = %s", (run, worker)).fetchone()[0]
        common.check(total == 12 + copied, f"table holds {total} rows, expected {12 + copied} (1 rolled back)")
        pids.add(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
        queries += 2
        return {"queries": queries, "pids": pids, "pipeline_results": pipeline_results,
                "server_version": conn.info.server_version}


def main(args):
    run = common.run_id()
    table = common.table_name(args, "psycopg")
    with connect(args) as setup:
        try:
            setup.execute(common.table_ddl(table))
        except psycopg.errors.UniqueViolation:
            pass  # another run created it at the same moment
    results = common.run_threads(lambda w: workload(args, run, table, w), args.concurrency)
    version = results[0]["server_version"]
    return {
        "connections": args.concurrency,
        "prepare_threshold": args.prepare_threshold,
        "queries": sum(r["queries"] for r in results),
        "backend_pids": sorted(set().union(*(r["pids"] for r in results))),
        "pipeline_results": results[0]["pipeline_results"],
        "server_version": f"{version // 10000}.{version % 10000}",
        "libpq_version": psycopg.pq.version(),
        "table": table,
    }


def threshold(text):
    return None if text.lower() == "none" else int(text)


if __name__ == "__main__":
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--prepare-threshold", type=threshold, default=5,
                   help="psycopg's prepare_threshold: an int (default 5, psycopg's own) or none")
    p.add_argument("--copy", action="store_true", help="also COPY 100 rows in and read them out again")
    arguments = p.parse_args()
    common.report("psycopg", psycopg.__version__, arguments, lambda: main(arguments))

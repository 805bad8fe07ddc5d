#!/usr/bin/python3
"""asyncpg against a Postgres server or a pooler: N connections at once, each running simple and
parameterised queries (asyncpg always uses the extended protocol: Parse/Bind/Execute, named
statements unless --statement-cache-size 0), a 1000-row result, a committed and a rolled-back
transaction, executemany, and optionally an explicit prepared statement. Prints one JSON line
(see common.py).

  /usr/bin/python3 asyncpg_check.py --host /run/portico --port 6432 --dbname app --user app \\
      --password secret --statement-cache-size 0 --queries 100 --connections 4
"""

import asyncio

import asyncpg

import common


class Rollback(Exception):
    pass


async def workload(args, run, table, worker):
    conn = await asyncpg.connect(host=args.host, port=args.port, user=args.user, password=args.password,
                                 database=args.dbname, timeout=args.connect_timeout,
                                 statement_cache_size=args.statement_cache_size)
    try:
        queries = 0
        pids = set()
        common.check(await conn.fetchval("SELECT 1") == 1, "SELECT 1")
        queries += 1
        for i in range(args.queries):
            if i % 2 == 0:
                got = await conn.fetchval("SELECT $1::int + 1", i)
                common.check(got == i + 1, f"SELECT $1::int + 1 with {i} gave {got!r}")
            else:
                got = await conn.fetchval("SELECT $1::text || $2::text", "a", str(i))
                common.check(got == f"a{i}", f"SELECT $1 || $2 with a, {i} gave {got!r}")
            queries += 1
        rows = await conn.fetch("SELECT g, md5(g::text) AS h FROM generate_series(1, $1::int) g", 1000)
        common.check(len(rows) == 1000 and rows[-1]["g"] == 1000, f"1000 rows, got {len(rows)}")
        queries += 1

        insert = f"INSERT INTO {table} (run, worker, note) VALUES ($1, $2, $3)"
        async with conn.transaction():
            xid = await conn.fetchval("SELECT txid_current()")
            pids.add(await conn.fetchval("SELECT pg_backend_pid()"))
            await conn.execute(insert, run, worker, "committed")
            common.check(await conn.fetchval("SELECT txid_current()") == xid,
                         "txid_current() changed inside a transaction")
        queries += 4
        try:
            async with conn.transaction():
                await conn.execute(insert, run, worker, "rolled back")
                raise Rollback()
        except Rollback:
            pass
        queries += 1
        await conn.executemany(insert, [(run, worker, f"many {k}") for k in range(10)])
        queries += 10
        counts = dict(await conn.fetch(f"SELECT note LIKE 'many %' AS many, count(*) FROM {table} "
                                       f"WHERE run = $1 AND worker = $2 GROUP BY 1", run, worker))
        common.check(counts == {False: 1, True: 10},
                     f"committed 1 + 10 rows and rolled back 1, table holds {counts}")
        queries += 1
        if args.explicit_prepare:
            stmt = await conn.prepare("SELECT $1::int * 2")
            for k in range(5):
                common.check(await stmt.fetchval(k) == 2 * k, "prepared SELECT $1::int * 2")
            queries += 5
        pids.add(await conn.fetchval("SELECT pg_backend_pid()"))
        queries += 1
        return {"queries": queries, "pids": pids, "server_version": conn.get_settings().server_version.split()[0]}
    finally:
        await conn.close()


async def main(args):
    run = common.run_id()
    table = common.table_name(args, "asyncpg")
    setup = await asyncpg.connect(host=args.host, port=args.port, user=args.user, password=args.password,
                                  database=args.dbname, timeout=args.connect_timeout, statement_cache_size=0)
    try:
        try:
            await setup.execute(common.table_ddl(table))
        except asyncpg.exceptions.UniqueViolationError:
            pass  # another run created it at the same moment
    finally:
        await setup.close()
    results = await asyncio.gather(*(workload(args, run, table, w) for w in range(args.concurrency)))
    return {
        "connections": args.concurrency,
        "statement_cache_size": args.statement_cache_size,
        "queries": sum(r["queries"] for r in results),
        "backend_pids": sorted(set().union(*(r["pids"] for r in results))),
        "server_version": results[0]["server_version"],
        "table": table,
    }


if __name__ == "__main__":
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("--statement-cache-size", type=int, default=100,
                   help="asyncpg's statement_cache_size (default 100, asyncpg's own; 0 for transaction pooling)")
    p.add_argument("--explicit-prepare", action="store_true",
                   help="also run conn.prepare() and reuse the statement (a named prepared statement)")
    arguments = p.parse_args()
    common.report("asyncpg", asyncpg.__version__, arguments, lambda: asyncio.run(main(arguments)))

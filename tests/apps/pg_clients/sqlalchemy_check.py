#!/usr/bin/python3
"""SQLAlchemy Core against a Postgres server or a pooler, as a web app's worker uses it: one engine
with a connection pool (--pool-size, --max-overflow, pre-ping), N threads at once each checking
connections out for a few queries, bound parameters, a table made from MetaData, an insert of many
rows in one transaction and a rolled-back one. Prints one JSON line (see common.py).

The driver: psycopg (3) where SQLAlchemy has its dialect (2.0+); Debian 12's SQLAlchemy 1.4 has
none, so there the default is psycopg2 (python3-psycopg2), the driver most SQLAlchemy apps use.

  /usr/bin/python3 sqlalchemy_check.py --host /run/portico --port 6432 --dbname app --user app \\
      --password secret --threads 8 --pool-size 5
"""

import sqlalchemy as sa

import common


def default_driver():
    major = int(sa.__version__.split(".")[0])
    return "psycopg" if major >= 2 else "psycopg2"


def make_engine(args):
    socket_dir = args.host.startswith("/")
    url = sa.engine.URL.create(
        f"postgresql+{args.driver}", username=args.user, password=args.password,
        host=None if socket_dir else args.host, port=args.port, database=args.dbname,
        # A Unix socket directory goes to libpq as host=... through the query string.
        query={"host": args.host} if socket_dir else {})
    return sa.create_engine(url, pool_size=args.pool_size, max_overflow=args.max_overflow, pool_pre_ping=True,
                            pool_timeout=30, future=True, connect_args={"connect_timeout": args.connect_timeout})


def workload(engine, table, args, run, worker):
    queries = 0
    with engine.connect() as conn:
        common.check(conn.execute(sa.text("SELECT 1")).scalar() == 1, "SELECT 1")
        queries += 1
    for i in range(args.queries):
        # A checkout per query, as a request handler does.
        with engine.connect() as conn:
            got = conn.execute(sa.text("SELECT :a + 1 AS v, :b AS w"), {"a": i, "b": f"w{i}"}).one()
            common.check(tuple(got) == (i + 1, f"w{i}"), f"SELECT :a + 1, :b with {i} gave {tuple(got)}")
            queries += 1
    with engine.begin() as conn:
        conn.execute(sa.insert(table), [{"run": run, "worker": worker, "note": f"many {k}"} for k in range(20)])
        queries += 1
    with engine.connect() as conn:
        tx = conn.begin()
        conn.execute(sa.insert(table).values(run=run, worker=worker, note="rolled back"))
        tx.rollback()
        queries += 1
        count = conn.execute(sa.select(sa.func.count()).select_from(table)
                             .where(table.c.run == run, table.c.worker == worker)).scalar()
        common.check(count == 20, f"20 rows committed and 1 rolled back, table holds {count}")
        queries += 1
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
        queries += 1
    return {"queries": queries, "pid": pid}


def main(args):
    engine = make_engine(args)
    try:
        metadata = sa.MetaData()
        table = sa.Table(common.table_name(args, "sqlalchemy"), metadata,
                         sa.Column("id", sa.BigInteger, primary_key=True),
                         sa.Column("run", sa.Text, nullable=False),
                         sa.Column("worker", sa.Integer, nullable=False),
                         sa.Column("note", sa.Text, nullable=False))
        try:
            metadata.create_all(engine)
        except sa.exc.IntegrityError:
            pass  # another run created it at the same moment
        run = common.run_id()
        results = common.run_threads(lambda w: workload(engine, table, args, run, w), args.concurrency)
        with engine.connect() as conn:
            server_version = conn.execute(sa.text("SHOW server_version")).scalar()
        return {
            "threads": args.concurrency,
            "sqlalchemy_version": sa.__version__,
            "dialect": f"postgresql+{args.driver}",
            "queries": sum(r["queries"] for r in results),
            "backend_pids": sorted({r["pid"] for r in results}),
            "pool": engine.pool.status(),
            "server_version": server_version,
            "table": table.name,
        }
    finally:
        engine.dispose()


if __name__ == "__main__":
    p = common.parser(__doc__.split("\n\n")[0], concurrency_flag="--threads")
    p.add_argument("--driver", choices=["psycopg", "psycopg2"], default=default_driver(),
                   help=f"SQLAlchemy's DBAPI driver (default here: {default_driver()})")
    p.add_argument("--pool-size", type=int, default=5, help="the engine's pool_size (default 5)")
    p.add_argument("--max-overflow", type=int, default=10, help="the engine's max_overflow (default 10)")
    arguments = p.parse_args()
    common.report("sqlalchemy", sa.__version__, arguments, lambda: main(arguments))

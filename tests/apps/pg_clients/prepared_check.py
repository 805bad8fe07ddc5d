#!/usr/bin/python3
"""Drivers that prepare named statements, with their default settings, against a Postgres server
or a transaction pooler (issue 6): every query's result is checked and every failure is counted
(not just the first), so a pooler that loses statements shows how many queries it broke and how.

Workloads (the first argument):
  asyncpg            asyncpg.create_pool of --connections, default statement cache (named
                     __asyncpg_stmt_N__ statements, Parse+Describe+Flush without Sync), a checkout
                     per batch; fetchval, fetchrow, fetch, execute, executemany, a transaction
  asyncpg-small-cache  the same with --statement-cache-size (e.g. 4) and 12 distinct statements:
                     asyncpg evicts and sends Close for statements all the time
  sqlalchemy-async   SQLAlchemy's asyncio extension with its asyncpg dialect (1.4 here): an
                     AsyncEngine with pool_size --connections, ORM and Core queries in AsyncSessions
  psycopg            psycopg 3, --prepare-threshold (default 0: every query prepared, named
                     _pg3_N, the same names on every connection), --prepared-max (psycopg sends
                     DEALLOCATE when its cache overflows), one thread per connection
  psycopg-pipeline   psycopg 3 pipeline mode, three Syncs per round: a good segment, a segment
                     whose first query divides by zero (the second must be aborted), a good
                     segment; the connection must be idle and usable after each round

Prints one JSON line (see common.py) with "queries", "errors" (failed or wrong queries),
"error_kinds" (messages with digits replaced by N, counted) and "first_errors"; exit 1 when any
query failed.

  /usr/bin/python3 prepared_check.py asyncpg --host /run/portico --port 6432 --dbname app \\
      --user app --connections 50 --queries 40
"""

import asyncio
import collections
import re
import threading

import common

WORKLOADS = ["asyncpg", "asyncpg-small-cache", "asyncpg-alter", "sqlalchemy-async", "psycopg", "psycopg-pipeline"]


class Tally:
    """Queries run and failed, shared by every worker (a lock for the threaded ones)."""

    def __init__(self):
        self.queries = 0
        self.errors = 0
        self.kinds = collections.Counter()
        self.first = []
        self.lock = threading.Lock()

    def ok(self):
        with self.lock:
            self.queries += 1

    def failed(self, what, error):
        text = f"{what}: {type(error).__name__}: {error}" if isinstance(error, BaseException) else f"{what}: {error}"
        kind = re.sub(r"\d+", "N", f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error))
        with self.lock:
            self.queries += 1
            self.errors += 1
            self.kinds[kind.splitlines()[0][:200]] += 1
            if len(self.first) < 5:
                self.first.append(text[:500])

    def check(self, what, got, expected):
        if got == expected:
            self.ok()
        else:
            self.failed(what, f"got {got!r}, expected {expected!r}")

    async def run(self, what, coro, expected):
        """Awaits coro and compares its value with expected; an exception counts as a failure."""
        try:
            got = await coro
        except Exception as e:  # noqa: BLE001 - counted, the workload goes on
            self.failed(what, e)
            return None
        self.check(what, got, expected)
        return got

    def call(self, what, fn, expected):
        """The same for a blocking call."""
        try:
            got = fn()
        except Exception as e:  # noqa: BLE001 - counted, the workload goes on
            self.failed(what, e)
            return None
        self.check(what, got, expected)
        return got

    def result(self, extra):
        out = {"queries": self.queries, "errors": self.errors, "error_kinds": dict(self.kinds.most_common(10)),
               "first_errors": self.first}
        out.update(extra)
        if self.errors:
            failure = common.CheckFailed(f"{self.errors} of {self.queries} queries failed or gave a wrong result; "
                                         f"most common: {self.kinds.most_common(3)}; first: {self.first[:2]}")
            failure.details = out
            raise failure
        return out


# --- asyncpg ----------------------------------------------------------------------------------

async def asyncpg_alter_main(args):
    """Every connection caches `SELECT * FROM t` with its columns (asyncpg describes each statement
    once), then one connection adds a column. Against Postgres, asyncpg sees 'cached plan must not
    change result type' and re-prepares and retries by itself outside a transaction: no query fails
    and every later row has the new column. Through a pooler the cached statements live on servers
    prepared before and after the ALTER: a row of the new shape under the old description would be
    a ProtocolError."""
    import asyncpg

    tally = Tally()
    table = common.table_name(args, "prepared_alter") + "_" + common.run_id()
    pool = await asyncpg.create_pool(host=args.host, port=args.port, user=args.user, password=args.password,
                                     database=args.dbname, timeout=args.connect_timeout, min_size=args.concurrency,
                                     max_size=args.concurrency)
    pids = set()
    try:
        await pool.execute(f"CREATE TABLE {table} (a int); INSERT INTO {table} VALUES (1)")
        conns = [await pool.acquire() for _ in range(args.concurrency)]
        query = f"SELECT * FROM {table}"

        async def each(columns, rounds):
            async def one(conn):
                for _ in range(rounds):
                    try:
                        row = await conn.fetchrow(query)
                        pids.add(conn.get_server_pid())
                        tally.check("columns", len(row), columns)
                    except Exception as e:  # noqa: BLE001 - counted
                        tally.failed("select *", e)
            await asyncio.gather(*(one(c) for c in conns))

        await each(1, max(1, args.queries // 4))
        await conns[0].execute(f"ALTER TABLE {table} ADD COLUMN b int DEFAULT 7")
        await each(2, max(1, args.queries // 4))
        for c in conns:
            await pool.release(c)
        await pool.execute(f"DROP TABLE {table}")
    finally:
        await pool.close()
    return tally.result({"connections": args.concurrency, "backend_pids": sorted(pids)})


async def asyncpg_main(args, small_cache):
    import asyncpg

    tally = Tally()
    run = common.run_id()
    table = common.table_name(args, "prepared_asyncpg")
    kwargs = {}
    if small_cache:
        kwargs["statement_cache_size"] = args.statement_cache_size
    # No statement_cache_size=0: asyncpg's default cache, as apps run it.
    pool = await asyncpg.create_pool(host=args.host, port=args.port, user=args.user, password=args.password,
                                     database=args.dbname, timeout=args.connect_timeout, min_size=args.concurrency,
                                     max_size=args.concurrency, **kwargs)
    pids = set()
    try:
        try:
            await pool.execute(common.table_ddl(table))
        except asyncpg.exceptions.UniqueViolationError:
            pass  # another run created it at the same moment
        insert = f"INSERT INTO {table} (run, worker, note) VALUES ($1, $2, $3)"
        count = f"SELECT count(*) FROM {table} WHERE run = $1 AND worker = $2"

        async def worker(w):
            inserted = 0
            batches = 4
            per_batch = max(1, args.queries // batches)
            for batch in range(batches):
                try:
                    # A checkout per batch, as a request handler does (the pool resets the
                    # connection on release: RESET ALL, CLOSE ALL, UNLISTEN *, unlock all).
                    async with pool.acquire() as conn:
                        pids.add(await conn.fetchval("SELECT pg_backend_pid()"))
                        for j in range(per_batch):
                            i = batch * per_batch + j
                            if small_cache:
                                # 12 distinct texts through a cache of a few: Close after Close.
                                k = i % 12
                                await tally.run(f"SELECT $1::int + {k}", conn.fetchval(f"SELECT $1::int + {k}", i), i + k)
                                continue
                            kind = i % 6
                            if kind == 0:
                                await tally.run("fetchval $1 + 1", conn.fetchval("SELECT $1::int + 1", i), i + 1)
                            elif kind == 1:
                                try:
                                    row = await conn.fetchrow("SELECT $1::text AS t, $2::int * 2 AS d", f"w{w}", i)
                                    tally.check("fetchrow", (row["t"], row["d"]), (f"w{w}", 2 * i))
                                except Exception as e:  # noqa: BLE001 - counted, the workload goes on
                                    tally.failed("fetchrow", e)
                            elif kind == 2:
                                n = 5 + i % 7
                                try:
                                    rows = await conn.fetch("SELECT g FROM generate_series(1, $1::int) g", n)
                                    tally.check("fetch", [r["g"] for r in rows], list(range(1, n + 1)))
                                except Exception as e:  # noqa: BLE001 - counted, the workload goes on
                                    tally.failed("fetch", e)
                            elif kind == 3:
                                if await tally.run("execute insert", conn.execute(insert, run, w, f"one {i}"),
                                                   "INSERT 0 1") is not None:
                                    inserted += 1
                            elif kind == 4:
                                # executemany returns None: what it inserted is counted again below.
                                await tally.run("executemany", conn.executemany(
                                    insert, [(run, w, f"many {i}.{k}") for k in range(3)]), None)
                                inserted = await conn.fetchval(count, run, w)
                            else:
                                async def block():
                                    async with conn.transaction():
                                        x1 = await conn.fetchval("SELECT txid_current()")
                                        await conn.execute(insert, run, w, f"tx {i}")
                                        x2 = await conn.fetchval("SELECT txid_current()")
                                        return x1 == x2
                                if await tally.run("transaction block", block(), True):
                                    inserted += 1
                        if not small_cache:
                            await tally.run("count of inserted rows", conn.fetchval(count, run, w), inserted)
                except Exception as e:  # noqa: BLE001 - a broken checkout: counted, next batch
                    tally.failed(f"batch {batch} of worker {w}", e)

        await asyncio.wait_for(asyncio.gather(*(worker(w) for w in range(args.concurrency))), timeout=args.deadline)
    finally:
        await pool.close()
    return tally.result({"connections": args.concurrency, "backend_pids": sorted(pids),
                         "statement_cache_size": args.statement_cache_size if small_cache else "default"})


# --- SQLAlchemy asyncio + asyncpg -------------------------------------------------------------

async def sqlalchemy_main(args):
    import sqlalchemy as sa
    from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine
    from sqlalchemy.orm import declarative_base, sessionmaker

    tally = Tally()
    run = common.run_id()
    Base = declarative_base()

    class Item(Base):
        __tablename__ = common.table_name(args, "prepared_sqlalchemy")
        id = sa.Column(sa.BigInteger, primary_key=True)
        run = sa.Column(sa.Text, nullable=False)
        worker = sa.Column(sa.Integer, nullable=False)
        note = sa.Column(sa.Text, nullable=False)

    url = sa.engine.URL.create("postgresql+asyncpg", username=args.user, password=args.password,
                               database=args.dbname)
    # asyncpg takes a Unix socket directory as its host; given through connect_args, default
    # settings otherwise (the dialect's prepared statement cache included).
    engine = create_async_engine(url, pool_size=args.concurrency, max_overflow=0, pool_timeout=60,
                                 connect_args={"host": args.host, "port": args.port, "timeout": args.connect_timeout})
    Session = sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)
    pids = set()
    try:
        async with engine.begin() as conn:
            try:
                await conn.run_sync(Base.metadata.create_all)
            except sa.exc.IntegrityError:
                pass  # another run created it at the same moment

        async def worker(w):
            inserted = 0
            last_orm = []
            sessions = 4
            per_session = max(1, args.queries // sessions)
            for s in range(sessions):
                try:
                    async with Session() as session:
                        pids.add((await session.execute(sa.text("SELECT pg_backend_pid()"))).scalar())
                        await session.commit()
                        for j in range(per_session):
                            i = s * per_session + j
                            kind = i % 5
                            try:
                                if kind == 0:
                                    got = (await session.execute(sa.text("SELECT CAST(:a AS integer) + 1 AS v, "
                                                                         "CAST(:b AS text) AS w"),
                                                                 {"a": i, "b": f"w{w}"})).one()
                                    tally.check("Core text", tuple(got), (i + 1, f"w{w}"))
                                elif kind == 1:
                                    session.add(Item(run=run, worker=w, note=f"orm {i}"))
                                    await session.commit()
                                    inserted += 1
                                    last_orm = [f"orm {i}"]
                                    tally.ok()
                                elif kind == 2:
                                    got = (await session.execute(
                                        sa.select(sa.func.count()).select_from(Item)
                                        .where(Item.run == run, Item.worker == w))).scalar()
                                    tally.check("Core count", got, inserted)
                                elif kind == 3:
                                    notes = (await session.execute(
                                        sa.select(Item).where(Item.run == run, Item.worker == w,
                                                              Item.note.like("orm %")).order_by(Item.id))).scalars().all()
                                    tally.check("ORM select", [it.note for it in notes][-1:], last_orm)
                                else:
                                    await session.execute(sa.insert(Item.__table__),
                                                          [{"run": run, "worker": w, "note": f"bulk {i}.{k}"}
                                                           for k in range(3)])
                                    inserted += 3
                                    tally.ok()
                                # The session began a transaction at its first statement: end it,
                                # as a request handler does (a transaction pooler's boundary).
                                await session.commit()
                            except Exception as e:  # noqa: BLE001 - counted, the session is rolled back
                                tally.failed(f"kind {kind}", e)
                                await session.rollback()
                except Exception as e:  # noqa: BLE001 - a broken session: counted, next one
                    tally.failed(f"session {s} of worker {w}", e)

        await asyncio.wait_for(asyncio.gather(*(worker(w) for w in range(args.concurrency))), timeout=args.deadline)
    finally:
        await engine.dispose()
    return tally.result({"connections": args.concurrency, "sqlalchemy_version": sa.__version__,
                         "dialect": "postgresql+asyncpg", "backend_pids": sorted(pids)})


# --- psycopg 3 --------------------------------------------------------------------------------

def psycopg_connect(args, psycopg):
    params = {"host": args.host, "port": args.port, "dbname": args.dbname, "user": args.user,
              "connect_timeout": args.connect_timeout}
    if args.password is not None:
        params["password"] = args.password
    conn = psycopg.connect(autocommit=True, prepare_threshold=args.prepare_threshold, **params)
    if args.prepared_max is not None:
        conn.prepared_max = args.prepared_max
    return conn


def psycopg_main(args):
    import psycopg

    tally = Tally()
    run = common.run_id()
    table = common.table_name(args, "prepared_psycopg")
    with psycopg_connect(args, psycopg) as setup:
        try:
            setup.execute(common.table_ddl(table))
        except psycopg.errors.UniqueViolation:
            pass  # another run created it at the same moment
    insert = f"INSERT INTO {table} (run, worker, note) VALUES (%s, %s, %s)"
    pids = set()

    def worker(w):
        try:
            with psycopg_connect(args, psycopg) as conn:
                pids.add(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
                inserted = 0
                for i in range(args.queries):
                    kind = i % 6
                    if kind == 0:
                        tally.call("$1 + 1", lambda: conn.execute("SELECT %s::int + 1", (i,)).fetchone()[0], i + 1)
                    elif kind == 1:
                        tally.call("two columns", lambda: tuple(conn.execute(
                            "SELECT %s::text, %s::int * 2", (f"w{w}", i)).fetchone()), (f"w{w}", 2 * i))
                    elif kind == 2:
                        n = 5 + i % 7
                        tally.call("rows", lambda: [r[0] for r in conn.execute(
                            "SELECT g FROM generate_series(1, %s::int) g", (n,)).fetchall()], list(range(1, n + 1)))
                    elif kind == 3:
                        if tally.call("insert", lambda: conn.execute(insert, (run, w, f"one {i}")).rowcount, 1):
                            inserted += 1
                    elif kind == 4:
                        def many():
                            with conn.cursor() as cur:
                                cur.executemany(insert, [(run, w, f"many {i}.{k}") for k in range(3)])
                            return True
                        if tally.call("executemany", many, True):
                            inserted += 3
                    else:
                        def block():
                            with conn.transaction():
                                x1 = conn.execute("SELECT txid_current()").fetchone()[0]
                                conn.execute(insert, (run, w, f"tx {i}"))
                                return conn.execute("SELECT txid_current()").fetchone()[0] == x1
                        if tally.call("transaction block", block, True):
                            inserted += 1
                    # Distinct texts beyond psycopg's cache make it DEALLOCATE (with --prepared-max).
                    if args.prepared_max is not None:
                        k = i % (2 * args.prepared_max + 1)
                        tally.call(f"distinct text {k}", lambda: conn.execute(
                            f"SELECT %s::int + {k}", (i,)).fetchone()[0], i + k)
                tally.call("count of inserted rows", lambda: conn.execute(
                    f"SELECT count(*) FROM {table} WHERE run = %s AND worker = %s", (run, w)).fetchone()[0], inserted)
        except Exception as e:  # noqa: BLE001 - a broken connection: counted
            tally.failed(f"worker {w}", e)

    common.run_threads(worker, args.concurrency)
    return tally.result({"connections": args.concurrency, "prepare_threshold": args.prepare_threshold,
                         "prepared_max": args.prepared_max, "backend_pids": sorted(pids),
                         "libpq_version": psycopg.pq.version()})


def psycopg_pipeline_main(args):
    import psycopg

    tally = Tally()
    pids = set()

    def worker(w):
        try:
            with psycopg_connect(args, psycopg) as conn:
                for r in range(args.rounds):
                    # psycopg reads results while it sends: the division by zero may surface from
                    # the execute() that follows it (the query after it is then never sent) or
                    # from sync(). Either way the segment's first error is that one, the next
                    # segment runs, and nothing escapes the pipeline block.
                    seen = []
                    a = pid = c = d = None
                    try:
                        with conn.pipeline() as p:
                            a = conn.execute("SELECT %s::int + 1", (r,))
                            pid = conn.execute("SELECT pg_backend_pid()")
                            p.sync()
                            try:
                                conn.execute("SELECT 10 / %s::int", (0,))
                                conn.execute("SELECT %s::int * 7", (r,))  # aborted by the error
                            except psycopg.Error as e:
                                seen.append(type(e).__name__)
                            try:
                                p.sync()
                            except psycopg.Error as e:
                                seen.append(type(e).__name__)
                            c = conn.execute("SELECT %s::int * 3", (r,))
                            d = conn.execute("SELECT %s::text || 'd'", (f"w{w}",))
                    except psycopg.Error as e:
                        seen.append(f"escaped the pipeline: {type(e).__name__}: {e}")
                    tally.call("segment 1", lambda: a.fetchone()[0], r + 1)
                    tally.call("backend pid", lambda: pids.add(pid.fetchone()[0]), None)
                    tally.check("segment 2 fails with division by zero", seen[:1], ["DivisionByZero"])
                    tally.check("segment 2: nothing but that error and the abort", [
                        k for k in seen[1:] if k != "PipelineAborted"], [])
                    tally.call("segment 3", lambda: (c.fetchone()[0], d.fetchone()[0]), (3 * r, f"w{w}d"))
                    tally.call("idle after the pipeline", lambda: conn.info.transaction_status.name, "IDLE")
                    tally.call("usable after the pipeline", lambda: conn.execute("SELECT %s::int", (r,)).fetchone()[0], r)
        except Exception as e:  # noqa: BLE001 - a broken connection: counted
            tally.failed(f"worker {w}", e)

    common.run_threads(worker, args.concurrency)
    return tally.result({"connections": args.concurrency, "rounds": args.rounds, "backend_pids": sorted(pids)})


def main(args):
    if args.workload == "asyncpg":
        return asyncio.run(asyncpg_main(args, small_cache=False))
    if args.workload == "asyncpg-small-cache":
        return asyncio.run(asyncpg_main(args, small_cache=True))
    if args.workload == "asyncpg-alter":
        return asyncio.run(asyncpg_alter_main(args))
    if args.workload == "sqlalchemy-async":
        return asyncio.run(sqlalchemy_main(args))
    if args.workload == "psycopg":
        return psycopg_main(args)
    return psycopg_pipeline_main(args)


def driver_version(workload):
    if workload.startswith("asyncpg"):
        import asyncpg
        return asyncpg.__version__
    if workload.startswith("sqlalchemy"):
        import asyncpg
        import sqlalchemy
        return f"{sqlalchemy.__version__} asyncpg {asyncpg.__version__}"
    import psycopg
    return psycopg.__version__


def threshold(text):
    return None if text.lower() == "none" else int(text)


if __name__ == "__main__":
    p = common.parser(__doc__.split("\n\n")[0])
    p.add_argument("workload", choices=WORKLOADS)
    p.add_argument("--statement-cache-size", type=int, default=4,
                   help="asyncpg-small-cache only: asyncpg's statement_cache_size (default 4)")
    p.add_argument("--prepare-threshold", type=threshold, default=0,
                   help="psycopg: prepare_threshold, an int or none (default 0: every query prepared)")
    p.add_argument("--prepared-max", type=int, default=None,
                   help="psycopg: prepared_max (default psycopg's 100); distinct texts beyond it are added")
    p.add_argument("--rounds", type=int, default=10, help="psycopg-pipeline: pipelines per connection (default 10)")
    p.add_argument("--deadline", type=float, default=100, help="asyncio workloads: seconds for all workers (100)")
    arguments = p.parse_args()
    common.report(f"prepared-{arguments.workload}", driver_version(arguments.workload), arguments,
                  lambda: main(arguments))

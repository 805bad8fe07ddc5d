# The demo application that conf/demo/run.sh puts behind portico: a few plain JSON endpoints,
# one slow one, one that shows what portico forwarded (X-Forwarded-For, X-Request-ID, …), and
# products kept in PostgreSQL — reached through portico's pool with asyncpg and its default
# statement cache (transaction pooling), cached by portico under Surrogate-Key tags, and purged on
# every portico when a write commits (NOTIFY portico_invalidate in the writing transaction).
#
# Run alone: DATABASE_URL=postgresql://postgres@/demo?host=/run/portico&port=6432 \
#   /usr/bin/python3 -m uvicorn app:app --app-dir conf/demo --uds /tmp/app.sock
import asyncio
import json
import os
import time

from fastapi import FastAPI, HTTPException, Request, Response

app = FastAPI(title="Portico demo app")

ITEMS = {
    1: {"id": 1, "name": "teapot", "price": 18.5},
    2: {"id": 2, "name": "kettle", "price": 32.0},
    42: {"id": 42, "name": "towel", "price": 4.2},
}

# Headers portico adds on the way to the app; /api/headers shows them.
FORWARDED = ["x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip", "x-request-id"]


@app.get("/api/hello")
async def hello():
    return {"message": "hello from the demo app", "time": time.time()}


@app.get("/api/items/{item_id}")
async def get_item(item_id: int, response: Response):
    item = ITEMS.get(item_id)
    if item is None:
        raise HTTPException(status_code=404, detail=f"no item {item_id}")
    # Marked cacheable so that, once portico's cache is enabled, a second GET is a HIT.
    response.headers["Cache-Control"] = "public, max-age=30"
    return item


@app.get("/api/slow")
async def slow(ms: int = 500, db: bool = False):
    """Answers after `ms` milliseconds (at most 5 s): watch Server-Timing's upstream part grow.
    With db=1 it then asks the database too: a request still in flight when portico is told to
    stop needs the pool until it has answered."""
    ms = max(0, min(ms, 5000))
    await asyncio.sleep(ms / 1000)
    answer = {"slept_ms": ms}
    if db:
        answer["database_time"] = await (await db_pool()).fetchval("SELECT now()::text")
    return answer


@app.post("/api/echo")
async def echo(request: Request):
    body = await request.body()
    return {
        "method": request.method,
        "content_type": request.headers.get("content-type"),
        "length": len(body),
        "body": body.decode("utf-8", errors="replace"),
    }


@app.get("/api/headers")
async def headers(request: Request):
    return {
        "forwarded_by_portico": {name: request.headers.get(name) for name in FORWARDED},
        "all": dict(request.headers),
    }


# ---- products, in PostgreSQL through portico's pool -------------------------------------------

_db = None
_db_lock = asyncio.Lock()
DB_READS = {"count": 0}  # how often the app really went to the database: a cache HIT does not


async def db_pool():
    """asyncpg's pool, opened on first use (portico's pool may start after the app)."""
    global _db
    async with _db_lock:
        if _db is None:
            import asyncpg

            url = os.environ.get("DATABASE_URL", "postgresql://postgres@/demo?host=/run/portico&port=6432")
            _db = await asyncpg.create_pool(url, min_size=1, max_size=10)  # default statement cache
        return _db


@app.get("/api/products/reads")
async def product_reads(response: Response):
    """How many times the app read a product from the database (a cache HIT does not count); never
    cached, and it asks the database each time (the pool serves every call)."""
    response.headers["Cache-Control"] = "no-store"
    database_time = await (await db_pool()).fetchval("SELECT now()::text")
    return {"db_reads": DB_READS["count"], "database_time": database_time}


@app.get("/api/products/{product_id}")
async def get_product(product_id: int, response: Response):
    pool = await db_pool()
    row = await pool.fetchrow("SELECT id, name, price::float AS price, updated_at::text FROM products WHERE id = $1",
                              product_id)
    DB_READS["count"] += 1
    if row is None:
        raise HTTPException(status_code=404, detail=f"no product {product_id}")
    # Cacheable for a long time: a write purges it at once through NOTIFY, on every portico.
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Surrogate-Key"] = f"product:{product_id} products"
    return {**dict(row), "db_reads": DB_READS["count"]}


# Another URL than the product's on purpose: portico's own invalidation after unsafe methods only
# covers the request's URL, so what purges /api/products/N here is the NOTIFY (as it would be for
# a write made by another service, a worker, or psql).
@app.post("/api/products/{product_id}/update")
async def update_product(product_id: int, request: Request):
    body = await request.json()
    pool = await db_pool()
    async with pool.acquire() as conn, conn.transaction():
        updated = await conn.fetchval(
            "UPDATE products SET name = coalesce($2, name), price = coalesce($3, price), updated_at = now() "
            "WHERE id = $1 RETURNING id", product_id, body.get("name"), body.get("price"))
        if updated is None:
            raise HTTPException(status_code=404, detail=f"no product {product_id}")
        # Delivered when this transaction commits; a rollback purges nothing.
        await conn.execute("SELECT pg_notify('portico_invalidate', $1)", json.dumps({"tag": f"product:{product_id}"}))
    return {"updated": product_id}

# The demo application that conf/demo/run.sh puts behind portico: a few plain JSON endpoints,
# one slow one, and one that shows what portico forwarded (X-Forwarded-For, X-Request-ID, …).
#
# Run alone: /usr/bin/python3 -m uvicorn app:app --app-dir conf/demo --uds /tmp/app.sock
import asyncio
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
async def slow(ms: int = 500):
    """Answers after `ms` milliseconds (at most 5 s): watch Server-Timing's upstream part grow."""
    ms = max(0, min(ms, 5000))
    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms}


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

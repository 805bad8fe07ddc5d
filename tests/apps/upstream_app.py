# The upstream application the integration tests proxy to: small endpoints that echo, stream,
# stall, fail and count, so a test can see exactly what portico forwarded (and what it never did).
#
# Run: /usr/bin/python3 -m uvicorn upstream_app:app --app-dir tests/apps --host 127.0.0.1 --port N
#      (or --uds PATH). Body content is deterministic: byte i of any generated body is i % 251,
# so a client can verify a download of any size without holding it.
import asyncio
import hashlib
from collections import Counter

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

PIECE = 64 * 1024
_CYCLE = bytes(i % 251 for i in range(251 * 2 + PIECE))  # any 64 KiB window, at any phase

ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def pattern(offset: int, n: int) -> bytes:
    """n bytes of the i % 251 pattern starting at absolute offset (n <= PIECE)."""
    start = offset % 251
    return _CYCLE[start:start + n]


def pattern_pieces(n: int):
    sent = 0
    while sent < n:
        size = min(PIECE, n - sent)
        yield pattern(sent, size)
        sent += size


api = FastAPI()
counts: Counter = Counter()


@api.api_route("/echo", methods=ALL_METHODS)
@api.api_route("/echo/{rest:path}", methods=ALL_METHODS)
async def echo(request: Request, rest: str = ""):
    digest = hashlib.sha256()
    length = 0
    async for chunk in request.stream():
        digest.update(chunk)
        length += len(chunk)
    headers: dict = {}
    for name, value in request.headers.items():  # names arrive lower-cased
        headers[name] = headers[name] + ", " + value if name in headers else value
    return {
        "method": request.method,
        "path": request.url.path,
        "query": request.url.query,
        "headers": headers,
        "header_list": [[n, v] for n, v in request.headers.items()],
        "http_version": request.scope.get("http_version"),
        "client": request.client.host if request.client else None,
        "body_length": length,
        "body_sha256": digest.hexdigest(),
    }


@api.post("/upload")
@api.put("/upload")
async def upload(request: Request):
    digest = hashlib.sha256()
    length = 0
    async for chunk in request.stream():
        digest.update(chunk)
        length += len(chunk)
    return {"length": length, "sha256": digest.hexdigest()}


@api.get("/bytes/{n}")
async def fixed_bytes(n: int):
    return Response(content=b"".join(pattern_pieces(n)), media_type="application/octet-stream")


@api.get("/stream/{n}")
async def stream(n: int):
    async def body():
        for piece in pattern_pieces(n):
            yield piece

    return StreamingResponse(body(), media_type="application/octet-stream")


@api.api_route("/slow/{ms}", methods=ALL_METHODS)
async def slow(ms: int, request: Request):
    async for _ in request.stream():
        pass
    await asyncio.sleep(ms / 1000)
    return {"slept_ms": ms}


@api.get("/slowbody/{ms}")
async def slow_body(ms: int):
    async def body():
        await asyncio.sleep(ms / 1000)
        yield b"late body"

    return StreamingResponse(body(), media_type="text/plain")


@api.api_route("/status/{code}", methods=ALL_METHODS)
async def status(code: int):
    if code in (204, 304) or code < 200:
        return Response(status_code=code)
    return Response(content=f"status {code}\n", status_code=code, media_type="text/plain")


@api.get("/count")
async def get_count():
    return {"total": sum(counts.values()), "paths": dict(counts)}


@api.api_route("/count/reset", methods=["GET", "POST"])
async def reset_count():
    counts.clear()
    return {"total": 0, "paths": {}}


async def close_mid_body(scope, receive, send):
    """Declares Content-Length: 100000, sends 1000 bytes, then fails: uvicorn closes the socket
    because a response already started cannot be turned into a 500."""
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"100000"), (b"content-type", b"application/octet-stream")]})
    await send({"type": "http.response.body", "body": pattern(0, 1000), "more_body": True})
    await asyncio.sleep(0.05)  # let the first part reach the wire before the transport closes
    raise RuntimeError("close-mid-body: dropping the connection on purpose")


async def app(scope, receive, send):
    """Counts every HTTP request by path (except the /count endpoints), then dispatches."""
    if scope["type"] == "http":
        path = scope["path"]
        if not path.startswith("/count"):
            counts[path] += 1
        if path == "/close-mid-body":
            await close_mid_body(scope, receive, send)
            return
    await api(scope, receive, send)

# The upstream application the cache integration tests and benchmarks put behind portico: every
# response is chosen by the request's query string (or by a per-path override the test installs,
# so the cache key stays the same while the answer changes), and the app counts what it was asked,
# so a test can tell a cache hit (the app never saw it) from a miss.
#
# Run: /usr/bin/python3 -m uvicorn cache_app:app --app-dir tests/apps --host 127.0.0.1 --port N
#
# GET/HEAD on any path other than /count* and /_ctl/* answers according to these parameters:
#   cc=V        Cache-Control: V            pcc=V  Portico-Cache-Control: V
#   cdn=V       CDN-Cache-Control: V        sc=V   Surrogate-Control: V
#   etag=V      ETag: "V" (V as given when it starts with W/ or a quote); If-None-Match → 304
#   lm=N        Last-Modified: the app's start time minus N seconds; If-Modified-Since → 304
#   lm_raw=V    Last-Modified: V (as given)
#   expires=N   Expires: now + N seconds (negative: in the past)   expires_raw=V  Expires: V
#   vary=V      Vary: V                     cookie=V  Set-Cookie: V
#   skey=V      Surrogate-Key: V            ctag=V    Cache-Tag: V
#   hdr=N:V     any other response field (repeatable)
#   status=N    the status code (default 200)
#   size=N      a body of N bytes, byte i = i % 251 (application/octet-stream); default: JSON
#   body=derived  (with size=N) instead, N bytes only this path gives: the hex SHA-256 of "path:0",
#               "path:1", … one after the other (harness.hpp's derived_body), so that an entry served
#               for another path, or a damaged one, can never pass for right
#   json_size=N a constant JSON document of exactly N bytes (for the benchmarks)
#   words=N     N bytes of text/plain prose from a fixed vocabulary, the same every time (compresses
#               like real text: zlib's levels give different sizes on it)
#   stream=1    send the body chunked in 64 KiB pieces (piece_ms=N between pieces)
#   gate=NAME   (with stream=1) stop after the first piece until POST /_ctl/release?gate=NAME
#   delay=N     wait N ms before answering (for coalescing)
#   fail=500    answer 500 without cache fields       fail=close  drop the connection, no response
#   fail=midbody  send the head (Content-Length: size) and part of the body, then drop the connection
# The JSON body is {"path", "query", "n" (this path's request count), "method",
# "accept_encoding", "version", "varied" (the request's values of the Vary fields)}; every response
# carries X-App-Serial: n.
#
# Every other method on any path: JSON {"method", "path", "n"}, with location=V → Location: V,
# content_location=V → Content-Location: V, status=N.
#
# Control (never counted, never cacheable: Cache-Control: no-store):
#   GET  /count             {"total", "paths", "full", "conditional", "not_modified", "finished",
#                            "methods", "last_headers", "gates_waiting"}
#   GET|POST /count/reset   clears the counts (not the overrides)
#   POST /_ctl/override     {"path": P, "params": {...}} merged over the query of every request
#                           to P; "params": null removes it
#   POST /_ctl/reset        clears overrides, gates and counts
#   POST /_ctl/release?gate=NAME   lets a gated stream finish (also before it started waiting)
import asyncio
import email.utils
import hashlib
import json
import time
import urllib.parse
from collections import Counter, defaultdict

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

PIECE = 64 * 1024
_CYCLE = bytes(i % 251 for i in range(251 * 2 + PIECE))
START = int(time.time())
NO_STORE = {"Cache-Control": "no-store"}
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def pattern(offset: int, n: int) -> bytes:
    start = offset % 251
    return _CYCLE[start:start + n]


def derived(path: str, n: int) -> bytes:
    out, i = [], 0
    length = 0
    while length < n:
        piece = hashlib.sha256(f"{path}:{i}".encode()).hexdigest().encode()
        out.append(piece)
        length += len(piece)
        i += 1
    return b"".join(out)[:n]


def pattern_pieces(n: int):
    sent = 0
    while sent < n:
        size = min(PIECE, n - sent)
        yield pattern(sent, size)
        sent += size


api = FastAPI()
counts: Counter = Counter()        # every request, by path
full: Counter = Counter()          # answered with a full response (not 304)
conditional: Counter = Counter()   # carried If-None-Match or If-Modified-Since
not_modified: Counter = Counter()  # answered 304
finished: Counter = Counter()      # whose body was completely handed to uvicorn
methods: dict = defaultdict(Counter)
last_headers: dict = {}
overrides: dict = {}
gates: dict = {}
gates_waiting: Counter = Counter()


def gate(name: str) -> asyncio.Event:
    if name not in gates:
        gates[name] = asyncio.Event()
    return gates[name]


def json_of_size(path: str, size: int) -> bytes:
    """A JSON document of exactly `size` bytes (newline included) when size allows, the same every time."""
    doc = {"id": 42, "path": path, "tags": ["cache", "bench"], "filler": ""}
    doc["filler"] = "x" * max(0, size - len(json.dumps(doc, separators=(",", ":"))) - 1)
    return (json.dumps(doc, separators=(",", ":")) + "\n").encode()


WORDS = ("portico cache proxy nginx upstream request response header body stream worker loop "
         "token bucket gzip deflate window static file range vary etag client server route pattern "
         "the a of and to in is it that for on with as at by from").split()


def words_of_size(size: int) -> bytes:
    """Deterministic prose of exactly `size` bytes (a linear congruential choice of words)."""
    out, x, length = [], 12345, 0
    while length < size:
        x = (x * 1103515245 + 12345) % (1 << 31)
        w = WORDS[x % len(WORDS)] + ("\n" if x % 11 == 0 else " ")
        out.append(w)
        length += len(w)
    return "".join(out).encode()[:size]


def http_date(t: float) -> str:
    return email.utils.formatdate(t, usegmt=True)


def effective_params(path: str, query: str) -> dict:
    """Query parameters (repeated ones as lists for hdr) with the path's override on top."""
    params: dict = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name == "hdr":
            params.setdefault("hdr", []).append(value)
        else:
            params[name] = value
    for name, value in (overrides.get(path) or {}).items():
        params[name] = value
    return params


def quoted_etag(v: str) -> str:
    return v if v.startswith('W/') or v.startswith('"') else f'"{v}"'


def opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag.startswith("W/") else tag


def cache_fields(params: dict) -> list:
    """The response fields a test chose, as (name, value) pairs; used for 200 and 304 alike."""
    out = []
    for key, name in (("cc", "Cache-Control"), ("pcc", "Portico-Cache-Control"), ("cdn", "CDN-Cache-Control"),
                      ("sc", "Surrogate-Control"), ("vary", "Vary"), ("skey", "Surrogate-Key"),
                      ("ctag", "Cache-Tag")):
        if key in params:
            out.append((name, params[key]))
    if "etag" in params:
        out.append(("ETag", quoted_etag(params["etag"])))
    if "lm" in params:
        out.append(("Last-Modified", http_date(START - int(params["lm"]))))
    if "lm_raw" in params:
        out.append(("Last-Modified", params["lm_raw"]))
    if "expires" in params:
        out.append(("Expires", http_date(time.time() + int(params["expires"]))))
    if "expires_raw" in params:
        out.append(("Expires", params["expires_raw"]))
    hdrs = params.get("hdr", [])
    for h in [hdrs] if isinstance(hdrs, str) else hdrs:
        name, _, value = h.partition(":")
        out.append((name.strip(), value.strip()))
    return out


def not_modified_by(request: Request, params: dict) -> bool:
    """RFC 9110 §13.1.1 / §13.1.3 with weak comparison; If-Modified-Since only without INM."""
    inm = request.headers.get("if-none-match")
    if inm is not None:
        if "etag" not in params:
            return False
        if inm.strip() == "*":
            return True
        mine = opaque(quoted_etag(params["etag"]))
        return any(opaque(t) == mine for t in inm.split(","))
    ims = request.headers.get("if-modified-since")
    if ims is not None and ("lm" in params or "lm_raw" in params):
        try:
            since = email.utils.parsedate_to_datetime(ims).timestamp()
            lm_text = params.get("lm_raw") or http_date(START - int(params["lm"]))
            lm = email.utils.parsedate_to_datetime(lm_text).timestamp()
        except (TypeError, ValueError):
            return False
        return lm <= since
    return False


@api.get("/count")
async def get_count():
    return JSONResponse({
        "total": sum(counts.values()),
        "paths": dict(counts),
        "full": dict(full),
        "conditional": dict(conditional),
        "not_modified": dict(not_modified),
        "finished": dict(finished),
        "methods": {p: dict(m) for p, m in methods.items()},
        "last_headers": last_headers,
        "gates_waiting": dict(gates_waiting),
    }, headers=NO_STORE)


def clear_counts():
    for c in (counts, full, conditional, not_modified, finished, gates_waiting):
        c.clear()
    methods.clear()
    last_headers.clear()


@api.api_route("/count/reset", methods=["GET", "POST"])
async def reset_count():
    clear_counts()
    return JSONResponse({"total": 0, "paths": {}}, headers=NO_STORE)


@api.post("/_ctl/override")
async def set_override(request: Request):
    body = await request.json()
    if body.get("params") is None:
        overrides.pop(body["path"], None)
    else:
        overrides[body["path"]] = {k: v for k, v in body["params"].items()}
    return JSONResponse({"overrides": overrides}, headers=NO_STORE)


@api.post("/_ctl/reset")
async def reset_all():
    overrides.clear()
    for g in gates.values():
        g.set()
    gates.clear()
    clear_counts()
    return JSONResponse({"ok": True}, headers=NO_STORE)


@api.post("/_ctl/release")
async def release(request: Request):
    name = request.query_params.get("gate", "")
    gate(name).set()
    return JSONResponse({"released": name}, headers=NO_STORE)


@api.api_route("/{rest:path}", methods=["GET", "HEAD"])
async def resource(request: Request, rest: str = ""):
    path = request.url.path
    params = effective_params(path, request.url.query)
    n = counts[path]
    if "delay" in params:
        await asyncio.sleep(int(params["delay"]) / 1000)
    status = int(params.get("status", "200"))
    fields = cache_fields(params)
    fields.append(("X-App-Serial", str(n)))
    if params.get("fail") == "500":
        full[path] += 1
        finished[path] += 1
        return Response(content=b"app failure\n", status_code=500, media_type="text/plain",
                        headers={"X-App-Serial": str(n)})
    if status == 200 and not_modified_by(request, params):
        not_modified[path] += 1
        finished[path] += 1
        resp = Response(status_code=304)
        for name, value in fields:
            resp.headers.append(name, value)
        return resp
    full[path] += 1

    if "size" in params:
        size = int(params["size"])
        media = params.get("type", "application/octet-stream")
        if params.get("stream") == "1":
            gate_name = params.get("gate")
            piece_ms = int(params.get("piece_ms", "0"))

            async def body():
                first = True
                for piece in pattern_pieces(size):
                    yield piece
                    if first and gate_name:
                        gates_waiting[gate_name] += 1
                        await gate(gate_name).wait()
                        gates_waiting[gate_name] -= 1
                    first = False
                    if piece_ms:
                        await asyncio.sleep(piece_ms / 1000)
                finished[path] += 1

            resp = StreamingResponse(body(), status_code=status, media_type=media)
        else:
            finished[path] += 1
            content = derived(path, size) if params.get("body") == "derived" else b"".join(pattern_pieces(size))
            resp = Response(content=content, status_code=status, media_type=media)
    elif "words" in params:
        finished[path] += 1
        resp = Response(content=words_of_size(int(params["words"])), status_code=status,
                        media_type=params.get("type", "text/plain"))
    elif "json_size" in params:
        finished[path] += 1
        resp = Response(content=json_of_size(path, int(params["json_size"])), status_code=status,
                        media_type="application/json")
    elif status in (204, 304) or status < 200:
        finished[path] += 1
        resp = Response(status_code=status)
    else:
        finished[path] += 1
        doc = {
            "path": path,
            "query": request.url.query,
            "n": n,
            "method": request.method,
            "accept_encoding": request.headers.get("accept-encoding"),
            "version": params.get("version"),
            # the request's values of the fields the response varies on, to tell variants apart
            "varied": {name.strip().lower(): request.headers.get(name.strip())
                       for name in params.get("vary", "").split(",") if name.strip() and name.strip() != "*"},
        }
        resp = JSONResponse(doc, status_code=status)
        if "type" in params:
            resp.headers["content-type"] = params["type"]
    for name, value in fields:
        resp.headers.append(name, value)
    if "cookie" in params:
        resp.headers.append("Set-Cookie", params["cookie"])
    return resp


@api.api_route("/{rest:path}", methods=["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
async def unsafe(request: Request, rest: str = ""):
    async for _ in request.stream():
        pass
    path = request.url.path
    params = effective_params(path, request.url.query)
    headers = {}
    if "location" in params:
        headers["Location"] = params["location"]
    if "content_location" in params:
        headers["Content-Location"] = params["content_location"]
    status = int(params.get("status", "200"))
    finished[path] += 1
    if status in (204, 304):
        return Response(status_code=status, headers=headers)
    return JSONResponse({"method": request.method, "path": path, "n": counts[path]}, status_code=status,
                        headers=headers)


async def app(scope, receive, send):
    """Counts every request by path (except /count* and /_ctl/*), remembers its header fields,
    and drops the connection for fail=close / fail=midbody before FastAPI is involved."""
    if scope["type"] == "http":
        path = scope["path"]
        if not path.startswith("/count") and not path.startswith("/_ctl/"):
            counts[path] += 1
            methods[path][scope["method"]] += 1
            headers = {}
            for name, value in scope["headers"]:
                n, v = name.decode("latin-1"), value.decode("latin-1")
                headers[n] = headers[n] + ", " + v if n in headers else v
            last_headers[path] = headers
            if "if-none-match" in headers or "if-modified-since" in headers:
                conditional[path] += 1
            params = effective_params(path, scope.get("query_string", b"").decode("latin-1"))
            if params.get("fail") == "close":
                # uvicorn's send is a bound method of the request cycle, which holds the transport:
                # abort() resets the connection without a byte of response.
                getattr(send, "__self__").transport.abort()
                return
            if params.get("fail") == "midbody":
                # A complete head (Content-Length: size) and half the body, then the connection drops.
                size = int(params.get("size", "100000"))
                fields = [(n.lower().encode("latin-1"), v.encode("latin-1")) for n, v in cache_fields(params)]
                await send({"type": "http.response.start", "status": 200,
                            "headers": [(b"content-length", str(size).encode()),
                                        (b"content-type", b"application/octet-stream")] + fields})
                await send({"type": "http.response.body", "body": pattern(0, min(size // 2, PIECE)),
                            "more_body": True})
                await asyncio.sleep(0.05)  # let the first part reach the wire
                getattr(send, "__self__").transport.abort()
                return
    await api(scope, receive, send)

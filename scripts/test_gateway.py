"""The gateway's test (scripts/test-gateway): run against a stack with two replicas of every service.

Checks, through the gateway only, what deploy/nginx/storefront.conf promises: its own /health; routing of
/api/<service>/... to each of the seven services; the public catalog without a token; 413 before a service sees a
large body; 429 with Retry-After per client address; CORS preflights and headers; X-Request-ID passed on and made;
balancing over both replicas of a service, each answer's replica named by X-Instance-ID and found in that replica's
own log. Prints one line per check; exits 1 at the first failure.
"""

import concurrent.futures
import http.client
import json
import os
import pathlib
import re
import sys
import time
import uuid

SERVICES = ["user", "product", "inventory", "cart", "order", "payment", "notification"]
GATEWAY_HOST = "127.0.0.1"
GATEWAY_PORT = int(os.environ.get("STACK_GATEWAY_PORT", "8000"))
ROOT = pathlib.Path(__file__).resolve().parent.parent
STACK_DIR = pathlib.Path(os.environ.get("STACK_DIR", ROOT / ".stack"))
ADMIN_EMAIL = os.environ["ADMIN_EMAIL"]
ADMIN_PASSWORD = os.environ["ADMIN_PASSWORD"]


class Answer:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())

    def json(self):
        return json.loads(self.body or b"null")


def call(method, path, body=None, headers=None, source="127.0.0.1"):
    """One request to the gateway from the client address `source` (any 127.x address is local)."""
    connection = http.client.HTTPConnection(GATEWAY_HOST, GATEWAY_PORT, timeout=30, source_address=(source, 0))
    try:
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        all_headers = {"Content-Type": "application/json"} if data is not None else {}
        all_headers.update(headers or {})
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def check(condition, what, detail=""):
    if not condition:
        print(f"[test-gateway] FAILED: {what}{': ' + detail if detail else ''}", file=sys.stderr)
        sys.exit(1)


def passed(what):
    print(f"[test-gateway] ok: {what}", file=sys.stderr)


def log_lines(component):
    """The JSON lines of a component's log in the stack's state folder."""
    lines = []
    for line in (STACK_DIR / "logs" / f"{component}.log").read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                lines.append(json.loads(line))
            except ValueError:
                pass
    return lines


def main():
    # The gateway's own /health, with a request id it made (32 hex digits).
    answer = call("GET", "/health")
    check(answer.status == 200 and answer.json() == {"status": "ok", "service": "gateway"}, "GET /health", answer.body)
    check(re.fullmatch(r"[0-9a-f]{32}", answer.header("X-Request-ID") or ""), "a request id made by the gateway")
    passed("GET /health answered by the gateway, with a request id it made")

    # Routing: /api/<service>/health reaches that service (it names itself) on one of its replicas.
    for service in SERVICES:
        answer = call("GET", f"/api/{service}/health")
        check(answer.status == 200, f"GET /api/{service}/health", f"{answer.status} {answer.body!r}")
        check(answer.json().get("service") == f"{service}-service", f"/api/{service}/ reaches the {service} service",
              answer.body)
        check(re.fullmatch(rf"{service}-[12]", answer.header("X-Instance-ID") or ""),
              f"/api/{service}/ answered by a replica of {service}", str(answer.header("X-Instance-ID")))
    passed("/api/<service>/health reaches each of the seven services")
    for path in ["/api/unknown/health", "/health/x", "/api/order/metrics"]:
        answer = call("GET", path)
        check(answer.status == 404 and answer.json()["error"]["code"] == "not_found", f"GET {path} is 404",
              f"{answer.status} {answer.body!r}")
    passed("unknown services, other paths and /api/<service>/metrics are 404 at the gateway")

    # Real routes: log in, create a product (admin), read it back without a token (the public catalog).
    answer = call("POST", "/api/user/login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    check(answer.status == 200, "POST /api/user/login", f"{answer.status} {answer.body!r}")
    token = answer.json().get("token") or answer.json().get("Token")
    admin = {"Authorization": f"Bearer {token}"}
    name = f"gateway-test-{uuid.uuid4().hex[:8]}"
    answer = call("POST", "/api/product/create",
                  {"name": name, "category": "gateway", "price": 3.5, "inventory": 5}, admin)
    check(answer.status == 201, "POST /api/product/create (admin)", f"{answer.status} {answer.body!r}")
    product_id = answer.json()["_id"]
    answer = call("GET", f"/api/product/get/{product_id}")
    check(answer.status == 200 and answer.json()["product"].get("name") == name,
          "GET /api/product/get/{id} without a token",
          f"{answer.status} {answer.body!r}")
    answer = call("GET", "/api/product/get")
    check(answer.status == 200 and any(p.get("_id") == product_id for p in answer.json()),
          "GET /api/product/get without a token lists it", f"{answer.status}")
    answer = call("GET", f"/api/inventory/get/{product_id}")
    check(answer.status == 401, "a protected route through the gateway without a token is 401", f"{answer.status}")
    answer = call("GET", f"/api/inventory/get/{product_id}?unused=a%2Fb", headers=admin)
    check(answer.status == 200 and answer.json().get("inventory") == 5,
          "GET /api/inventory/get/{id} (admin), with a query string", f"{answer.status} {answer.body!r}")
    passed("login, admin create, public catalog reads without a token, protected reads with one")

    # 413 before any service: the request id the client sent appears in no service's log.
    request_id = f"gateway-413-{uuid.uuid4().hex}"
    answer = call("POST", "/api/user/login", b"x" * (1024 * 1024 + 1), {"X-Request-ID": request_id})
    check(answer.status == 413 and answer.json()["error"]["code"] == "payload_too_large", "a 1 MB + 1 body is 413",
          f"{answer.status} {answer.body!r}")
    check(answer.header("X-Request-ID") == request_id, "the 413 carries the client's request id")
    reached = [c for c in ("user", "user-2") if any(l.get("request.id") == request_id for l in log_lines(c))]
    check(not reached, "the large body reached no user replica", f"logged by {reached}")
    answer = call("POST", "/api/user/login", b"x" * (1024 * 1024 - 1024), {"X-Request-ID": request_id + "-small"})
    check(answer.status == 400, "a body just under 1 MB reaches the service (its own 400)", f"{answer.status}")
    passed("a body over 1 MB is answered 413 by the gateway; a smaller one reaches the service")

    # CORS: a preflight is answered by the gateway; answers carry the allowed origin and exposed headers.
    answer = call("OPTIONS", "/api/cart/addtocart", headers={
        "Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})
    check(answer.status == 204, "a preflight is 204", f"{answer.status} {answer.body!r}")
    check(answer.header("Access-Control-Allow-Origin") == "*", "preflight: Access-Control-Allow-Origin")
    check("POST" in (answer.header("Access-Control-Allow-Methods") or ""), "preflight: Access-Control-Allow-Methods")
    allowed = (answer.header("Access-Control-Allow-Headers") or "").lower()
    check("authorization" in allowed and "content-type" in allowed, "preflight: Access-Control-Allow-Headers")
    check(answer.header("X-Instance-ID") is None, "the preflight did not reach a service")
    answer = call("GET", "/api/product/get", headers={"Origin": "https://shop.example"})
    check(answer.status == 200 and answer.header("Access-Control-Allow-Origin") == "*",
          "a GET with an Origin is allowed")
    check("X-Request-ID" in (answer.header("Access-Control-Expose-Headers") or ""), "X-Request-ID is exposed")
    check(answer.header("Access-Control-Allow-Methods") is None, "preflight headers only on preflights")
    answer = call("OPTIONS", "/api/cart/addtocart")
    check(answer.status == 405, "a plain OPTIONS (no preflight) reaches the service (its 405)", f"{answer.status}")
    passed("CORS preflights answered at the gateway; allowed origin and exposed headers on answers")

    # Balancing: each answer names its replica, both replicas answer, and each logged the request ids it answered.
    answered = {}
    for n in range(16):
        request_id = f"gateway-balance-{uuid.uuid4().hex}"
        answer = call("GET", f"/api/product/get/{product_id}", headers={"X-Request-ID": request_id})
        check(answer.status == 200 and answer.header("X-Request-ID") == request_id,
              "the client's X-Request-ID comes back", f"{answer.status} {answer.header('X-Request-ID')}")
        answered.setdefault(answer.header("X-Instance-ID"), []).append(request_id)
    check(set(answered) == {"product-1", "product-2"}, "both product replicas answered",
          str({k: len(v) for k, v in answered.items()}))
    for instance, request_ids in answered.items():
        component = "product" if instance == "product-1" else "product-2"
        logged = {l.get("request.id") for l in log_lines(component) if l.get("instance.id") == instance}
        check(set(request_ids) <= logged, f"{instance} logged, under its id, every request it answered",
              f"missing {sorted(set(request_ids) - logged)[:3]}")
    passed("requests balanced over product-1 and product-2 (" +
           ", ".join(f"{k}: {len(v)}" for k, v in sorted(answered.items())) + "), each found in its replica's log")

    # 429 per client address: a burst from 127.0.0.2 is limited, with Retry-After; 127.0.0.3 is not.
    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(lambda _: call("GET", "/api/product/get", source="127.0.0.2"), range(400)))
    limited = [a for a in answers if a.status == 429]
    check(limited, "a burst of 400 requests from one address gets 429s",
          str(sorted({a.status for a in answers})))
    check(all(a.header("Retry-After") == "1" and a.json()["error"]["code"] == "rate_limited" for a in limited),
          "every 429 has Retry-After: 1 and the rate_limited code")
    check(all(a.status in (200, 429) for a in answers), "the burst's other answers are 200",
          str(sorted({a.status for a in answers})))
    answer = call("GET", "/api/product/get", source="127.0.0.3")
    check(answer.status == 200, "another address is not limited meanwhile", f"{answer.status}")
    time.sleep(2.5)
    answer = call("GET", "/api/product/get", source="127.0.0.2")
    check(answer.status == 200, "the limited address is served again after Retry-After", f"{answer.status}")
    passed(f"rate limit per address: {len(limited)} of 400 burst requests got 429 with Retry-After; "
           "another address was served")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"[test-gateway] every check passed in {time.monotonic() - started:.1f}s", file=sys.stderr)

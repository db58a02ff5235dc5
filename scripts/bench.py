"""The benchmark behind scripts/bench (run it through that script, which sets the environment up).

One fixed, seeded scenario against a started stack, then one table:

  seed      N products (large stock) as the admin; M customers, each registered, with a 2-line cart (logged in
            again just before their order phase, outside its measurement)
  idle      every process's CPU over --idle-seconds while nothing is asked of the stack
  ceiling   wrk on a bare Hummingbird route (bench-ceiling) at the catalog read's concurrency
  catalog   wrk on `GET /get/{id}` (random seeded ids) at --connections for --seconds
  rate      --rate-orders orders at --rate orders/s (open loop: a late answer does not delay the next order)
  closed    --closed-orders orders at --concurrency (closed loop: each worker orders again when answered)

For each phase, each process's CPU (utime + stime from /proc/PID/stat, all threads) over the phase, divided by the
requests or orders of the phase. An order phase ends when every order of it is final (confirmed or failed) in the
order service's store, so its CPU includes the events and consumers that confirm it. `POST /order` latency is
measured here; order -> confirmed is from the POST's start to the confirmation time that the order service records
(`updatedAt` of the stored order, same clock: same machine), read from the store after the phase.
"""

import argparse
import http.client
import json
import os
import queue
import random
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid

import pymongo

SERVICES = ["user", "product", "inventory", "cart", "order", "payment", "notification"]
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------------------------------------------------
# HTTP: one keep-alive connection per thread and host
# ---------------------------------------------------------------------------------------------------------------

_local = threading.local()


def request(method, url, body=None, token=None, headers=None, timeout=30):
    """Sends one request; returns (status, parsed JSON or None). Raises OSError on a transport failure."""
    parts = urllib.parse.urlsplit(url)
    key = (parts.hostname, parts.port)
    pool = getattr(_local, "connections", None)
    if pool is None:
        pool = _local.connections = {}
    all_headers = {"Accept": "application/json"}
    if token:
        all_headers["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    all_headers.update(headers or {})
    path = parts.path + ("?" + parts.query if parts.query else "")
    for attempt in (1, 2):
        conn = pool.get(key)
        if conn is None:
            conn = pool[key] = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        try:
            conn.request(method, path, body=data, headers=all_headers)
            response = conn.getresponse()
            payload = response.read()
        except (OSError, http.client.HTTPException):
            conn.close()
            del pool[key]
            if attempt == 2:
                raise
            continue  # a kept-alive connection the server closed: once more on a new one
        try:
            parsed = json.loads(payload) if payload else None
        except ValueError:
            parsed = None
        return response.status, parsed
    raise AssertionError("unreachable")


def expect(wanted, status, body, what):
    if status != wanted:
        raise SystemExit(f"bench: {what}: HTTP {status} (wanted {wanted}): {json.dumps(body)[:300]}")
    return body


# ---------------------------------------------------------------------------------------------------------------
# Processes: CPU, memory and threads from /proc
# ---------------------------------------------------------------------------------------------------------------


def find_processes(stack_dir):
    """{name: pid} of the processes scripts/stack started (services, store, broker), from its pid files."""
    found = {}
    pid_dir = os.path.join(stack_dir, "pids")
    if not os.path.isdir(pid_dir):
        return found
    for entry in sorted(os.listdir(pid_dir)):
        if not entry.endswith(".pid"):
            continue
        try:
            with open(os.path.join(pid_dir, entry)) as handle:
                pid = int(handle.readline().strip())
            os.kill(pid, 0)
        except (OSError, ValueError):
            continue
        found[entry[: -len(".pid")]] = pid
    return found


def cpu_ms(pid):
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000.0 / CLOCK_TICKS


def status_of(pid):
    values = {}
    with open(f"/proc/{pid}/status") as handle:
        for line in handle:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM", "Threads"):
                values[name] = int(value.split()[0])
    return {"rss_mb": values["VmRSS"] / 1024, "peak_rss_mb": values["VmHWM"] / 1024, "threads": values["Threads"]}


class Processes:
    """Samples the stack's processes: CPU per phase, and the highest thread count seen."""

    def __init__(self, pids):
        self.pids = pids
        self.max_threads = {name: 0 for name in pids}

    def cpu(self):
        self.sample_threads()
        return {name: cpu_ms(pid) for name, pid in self.pids.items()}

    def sample_threads(self):
        for name, pid in self.pids.items():
            self.max_threads[name] = max(self.max_threads[name], status_of(pid)["threads"])

    def delta(self, before):
        after = self.cpu()
        return {name: after[name] - before[name] for name in self.pids}


def services_total(per_process):
    return sum(value for name, value in per_process.items() if service_of(name))


def service_of(process_name):
    """The service a process belongs to (`order`, `order-2` -> `order`), or None for the store and the broker."""
    base = re.sub(r"-\d+$", "", process_name)
    return base if base in SERVICES else None


# ---------------------------------------------------------------------------------------------------------------
# The scenario
# ---------------------------------------------------------------------------------------------------------------


class Stack:
    def __init__(self, env):
        self.url = {}
        for name in SERVICES:
            port = env.get(f"{name.upper()}_PORT")
            default = {"user": 8080, "product": 4000, "inventory": 6000, "cart": 9000, "order": 7000,
                       "payment": 3000, "notification": 2000}[name]
            self.url[name] = env.get(f"{name.upper()}_URL") or f"http://127.0.0.1:{port or default}"
        self.admin_email = env.get("ADMIN_EMAIL", "admin@storefront.local")
        self.admin_password = env.get("ADMIN_PASSWORD", "")
        self.mongo_uri = env.get("MONGO_URI", "mongodb://127.0.0.1:27017")

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        for name in SERVICES:
            while True:
                try:
                    status, _ = request("GET", self.url[name] + "/ready", timeout=5)
                    if status == 200:
                        break
                except OSError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit(f"bench: {name} ({self.url[name]}) is not ready: start the stack first")
                time.sleep(0.5)


def seed(stack, products, customers, run, workers=8):
    """Creates the catalog and the customers; returns (product ids, [(user id, token)])."""
    status, body = request("POST", stack.url["user"] + "/login",
                           {"email": stack.admin_email, "password": stack.admin_password})
    admin = expect(200, status, body, "admin login (ADMIN_EMAIL / ADMIN_PASSWORD)")["token"]
    product_ids = []
    for index in range(products):
        status, body = request("POST", stack.url["product"] + "/create", {
            "name": f"Bench product {index} ({run})", "description": "Created by scripts/bench",
            "category": "bench", "price": 5 + index % 20, "inventory": 1_000_000}, token=admin)
        product_ids.append(expect(201, status, body, "create a product")["_id"])

    rng = random.Random(run)
    plans = [(index, rng.sample(product_ids, 2)) for index in range(customers)]
    results = queue.Queue()

    def make_customer(index, lines):
        email = f"bench-{run}-{index}@example.com"
        password = f"bench-password-{run}"
        status, body = request("POST", stack.url["user"] + "/register",
                               {"name": f"Bench customer {index}", "email": email, "password": password})
        user_id = expect(201, status, body, "register a customer")["_id"]
        status, body = request("POST", stack.url["user"] + "/login", {"email": email, "password": password})
        token = expect(200, status, body, "customer login")["token"]
        for product_id in lines:
            status, body = request("POST", stack.url["cart"] + "/addtocart",
                                   {"userId": user_id, "productId": product_id, "quantity": 1}, token=token)
            expect(200, status, body, "add to cart")
        results.put((index, user_id, email, password))

    run_all(make_customer, plans, workers)
    made = sorted(results.queue)
    return product_ids, [(user_id, email, password) for _, user_id, email, password in made]


def log_in(stack, customers, workers=8):
    """[(user id, token)] for the customers, with tokens made now: a slow seed outlives the first ones' tokens."""
    tokens = {}

    def one(user_id, email, password):
        status, body = request("POST", stack.url["user"] + "/login", {"email": email, "password": password})
        tokens[user_id] = expect(200, status, body, "customer login")["token"]

    run_all(one, customers, workers)
    return [(user_id, tokens[user_id]) for user_id, _, _ in customers]


def run_all(function, argument_lists, workers):
    """Calls function(*arguments) for each, on `workers` threads; re-raises the first failure."""
    tasks = queue.Queue()
    for arguments in argument_lists:
        tasks.put(arguments)
    failures = []

    def worker():
        while not failures:
            try:
                arguments = tasks.get_nowait()
            except queue.Empty:
                return
            try:
                function(*arguments)
            except BaseException as error:  # noqa: BLE001 - reported below
                failures.append(error)

    threads = [threading.Thread(target=worker) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]


def wrk(url, product_ids, connections, seconds):
    """Runs wrk against `url` + /get/<random id>; returns requests, throughput, latency and errors."""
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    with script:
        script.write("local ids = {" + ",".join(json.dumps(i) for i in product_ids) + "}\n")
        script.write("request = function() return wrk.format('GET', '/get/' .. ids[math.random(#ids)]) end\n")
    try:
        output = subprocess.run(
            ["wrk", "-t", "2", "-c", str(connections), "-d", f"{seconds}s", "--latency", "-s", script.name, url],
            check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(script.name)
    total = int(re.search(r"(\d+) requests in", output).group(1))
    errors = {}
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non_2xx:
        errors["non-2xx"] = int(non_2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sockets:
        for kind, count in zip(("connect", "read", "write", "timeout"), sockets.groups()):
            if int(count):
                errors[f"socket {kind}"] = int(count)

    def latency(label):
        match = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if not match:
            return None
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    return {"requests": total, "throughput": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
            "p50_ms": latency("50"), "p99_ms": latency("99"), "errors": errors}


def percentiles(values):
    if not values:
        return {"p50": None, "p95": None, "p99": None}
    ordered = sorted(values)

    def at(fraction):
        return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99)}


class OrderPhase:
    """Places one order per customer (open loop at a rate, or closed loop at a concurrency) and collects results."""

    def __init__(self, stack, customers, run):
        self.stack = stack
        self.customers = customers
        self.run = run
        self.lock = threading.Lock()
        self.posted = {}  # order id -> POST start (ms since the epoch)
        self.post_ms = []
        self.errors = {}

    def place(self, user_id, token):
        started_ms = time.time() * 1000
        started = time.monotonic()
        try:
            status, body = request(
                "POST", self.stack.url["order"] + "/order",
                {"userId": user_id, "address": "1 Bench Street", "paymentInfo": "card"}, token=token,
                headers={"Idempotency-Key": f"bench-{self.run}-{uuid.uuid4()}"})
        except OSError as error:
            self.error(f"transport: {type(error).__name__}")
            return
        elapsed_ms = (time.monotonic() - started) * 1000
        if status != 201 or not body or "_id" not in body:
            code = ((body or {}).get("error") or {}).get("code") if isinstance(body, dict) else None
            self.error(f"HTTP {status}" + (f" {code}" if code else ""))
            return
        with self.lock:
            self.post_ms.append(elapsed_ms)
            self.posted[body["_id"]] = started_ms

    def error(self, kind):
        with self.lock:
            self.errors[kind] = self.errors.get(kind, 0) + 1

    def at_rate(self, rate, workers=64):
        """Open loop: order i starts at i / rate seconds, whatever the answers before it."""
        start = time.monotonic()

        def scheduled(index, customer):
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            self.place(*customer)

        run_all(scheduled, list(enumerate(self.customers)), workers)

    def at_concurrency(self, concurrency):
        run_all(self.place, self.customers, concurrency)

    def wait_final(self, orders, timeout):
        """Waits until every posted order is final in the store; returns {status: count} and the confirm latencies."""
        ids = list(self.posted)
        deadline = time.monotonic() + timeout
        from bson import ObjectId
        object_ids = [ObjectId(i) for i in ids]
        while True:
            # Counted here, not with count_documents: the dev store's count ignores part of such a filter.
            pending = sum(1 for _ in orders.find({"_id": {"$in": object_ids}, "status": "pending"}, {"_id": 1}))
            if pending == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        states, confirm_ms = {}, []
        for document in orders.find({"_id": {"$in": object_ids}}, {"status": 1, "updatedAt": 1}):
            states[document["status"]] = states.get(document["status"], 0) + 1
            if document["status"] == "confirmed":
                confirm_ms.append(document["updatedAt"] - self.posted[str(document["_id"])])
        return states, confirm_ms


# ---------------------------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------------------------


def fmt(value, digits=1):
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def print_table(result):
    print(f"\nStorefront benchmark ({result['build']} build, {result['cores']} cores, run {result['run']})")
    print(f"seed: {result['seed']['products']} products, {result['seed']['customers']} customers, "
          f"{result['seed']['seconds']:.0f} s")

    ceiling = result["ceiling"]
    print("\n== Catalog read: GET /get/{id}, "
          f"{result['catalog']['connections']} connections, {result['catalog']['seconds']} s (wrk)")
    print(f"{'':34} {'req/s':>10} {'of ceiling':>10} {'p50 ms':>8} {'p99 ms':>8} {'CPU ms/req':>11}  errors")
    for label, row in (("bare Hummingbird route (ceiling)", ceiling), ("product service", result["catalog"])):
        share = row["throughput"] / ceiling["throughput"] if ceiling["throughput"] else None
        print(f"{label:34} {fmt(row['throughput'], 0):>10} {fmt(share * 100 if share else None, 0) + '%':>10} "
              f"{fmt(row['p50_ms'], 2):>8} {fmt(row['p99_ms'], 2):>8} "
              f"{fmt(row['cpu_ms_per_request'], 3):>11}  {row['errors'] or 'none'}")

    for key, title in (("rate", "Orders at a fixed rate"), ("closed", "Orders at a fixed concurrency")):
        phase = result[key]
        print(f"\n== {title}: {phase['orders']} orders, "
              + (f"{phase['rate']}/s" if key == "rate" else f"concurrency {phase['concurrency']}")
              + f" -> {fmt(phase['throughput'], 1)} orders/s")
        post, confirm = phase["post_ms"], phase["confirm_ms"]
        print(f"POST /order      p50 {fmt(post['p50'], 0)} ms   p95 {fmt(post['p95'], 0)} ms   "
              f"p99 {fmt(post['p99'], 0)} ms")
        print(f"order->confirmed p50 {fmt(confirm['p50'], 0)} ms   p95 {fmt(confirm['p95'], 0)} ms   "
              f"p99 {fmt(confirm['p99'], 0)} ms   (POST start to the order's recorded updatedAt)")
        print(f"final states {phase['states']}   errors {phase['errors'] or 'none'}   "
              f"service CPU per order {fmt(phase['cpu_ms_per_order'], 2)} ms")

    print("\n== Processes")
    print(f"{'process':14} {'idle ms/s':>9} {'GET ms/req':>10} {'rate ms/order':>13} {'closed ms/order':>15} "
          f"{'RSS MB':>7} {'peak MB':>8} {'threads':>8}")
    for name, row in result["processes"].items():
        print(f"{name:14} {fmt(row['idle_cpu_ms_per_s'], 2):>9} {fmt(row['catalog_cpu_ms_per_request'], 3):>10} "
              f"{fmt(row['rate_cpu_ms_per_order'], 2):>13} {fmt(row['closed_cpu_ms_per_order'], 2):>15} "
              f"{fmt(row['rss_mb'], 1):>7} {fmt(row['peak_rss_mb'], 1):>8} {row['max_threads']:>8}")
    totals = result["services_total"]
    print(f"{'7 services':14} {fmt(totals['idle_cpu_ms_per_s'], 2):>9} "
          f"{fmt(totals['catalog_cpu_ms_per_request'], 3):>10} {fmt(totals['rate_cpu_ms_per_order'], 2):>13} "
          f"{fmt(totals['closed_cpu_ms_per_order'], 2):>15} {fmt(totals['rss_mb'], 1):>7} "
          f"{fmt(totals['peak_rss_mb'], 1):>8} {totals['max_threads']:>8}")


# ---------------------------------------------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=15, help="duration of each wrk run (default 15)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--rate", type=float, default=20, help="orders per second of the rate phase (default 20)")
    parser.add_argument("--rate-orders", type=int, default=200, help="orders of the rate phase (default 200)")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrency of the closed phase (default 8)")
    parser.add_argument("--closed-orders", type=int, default=100, help="orders of the closed phase (default 100)")
    parser.add_argument("--idle-seconds", type=int, default=10, help="idle measurement (default 10)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON instead of the table")
    args = parser.parse_args()

    env = os.environ
    stack = Stack(env)
    stack.wait_ready()
    pids = find_processes(env["BENCH_STACK_DIR"])
    missing = [name for name in SERVICES if not any(service_of(p) == name for p in pids)]
    if missing:
        print(f"bench: no running process found for {', '.join(missing)} in {env['BENCH_STACK_DIR']}/pids: "
              "their CPU, memory and threads are not measured", file=sys.stderr)
    procs = Processes(pids)
    run = f"{time.strftime('%H%M%S')}-{random.randrange(10_000)}"
    log = (lambda *a: print(*a, file=sys.stderr, flush=True))

    log(f"bench: seeding {args.products} products and {args.rate_orders + args.closed_orders} customers")
    started = time.monotonic()
    product_ids, customers = seed(stack, args.products, args.rate_orders + args.closed_orders, run)
    seed_seconds = time.monotonic() - started

    log(f"bench: idle for {args.idle_seconds} s")
    time.sleep(3)  # let the seeding's events settle
    before = procs.cpu()
    time.sleep(args.idle_seconds)
    idle = {name: value / args.idle_seconds for name, value in procs.delta(before).items()}

    log("bench: the ceiling (bench-ceiling)")
    ceiling_port = int(env["BENCH_CEILING_PORT"])
    ceiling_process = subprocess.Popen([env["BENCH_CEILING"], str(ceiling_port)], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                request("GET", f"http://127.0.0.1:{ceiling_port}/get/x", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or ceiling_process.poll() is not None:
                    raise SystemExit("bench: bench-ceiling did not start")
                time.sleep(0.2)
        ceiling_cpu = cpu_ms(ceiling_process.pid)
        ceiling = wrk(f"http://127.0.0.1:{ceiling_port}", product_ids, args.connections, args.seconds)
        ceiling["cpu_ms_per_request"] = (cpu_ms(ceiling_process.pid) - ceiling_cpu) / max(ceiling["requests"], 1)
    finally:
        ceiling_process.terminate()
        ceiling_process.wait()

    log(f"bench: GET /get/{{id}} for {args.seconds} s at {args.connections} connections")
    before = procs.cpu()
    catalog = wrk(stack.url["product"], product_ids, args.connections, args.seconds)
    catalog_cpu = procs.delta(before)
    catalog.update(connections=args.connections, seconds=args.seconds,
                   cpu_ms_per_request=services_total(catalog_cpu) / max(catalog["requests"], 1))

    orders = pymongo.MongoClient(stack.mongo_uri)["OrderService"]["orders"]
    phases = {}
    for key, chosen in (("rate", customers[: args.rate_orders]), ("closed", customers[args.rate_orders:])):
        log(f"bench: logging {len(chosen)} customers in")
        phase = OrderPhase(stack, log_in(stack, chosen), run)
        # Logged when the orders start (the log-in before is bcrypt work, not part of the phase).
        log(f"bench: {len(chosen)} orders " + (f"at {args.rate}/s" if key == "rate"
                                               else f"at concurrency {args.concurrency}"))
        before = procs.cpu()
        started = time.monotonic()
        if key == "rate":
            phase.at_rate(args.rate)
        else:
            phase.at_concurrency(args.concurrency)
        placed_seconds = time.monotonic() - started
        states, confirm_ms = phase.wait_final(orders, timeout=120)
        cpu = procs.delta(before)
        placed = len(phase.posted)
        phases[key] = {
            "orders": len(chosen), "placed": placed, "rate": args.rate, "concurrency": args.concurrency,
            "throughput": placed / placed_seconds if placed_seconds else None,
            "post_ms": percentiles(phase.post_ms), "confirm_ms": percentiles(confirm_ms),
            "confirm_source": "order updatedAt in the store", "states": states, "errors": phase.errors,
            "cpu_ms_per_order": services_total(cpu) / max(placed, 1),
            "cpu_by_process": cpu,
        }

    processes = {}
    for name, pid in pids.items():
        memory = status_of(pid)
        processes[name] = {
            "idle_cpu_ms_per_s": idle[name],
            "catalog_cpu_ms_per_request": catalog_cpu[name] / max(catalog["requests"], 1),
            "rate_cpu_ms_per_order": phases["rate"]["cpu_by_process"][name] / max(phases["rate"]["placed"], 1),
            "closed_cpu_ms_per_order":
                phases["closed"]["cpu_by_process"][name] / max(phases["closed"]["placed"], 1),
            "rss_mb": memory["rss_mb"], "peak_rss_mb": memory["peak_rss_mb"],
            "max_threads": max(procs.max_threads[name], memory["threads"]),
        }
    service_rows = [row for name, row in processes.items() if service_of(name)]
    totals = {key: sum(row[key] for row in service_rows) for key in (
        "idle_cpu_ms_per_s", "catalog_cpu_ms_per_request", "rate_cpu_ms_per_order", "closed_cpu_ms_per_order",
        "rss_mb", "peak_rss_mb", "max_threads")}

    result = {
        "run": run, "build": env.get("BENCH_BUILD", "?"), "cores": os.cpu_count(),
        "seed": {"products": len(product_ids), "customers": len(customers), "seconds": seed_seconds},
        "ceiling": ceiling, "catalog": catalog, "rate": phases["rate"], "closed": phases["closed"],
        "processes": processes, "services_total": totals,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()

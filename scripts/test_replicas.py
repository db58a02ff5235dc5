"""The two-replica fault test (scripts/test-replicas): run against a stack with two replicas of every service.

Customers fill carts and place orders through the gateway while one instance of each service in turn is SIGKILLed
and started again. Once everything has settled, it checks in the stores and on the topics that nothing was applied
twice and nothing was lost:
  - stock: nothing oversold; per product, available + reserved + sold = the stock received, sold = the units of
    confirmed orders, nothing left reserved;
  - orders: every order final, no placement left; one distinct event per order and event type on order-events;
  - payments: one successful charge per confirmed order, none for the others; one distinct success event per order;
  - carts: per customer and product, the units added = the units in the cart + the units of confirmed orders (each
    order-confirmed / order-failed applied once), no checkout left;
  - notifications: one per customer for user-created, one per payment outcome, each delivered (written out by the
    log sender) exactly once across both notification replicas;
  - consumer groups: after an instance of a consuming service is killed, the survivor handles events of a partition
    the killed one handled before; after the restart, the restarted one handles events again.
Prints what it does and a summary; exits 1 when a check fails.
"""

import collections
import datetime
import http.client
import json
import os
import pathlib
import random
import signal
import subprocess
import sys
import threading
import time
import uuid

import bson
import pymongo

ROOT = pathlib.Path(__file__).resolve().parent.parent
STACK_DIR = pathlib.Path(os.environ["STACK_DIR"])
GATEWAY_PORT = int(os.environ.get("STACK_GATEWAY_PORT", "8000"))
MONGO_URI = os.environ["STACK_MONGO_URI"]
ADMIN_TOOL = os.environ["STOREFRONT_ADMIN"]
SESSION_TIMEOUT = int(os.environ["KAFKA_SESSION_TIMEOUT_MS"]) / 1000
ADMIN_EMAIL = os.environ["ADMIN_EMAIL"]
ADMIN_PASSWORD = os.environ["ADMIN_PASSWORD"]

CUSTOMERS = 4
# One scarce product and two that never run out (so that payments and their events keep flowing through every kill).
# The customers order the plentiful ones, again and again; racers, two at a time, each order 2 of the scarce one once
# while an instance of inventory, order or payment is being killed: 12 wanted, 6 there.
STOCKS = [6, 100000, 100000]
RACES = {"inventory-2", "order-2", "payment"}
RACERS_PER_RACE = 2
# Each service in turn, alternating which replica dies (instance 1 is the component NAME, instance 2 NAME-2).
VICTIMS = ["user-2", "product", "inventory-2", "cart", "order-2", "payment", "notification-2"]
# The topic a consuming service's logged handler lines show, for the rebalance check.
CONSUMED_TOPIC = {"inventory": "payment-events", "cart": "order-events", "order": "payment-events",
                  "notification": "payment-events"}
FINAL_ORDER_STATUSES = {"confirmed", "failed", "cancelled", "refunded", "shipped", "delivered"}
CONFIRMED_STATUSES = {"confirmed", "shipped", "delivered"}
SETTLE_TIMEOUT = 90


def log(message):
    print(f"[test-replicas] {message}", file=sys.stderr, flush=True)


FAILURES = []


def check(condition, what, detail=""):
    if condition:
        log(f"ok: {what}")
    else:
        FAILURES.append(what)
        log(f"FAILED: {what}{': ' + str(detail)[:2000] if detail else ''}")


def call(method, path, body=None, token=None, headers=None):
    """One request through the gateway: (status, JSON body or None). Status 0: no answer (connection failed)."""
    connection = http.client.HTTPConnection("127.0.0.1", GATEWAY_PORT, timeout=30)
    all_headers = dict(headers or {})
    if token:
        all_headers["Authorization"] = f"Bearer {token}"
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        all_headers["Content-Type"] = "application/json"
    try:
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        raw = response.read()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = None
        return response.status, parsed
    except (OSError, http.client.HTTPException):
        return 0, None
    finally:
        connection.close()


def call_until(method, path, body=None, token=None, headers=None, ok=(200, 201), deadline=60):
    """Repeats a request that is safe to repeat until it answers one of `ok` (or a 4xx it cannot get past)."""
    end = time.monotonic() + deadline
    while True:
        status, answer = call(method, path, body, token, headers)
        if status in ok or (400 <= status < 500 and status not in (409, 429)) or time.monotonic() > end:
            return status, answer
        time.sleep(0.5)


# ---- setup ------------------------------------------------------------------------------------------------------------

def login(email, password):
    status, answer = call_until("POST", "/api/user/login", {"email": email, "password": password})
    if status != 200:
        sys.exit(f"login of {email} failed: {status} {answer}")
    return answer.get("token") or answer.get("Token")


def setup():
    admin = login(ADMIN_EMAIL, ADMIN_PASSWORD)
    products = []
    for n, stock in enumerate(STOCKS):
        status, answer = call_until("POST", "/api/product/create", {
            "name": f"replica-test-{n}-{uuid.uuid4().hex[:6]}", "category": "replicas", "price": 2.5 + n,
            "inventory": stock}, admin)
        if status != 201:
            sys.exit(f"creating a product failed: {status} {answer}")
        products.append(answer["_id"])
    customers = [Customer(n, *register(n), products[1:]) for n in range(CUSTOMERS)]
    racers = [Customer(CUSTOMERS + n, *register(CUSTOMERS + n), products[:1], once=True)
              for n in range(len(RACES) * RACERS_PER_RACE)]
    return products, customers, racers


def register(number):
    """A new customer: (user id, token)."""
    email = f"replicas-{uuid.uuid4().hex[:10]}@storefront.test"
    password = f"pw-{uuid.uuid4().hex}"
    status, answer = call_until("POST", "/api/user/register",
                                {"name": f"Replica Customer {number}", "email": email, "password": password})
    if status != 201:
        sys.exit(f"registering a customer failed: {status} {answer}")
    token = login(email, password)
    status, me = call_until("GET", "/api/user/me", token=token)
    return me["_id"], token


# ---- load -------------------------------------------------------------------------------------------------------------

class Customer(threading.Thread):
    """Adds a line of one of `products` to the cart and places an order, again and again until told to stop; `once`:
    2 units, one order."""

    def __init__(self, number, user_id, token, products, once=False):
        super().__init__(daemon=True)
        self.number = number
        self.user_id = user_id
        self.token = token
        self.products = products
        self.once = once
        self.stop = threading.Event()
        self.added = collections.Counter()  # units the cart service certainly added, by product
        self.uncertain = collections.Counter()  # units of adds whose answer was lost (applied or not)
        self.orders = []  # ids of the orders placed (201)
        self.answers = collections.Counter()  # POST /order outcomes

    def run(self):
        rng = random.Random(self.number)
        attempt = 0
        while not self.stop.is_set():
            attempt += 1
            product = rng.choice(self.products)
            quantity = 2 if self.once else rng.choice([1, 2])
            status, _ = call("POST", "/api/cart/addtocart",
                             {"userId": self.user_id, "productId": product, "quantity": quantity}, self.token)
            if status == 200:
                self.added[product] += quantity
            elif status == 0 or status >= 500:
                self.uncertain[product] += quantity  # the replica may have died after applying it
            method = "card_declined" if attempt % 4 == 0 else "visa"
            self.place({"userId": self.user_id, "address": f"{self.number} Replica Road", "paymentInfo": method})
            if self.once:
                return
            time.sleep(0.3)

    def place(self, body):
        """POST /order with one Idempotency-Key, repeated until the order service gives its final answer."""
        key = f"replicas-{uuid.uuid4().hex}"
        end = time.monotonic() + 60
        while time.monotonic() < end:
            status, answer = call("POST", "/api/order/order", body, self.token, {"Idempotency-Key": key})
            code = (answer or {}).get("error", {}).get("code") if isinstance(answer, dict) else None
            if status == 201:
                self.orders.append(answer["_id"])
                self.answers["201"] += 1
                return
            if status == 0 or status >= 500 or status == 429 or code in (
                    "idempotency_key_in_progress", "checkout_in_progress"):
                time.sleep(0.5)  # a replica died under it, or the placement is still running: ask again
                continue
            self.answers[f"{status} {code}"] += 1
            return
        self.answers["gave up"] += 1


# ---- faults -----------------------------------------------------------------------------------------------------------

def pid_of(component):
    return int((STACK_DIR / "pids" / f"{component}.pid").read_text().split()[0])


def restart_missing():
    """scripts/stack up --no-build: starts what is not running (the killed instance) and waits for its /ready."""
    result = subprocess.run(["bash", str(ROOT / "scripts" / "stack"), "up", "--no-build"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        sys.exit(f"scripts/stack up failed:\n{result.stderr[-3000:]}")


def kill_each_in_turn(racers):
    """SIGKILLs one instance of each service, waits (past the session timeout for consumers), starts it again; starts
    racers for the scarce product at the kills in RACES. Returns, per victim, when it was killed and when its
    replacement was ready (epoch seconds)."""
    windows = {}
    waiting = list(racers)
    for victim in VICTIMS:
        service = victim.split("-")[0]
        pid = pid_of(victim)
        killed = time.time()
        os.kill(pid, signal.SIGKILL)
        if victim in RACES:
            for _ in range(RACERS_PER_RACE):
                waiting.pop().start()
        # A consumer's partitions move once the group's session timeout has passed without its heartbeat; leave the
        # survivor a few seconds with them before the killed one comes back.
        down = SESSION_TIMEOUT + 5 if service in CONSUMED_TOPIC else 3
        log(f"killed {victim} (pid {pid}); starting it again in {down:.0f}s")
        time.sleep(down)
        restart_missing()
        ready = time.time()
        log(f"{victim} is back (pid {pid_of(victim)}, {ready - killed:.1f}s after the kill)")
        windows[victim] = (killed, ready)
        time.sleep(SESSION_TIMEOUT / 2 + 3 if service in CONSUMED_TOPIC else 1)
    return windows


# ---- settling and reading -------------------------------------------------------------------------------------------

def unsettled(client, customers):
    """What still moves: pending orders, placements, held reservations, open checkouts, unsent notifications, outbox
    records. Empty when everything has settled."""
    user_ids = [c.user_id for c in customers]
    order_ids = [pymongo_id(o) for c in customers for o in c.orders]
    waiting = {
        # Counted from a find: the dev store's count_documents ignores an $in on _id (dev-store gap 18).
        "pending orders": len(list(client.OrderService.orders.find(
            {"_id": {"$in": order_ids}, "status": {"$nin": sorted(FINAL_ORDER_STATUSES)}}, {"_id": 1}))),
        "placements": client.OrderService.placements.count_documents({}),
        "unsettled reservations": client.InventoryService.reservations.count_documents(
            {"stock": {"$nin": ["sold", "released"]}}),
        "open checkouts": sum(len((cart or {}).get("checkouts") or {}) for cart in
                              client.CartService.carts.find({"_id": {"$in": user_ids}})),
        "undelivered notifications": client.NotificationService.notifications.count_documents(
            {"userId": {"$in": user_ids}, "status": {"$in": ["PENDING", "SENDING", "FAILED"]}}),
        "outbox records": sum(client[db].outbox.count_documents({}) for db in
                              ("UserService", "PaymentService", "OrderService", "InventoryService")),
    }
    return {k: v for k, v in waiting.items() if v}


def pymongo_id(hex_id):
    return bson.ObjectId(hex_id)


def settle(client, customers):
    end = time.monotonic() + SETTLE_TIMEOUT
    left = unsettled(client, customers)
    while left and time.monotonic() < end:
        time.sleep(1)
        left = unsettled(client, customers)
    # The consumers' last effects (cart lines, notifications) follow the final states by a moment.
    time.sleep(3)
    return unsettled(client, customers)


def events(topic):
    """Every event on `topic` (storefront-admin events --json), one dict each."""
    result = subprocess.run([ADMIN_TOOL, "events", topic, "--json"], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        sys.exit(f"storefront-admin events {topic} failed: {result.stderr[-2000:]}")
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def handled_lines(component, topic):
    """(time, partition) of every line the component logged while handling an event of `topic`."""
    found = []
    path = STACK_DIR / "logs" / f"{component}.log"
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith("{") or f'"kafka.topic":"{topic}"' not in line:
            continue
        try:
            record = json.loads(line)
            at = datetime.datetime.fromisoformat(record["ts"].replace("Z", "+00:00")).timestamp()
            found.append((at, int(record["kafka.offset"].split("/")[0])))
        except (ValueError, KeyError):
            continue
    return found


# ---- checks -----------------------------------------------------------------------------------------------------------

def check_everything(client, customers, products, windows):
    orders = {str(o["_id"]): o for o in client.OrderService.orders.find(
        {"_id": {"$in": [pymongo_id(o) for c in customers for o in c.orders]}})}
    placed = [o for c in customers for o in c.orders]
    check(len(orders) == len(placed), f"every order answered 201 is stored ({len(placed)})",
          f"{len(placed) - len(orders)} missing")
    statuses = collections.Counter(o["status"] for o in orders.values())
    log(f"orders by status: {dict(statuses)}")
    check(all(o["status"] in FINAL_ORDER_STATUSES for o in orders.values()), "every order is final", dict(statuses))
    check(client.OrderService.placements.count_documents({}) == 0, "no placement is left half-done")
    confirmed = [o for o in orders.values() if o["status"] in CONFIRMED_STATUSES]

    # Stock.
    sold_by_orders = collections.Counter()
    for order in confirmed:
        for line in order["products"]:
            sold_by_orders[line["productId"]] += line["quantity"]
    for product, stock in zip(products, STOCKS):
        record = client.InventoryService.inventory.find_one({"productId": product})
        figures = {k: record[k] for k in ("inventory", "reserved", "sold", "received")}
        check(record["inventory"] >= 0 and record["sold"] <= stock and
              record["inventory"] + record["reserved"] + record["sold"] == record["received"] == stock,
              f"product {product}: not oversold, every unit accounted for", figures)
        check(record["sold"] == sold_by_orders[product] and record["reserved"] == 0,
              f"product {product}: sold = the units of its confirmed orders ({sold_by_orders[product]}), "
              "none left reserved", figures)

    # Payments: one successful charge per confirmed order, none for the others.
    successes = collections.Counter(p["orderId"] for p in client.PaymentService.payments.find({"status": "success"}))
    wrong = {oid: successes[oid] for oid, o in orders.items()
             if successes[oid] != (1 if o["status"] in CONFIRMED_STATUSES else 0)}
    check(not wrong, f"one successful charge per confirmed order ({len(confirmed)}), none for the others", wrong)

    # Events: one distinct event per order and type (a second one would be a second transition or charge).
    order_events = collections.defaultdict(set)
    for event in events("order-events"):
        payload = event.get("payload") or {}
        order_events[(payload.get("orderId"), event.get("eventType"))].add(payload.get("eventId"))
    doubled = {k: len(v) for k, v in order_events.items() if k[0] in orders and len(v) > 1}
    check(not doubled, "order-events: one distinct event per order and type", doubled)
    payment_events = collections.defaultdict(set)
    for event in events("payment-events"):
        payload = event.get("payload") or {}
        if payload.get("orderId") in orders:
            payment_events[(payload["orderId"], payload.get("status"))].add(payload.get("eventId"))
    doubled = {k: len(v) for k, v in payment_events.items() if k[1] == "success" and len(v) > 1}
    check(not doubled, "payment-events: one distinct success event per order", doubled)

    # Carts: the units each customer added are in the cart or in a confirmed order, once.
    for customer in customers:
        cart = client.CartService.carts.find_one({"_id": customer.user_id}) or {}
        check(not cart.get("checkouts"), f"customer {customer.number}: no checkout left open")
        mismatched = {}
        for product in products:
            in_cart = ((cart.get("items") or {}).get(product) or {}).get("quantity", 0)
            ordered = sum(line["quantity"] for o in confirmed if o["userId"] == customer.user_id
                          for line in o["products"] if line["productId"] == product)
            added, uncertain = customer.added[product], customer.uncertain[product]
            if not added <= in_cart + ordered <= added + uncertain:
                mismatched[product] = {"added": added, "uncertain": uncertain, "in cart": in_cart, "ordered": ordered}
        check(not mismatched, f"customer {customer.number}: units added = units in the cart + units of confirmed "
              f"orders ({sum(customer.added.values())} added)", mismatched)

    # Notifications: one per customer for user-created and per payment outcome; each sent exactly once.
    user_ids = [c.user_id for c in customers]
    notifications = list(client.NotificationService.notifications.find({"userId": {"$in": user_ids}}))
    by_type = collections.Counter((n["userId"], n["type"], n.get("orderId", "")) for n in notifications)
    welcome = [by_type[(u, "user-created", "")] for u in user_ids]
    check(welcome == [1] * len(user_ids), "one welcome notification per customer", welcome)
    outcomes = collections.Counter()
    for payment in client.PaymentService.payments.find({"orderId": {"$in": list(orders)}}):
        if payment["status"] in ("success", "failed"):
            outcomes[(payment["userId"], "payment.succeeded" if payment["status"] == "success" else "payment.failed",
                      payment["orderId"])] += 1
    wrong = {str(k): (by_type[k], v) for k, v in outcomes.items() if by_type[k] != v}
    check(not wrong, f"one notification per payment outcome ({sum(outcomes.values())})", wrong)
    # Counted from the deliveries themselves: without SMTP_HOST a message is sent by writing it to the log (the log
    # sender's line). The "notification sent" line comes after the SENT mark is stored, so a SIGKILL between the two
    # leaves a notification delivered and recorded once but without that line.
    sent_lines = collections.Counter()
    for component in ("notification", "notification-2"):
        for line in (STACK_DIR / "logs" / f"{component}.log").read_text(errors="replace").splitlines():
            if '"msg":"notification (log delivery' in line:
                sent_lines[json.loads(line).get("notification.id")] += 1
    ids = [n["_id"] for n in notifications]
    wrong = {i: sent_lines[i] for i in ids if sent_lines[i] != 1}
    check(all(n["status"] == "SENT" for n in notifications) and not wrong,
          f"every notification ({len(ids)}) delivered exactly once across both replicas", wrong)

    # Consumer groups: the survivor takes the killed instance's partitions, and the restarted one gets work back.
    for victim, (killed, ready) in windows.items():
        service = victim.split("-")[0]
        topic = CONSUMED_TOPIC.get(service)
        if not topic:
            continue
        survivor = service if victim.endswith("-2") else f"{service}-2"
        before = {p for at, p in handled_lines(victim, topic) if at < killed}
        taken = {p for at, p in handled_lines(survivor, topic) if killed < at < ready}
        back = [p for at, p in handled_lines(victim, topic) if at > ready]
        check(before & taken, f"{service}: {survivor} handled {topic} partitions {sorted(before & taken)} that "
              f"{victim} had handled before it was killed", {"before": sorted(before), "survivor": sorted(taken)})
        check(back, f"{service}: the restarted {victim} handles {topic} events again ({len(back)} after its restart)")


def main():
    started = time.monotonic()
    client = pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=10000)
    products, customers, racers = setup()
    log(f"{CUSTOMERS} customers and {len(racers)} racers, products of {STOCKS} units; orders flowing through the "
        "gateway")
    for customer in customers:
        customer.start()
    time.sleep(5)
    windows = kill_each_in_turn(racers)
    time.sleep(3)
    for customer in customers:
        customer.stop.set()
    customers += racers
    for customer in customers:
        customer.join(timeout=90)
    answers = sum((c.answers for c in customers), collections.Counter())
    log(f"POST /order answers: {dict(answers)}; {sum(len(c.orders) for c in customers)} orders placed")
    check(sum(len(c.orders) for c in customers) >= 10, "orders kept being placed through the faults",
          dict(answers))
    left = settle(client, customers)
    check(not left, f"everything settled within {SETTLE_TIMEOUT}s", left)
    check_everything(client, customers, products, windows)
    log(f"{'FAILED: ' + str(len(FAILURES)) + ' checks' if FAILURES else 'every check passed'} "
        f"in {time.monotonic() - started:.0f}s")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())

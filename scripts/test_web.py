"""The web storefront in headless Chromium (scripts/test-web): run against a running stack, through its gateway.

Two browser sessions, a shopper's and the staff's (the admin account), drive the pages as a person would:
  - a shopper registers, finds a product by searching, adds two to the cart, checks out with a card that is approved,
    sees the order confirmed, and then shipped (carrier and tracking number) after the staff ship it in the other
    session; the stock page then shows the units sold, the health page every service ready and the dead letters;
  - a wrong password shows the API's own message; a declined card shows its message on the order, and the stock comes
    back (on the product page and in the inventory service);
  - a double click on "Place order" sends two requests with one Idempotency-Key and places one order (the order
    service's list and its stored idempotency keys say so, and the gateway's log shows both requests).
Waits are explicit waits for conditions (WebDriverWait, wide limits), never fixed sleeps. Screenshots of the main pages
go to WEB_SCREENSHOTS (default .stack/web-screenshots/, replaced on each run). Exits 1 at the first failed check.
"""

import http.client
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
import uuid

import pymongo
from selenium import webdriver
from selenium.common.exceptions import TimeoutException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

ROOT = pathlib.Path(__file__).resolve().parent.parent
STACK_DIR = pathlib.Path(os.environ.get("STACK_DIR", ROOT / ".stack"))
GATEWAY_PORT = int(os.environ.get("STACK_GATEWAY_PORT", "8000"))
BASE = f"http://127.0.0.1:{GATEWAY_PORT}"
MONGO_URI = os.environ["STACK_MONGO_URI"]
ADMIN_EMAIL = os.environ["ADMIN_EMAIL"]
ADMIN_PASSWORD = os.environ["ADMIN_PASSWORD"]
SHOTS = pathlib.Path(os.environ.get("WEB_SCREENSHOTS", ROOT / ".stack" / "web-screenshots"))
# Wide limits: a page, an event or a payment may be slow while another build loads both cores.
WAIT_SECONDS = 60
PASSWORD = "correct horse battery"


class Failed(Exception):
    pass


def check(condition, what, detail=""):
    if not condition:
        raise Failed(f"{what}{': ' + str(detail) if detail != '' else ''}")


def passed(what):
    print(f"[test-web] ok: {what}", file=sys.stderr)


# ---- The API, for setting up and for checking what the pages did ----------------------------------------------------

def call(method, path, body=None, token=None):
    connection = http.client.HTTPConnection("127.0.0.1", GATEWAY_PORT, timeout=30)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    connection.request(method, path, json.dumps(body) if body is not None else None, headers)
    response = connection.getresponse()
    text = response.read().decode()
    connection.close()
    return response.status, (json.loads(text) if text else None)


def login_token(email, password):
    status, answer = call("POST", "/api/user/login", {"email": email, "password": password})
    check(status == 200, f"POST /api/user/login {email}", f"{status} {answer}")
    return answer["token"]


def register(name):
    email = f"{name.lower().replace(' ', '-')}-{uuid.uuid4().hex[:10]}@example.com"
    status, answer = call("POST", "/api/user/register", {"name": name, "email": email, "password": PASSWORD})
    check(status == 201, "POST /api/user/register", f"{status} {answer}")
    return email, answer["_id"]


def eventually(what, condition, timeout=WAIT_SECONDS):
    """Polls condition() until it returns a true value (returned), for effects the API shows asynchronously."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        check(time.monotonic() < deadline, f"{what} (within {timeout} s)")
        time.sleep(0.25)


def wait_for_cart(user_id, token):
    """The cart service makes a customer's cart when it reads user-created; the test adds nothing before that."""
    eventually(f"the cart of {user_id} exists", lambda: call("GET", f"/api/cart/user/{user_id}", token=token)[0] == 200)


# ---- The browser --------------------------------------------------------------------------------------------------

def browser():
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000",
                     "--disable-gpu", "--no-first-run", "--disable-extensions"):
        options.add_argument(argument)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='storefront-web-')}")
    service = Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(WAIT_SECONDS)
    return driver


def until(driver, what, condition):
    """Waits (explicitly, up to WAIT_SECONDS) until condition(driver) is true; returns its value."""
    try:
        return WebDriverWait(driver, WAIT_SECONDS, poll_frequency=0.2,
                             ignored_exceptions=(WebDriverException, AttributeError)).until(condition)
    except TimeoutException:
        raise Failed(f"{what} (within {WAIT_SECONDS} s); the page shows: {page_text(driver)[:600]!r}") from None


def page_text(driver):
    try:
        return driver.find_element(By.TAG_NAME, "body").text
    except WebDriverException:
        return "(no page)"


def visible(driver, css):
    """The first displayed element matching css, or None."""
    for element in driver.find_elements(By.CSS_SELECTOR, css):
        if element.is_displayed():
            return element
    return None


def go(driver, route, heading):
    """Opens #route and waits for its page (its h1 contains heading)."""
    target = f"{BASE}/#{route}"
    if driver.current_url == target:
        driver.refresh()  # the same hash again changes nothing in the page
    else:
        driver.get(target)
    until(driver, f"page #{route} shows '{heading}', its heading focused for keyboard and screen-reader users",
          lambda d: heading in d.switch_to.active_element.text and d.switch_to.active_element.tag_name == "h1")


# The page may draw a part again between finding an element and using it (a stale element): fill and click retry
# until done.
def fill(driver, element_id, text):
    def typed(d):
        element = visible(d, f"#{element_id}")
        element.clear()
        element.send_keys(text)
        return element.get_attribute("value") == text
    until(driver, f"#{element_id} filled in", typed)


def click(driver, css, double=False):
    def clicked(d):
        element = visible(d, css)
        if double:
            ActionChains(d).double_click(element).perform()
        else:
            element.click()
        return True
    until(driver, f"{css} clicked", clicked)


def flash_contains(driver, text):
    until(driver, f"the status message says '{text}'", lambda d: text in d.find_element(By.ID, "flash").text)


def shot(driver, name):
    """Saves a screenshot, after checking the page is usable without seeing it (see accessible)."""
    accessible(driver, name)
    driver.save_screenshot(str(SHOTS / f"{name}.png"))


# Every form control has a label; the landmarks are there; focus is on the page's heading after a navigation (or on a
# control the test used since).
A11Y_SCRIPT = """
const unlabelled = [...document.querySelectorAll('input, select, textarea')]
  .filter((c) => c.type !== 'hidden' && c.labels.length === 0 && !c.getAttribute('aria-label'))
  .map((c) => c.id || c.name || c.outerHTML);
const landmarks = ['header', 'nav', 'main', 'footer'].filter((tag) => !document.querySelector(tag));
const focus = document.activeElement;
return {unlabelled, landmarks, focus: focus ? focus.tagName : null};
"""


def accessible(driver, page):
    found = driver.execute_script(A11Y_SCRIPT)
    check(found["unlabelled"] == [], f"{page}: every form control has a label", found["unlabelled"])
    check(found["landmarks"] == [], f"{page}: header, nav, main and footer are there", found["landmarks"])
    check(found["focus"] not in (None, "BODY"), f"{page}: the keyboard focus is on the page, not lost", found["focus"])


def log_in(driver, email, password):
    go(driver, "/login", "Log in")
    fill(driver, "login-email", email)
    fill(driver, "login-password", password)
    click(driver, "#login-submit")
    until(driver, f"{email} is logged in", lambda d: visible(d, "#logout"))


def log_out(driver):
    click(driver, "#logout")
    until(driver, "logged out", lambda d: visible(d, "a[href='#/login']"))


def order_status(driver):
    badge = visible(driver, "#order-status [data-status]")
    return badge.get_attribute("data-status") if badge else None


def add_to_cart(driver, product, quantity):
    go(driver, f"/product/{product['id']}", product["name"])
    fill(driver, "quantity", str(quantity))
    click(driver, "#add-to-cart")
    flash_contains(driver, "added to your cart")


def open_checkout(driver, address):
    go(driver, "/cart", "Your cart")
    click(driver, "#to-checkout")
    until(driver, "the checkout page", lambda d: visible(d, "#place-order"))
    fill(driver, "address", address)


def placed_order_id(driver):
    until(driver, "the order page after placing the order", lambda d: "#/orders/" in d.current_url)
    return driver.current_url.rsplit("/", 1)[1]


# ---- Scenarios ----------------------------------------------------------------------------------------------------

def new_product(admin_token, tag, name, price, stock):
    status, answer = call("POST", "/api/product/create",
                          {"name": f"{name} {tag}", "category": "web-test", "price": price, "inventory": stock,
                           "description": "Made for the browser test."}, admin_token)
    check(status == 201, "POST /api/product/create", f"{status} {answer}")
    return {"id": answer["_id"], "name": answer["name"]}


def stock_of(product, admin_token):
    status, record = call("GET", f"/api/inventory/get/{product['id']}", token=admin_token)
    check(status == 200, "GET /api/inventory/get", f"{status} {record}")
    return record


def journey(shopper, staff, admin_token, tag):
    """Register, search, add, check out, confirmed; shipped by the staff in their session."""
    lamp = new_product(admin_token, tag, "Reading lamp", 24.5, 5)

    go(shopper, "/register", "Create an account")
    email = f"web-{tag}@example.com"
    fill(shopper, "register-name", "Web Shopper")
    fill(shopper, "register-email", email)
    fill(shopper, "register-password", PASSWORD)
    shot(shopper, "01-register")
    click(shopper, "#register-submit")
    flash_contains(shopper, "Your account is ready")
    until(shopper, "the shopper is logged in", lambda d: visible(d, "#logout"))
    token = login_token(email, PASSWORD)
    status, me = call("GET", "/api/user/me", token=token)
    check(status == 200 and me["name"] == "Web Shopper", "the account registered through the page exists", me)
    wait_for_cart(me["_id"], token)
    passed("a shopper registers on the page and is logged in")

    go(shopper, "/", "Catalog")
    fill(shopper, "search-q", f"lamp {tag}")
    click(shopper, "#search-submit")
    card = f"li[data-product-id='{lamp['id']}']"
    until(shopper, "the searched product in the results, with its stock",
          lambda d: "5 in stock" in visible(d, card).text)
    check(len(shopper.find_elements(By.CSS_SELECTOR, "#products li")) == 1, "the search finds only that product",
          page_text(shopper))
    shot(shopper, "02-catalog-search")
    click(shopper, f"li[data-product-id='{lamp['id']}'] h2 a")
    until(shopper, "the product page", lambda d: lamp["name"] in visible(d, "main h1").text)
    shot(shopper, "03-product")
    fill(shopper, "quantity", "2")
    click(shopper, "#add-to-cart")
    flash_contains(shopper, "added to your cart")
    passed("the shopper finds the product by searching and adds two to the cart")

    go(shopper, "/cart", "Your cart")
    until(shopper, "the cart's line", lambda d: visible(d, f"#cart tr[data-product-id='{lamp['id']}']"))
    until(shopper, "the cart's total", lambda d: visible(d, "#cart-total").text == "$49.00")
    shot(shopper, "04-cart")
    click(shopper, "#to-checkout")
    until(shopper, "the checkout page", lambda d: visible(d, "#place-order"))
    fill(shopper, "address", "1 Web Street, Springfield")
    shot(shopper, "05-checkout")
    click(shopper, "#place-order")
    order_id = placed_order_id(shopper)
    until(shopper, "the order shown confirmed", lambda d: order_status(d) == "confirmed")
    shot(shopper, "06-order-confirmed")
    passed(f"the shopper checks out and sees order {order_id} confirmed")

    log_in(staff, ADMIN_EMAIL, ADMIN_PASSWORD)
    go(staff, "/staff/orders?status=confirmed", "All orders")
    until(staff, "the order in the staff's confirmed orders", lambda d: visible(d, f"li[data-order-id='{order_id}']"))
    shot(staff, "07-staff-orders")
    fill(staff, f"carrier-{order_id}", "Web Parcel")
    fill(staff, f"tracking-{order_id}", f"WP-{tag}")
    click(staff, f"#ship-{order_id}")
    flash_contains(staff, f"Order {order_id} shipped")
    until(shopper, "the shopper's order page shows it shipped (it polls)", lambda d: order_status(d) == "shipped")
    until(shopper, "the tracking number shown", lambda d: visible(d, "#tracking").text == f"WP-{tag}")
    shot(shopper, "08-order-shipped")
    status, order = call("GET", f"/api/order/order/{order_id}", token=admin_token)
    check(status == 200 and order["status"] == "shipped" and order["carrier"] == "Web Parcel",
          "the order service has it shipped", order)
    passed("the staff ship it in their session; the shopper's page shows it shipped with the tracking number")

    def shipped_notice(driver):
        driver.refresh()
        return WebDriverWait(driver, 5).until(lambda d: visible(d, "#notifications li[data-type='order-shipped']"))
    shopper.get(f"{BASE}/#/notifications")
    until(shopper, "the shipping notice among the notifications", shipped_notice)
    shot(shopper, "09-notifications")
    passed("the shopper's notifications include the shipping notice")

    go(staff, f"/staff/stock?q={tag}", "Stock")
    row = f"#staff-stock tr[data-product-id='{lamp['id']}']"
    cells = until(staff, "the product's stock row", lambda d: {
        name: d.find_element(By.CSS_SELECTOR, f"{row} td.{name}").text for name in ("available", "reserved", "sold")})
    check(cells == {"available": "3", "reserved": "0", "sold": "2"}, "the stock page shows 3 available, 2 sold", cells)
    shot(staff, "10-staff-stock")
    go(staff, f"/staff/products?q={tag}", "Products")
    shot(staff, "11-staff-products")
    go(staff, "/staff/health", "Platform health")
    until(staff, "every service ready",
          lambda d: len(d.find_elements(By.CSS_SELECTOR, "#health tr[data-ready='true']")) == 7)
    topics = [r.get_attribute("data-topic") for r in staff.find_elements(By.CSS_SELECTOR, "#dead-letters tbody tr")]
    check("payment-events" in topics and len(topics) == 7, "the dead letters of every topic are listed", topics)
    shot(staff, "12-staff-health")
    passed("the staff's stock page shows the units sold; the health page every service ready and the dead letters")


def declined(shopper, admin_token, tag):
    """A wrong password and a declined card: the API's messages shown; the stock comes back."""
    mug = new_product(admin_token, tag, "Tea mug", 8, 3)
    email, user_id = register("Declined Shopper")
    wait_for_cart(user_id, login_token(email, PASSWORD))

    status, answer = call("POST", "/api/user/login", {"email": email, "password": "not the password"})
    check(status == 401, "a wrong password is 401", status)
    go(shopper, "/login", "Log in")
    fill(shopper, "login-email", email)
    fill(shopper, "login-password", "not the password")
    click(shopper, "#login-submit")
    error = until(shopper, "the login error", lambda d: visible(d, "#login-error").text)
    check(error == answer["error"]["message"], "the page shows the API's message", error)
    shot(shopper, "13-login-error")
    passed(f"a wrong password shows the API's message: {error!r}")

    log_in(shopper, email, PASSWORD)
    add_to_cart(shopper, mug, 2)
    open_checkout(shopper, "2 Decline Road")
    click(shopper, "#pay-card_declined")
    click(shopper, "#place-order")
    order_id = placed_order_id(shopper)
    until(shopper, "the order shown failed", lambda d: order_status(d) == "failed")
    reason = until(shopper, "the failure's message", lambda d: visible(d, "#failure-reason").text)
    status, order = call("GET", f"/api/order/order/{order_id}", token=admin_token)
    check(status == 200 and order["status"] == "failed", "the order service has it failed", order)
    check(reason == order["failureReason"] and "declined" in reason, "the page shows the decline's message", reason)
    shot(shopper, "14-order-declined")
    eventually("the stock back on sale",
               lambda: (lambda r: r["inventory"] == 3 and r["reserved"] == 0 and r["sold"] == 0)(stock_of(mug, admin_token)))
    go(shopper, f"/product/{mug['id']}", mug["name"])
    until(shopper, "the product page shows the stock back", lambda d: visible(d, "#stock").text == "3 in stock")
    log_out(shopper)
    passed(f"a declined card shows {reason!r} on order {order_id}; the 2 units are back on sale")


def double_click(shopper, admin_token, tag):
    """Two clicks on "Place order" in a row: two requests, one Idempotency-Key, one order."""
    kettle = new_product(admin_token, tag, "Kettle", 31, 4)
    email, user_id = register("Double Clicker")
    token = login_token(email, PASSWORD)
    wait_for_cart(user_id, token)
    log_in(shopper, email, PASSWORD)
    add_to_cart(shopper, kettle, 1)
    open_checkout(shopper, "3 Twice Lane")
    posts_before = order_posts()
    click(shopper, "#place-order", double=True)
    order_id = placed_order_id(shopper)
    until(shopper, "the order shown confirmed", lambda d: order_status(d) == "confirmed")
    check(visible(shopper, "#order-error") is None, "no error is shown", page_text(shopper))
    status, orders = call("GET", f"/api/order/order/user/{user_id}", token=token)
    check(status == 200 and [o["_id"] for o in orders] == [order_id], "the customer has exactly one order", orders)
    eventually("both requests in the gateway's log", lambda: order_posts() - posts_before >= 2, timeout=10)
    check(order_posts() - posts_before == 2, "the double click sent two POST /order", order_posts() - posts_before)
    with pymongo.MongoClient(MONGO_URI, serverSelectionTimeoutMS=10000) as client:
        keys = list(client.OrderService.idempotencyKeys.find({"orderId": order_id}))
    check(len(keys) == 1, "one Idempotency-Key was stored for the order (both requests carried the same one)", keys)
    eventually("the one unit sold", lambda: stock_of(kettle, admin_token)["sold"] == 1)
    log_out(shopper)
    passed(f"a double click on 'Place order' sent two requests with one key and placed one order ({order_id})")


def order_posts():
    """How many POST /api/order/order the gateway has logged."""
    count = 0
    for line in (STACK_DIR / "logs" / "gateway.log").read_text(errors="replace").splitlines():
        if line.startswith("{") and '"POST"' in line:
            entry = json.loads(line)
            count += entry.get("method") == "POST" and entry.get("path") == "/api/order/order"
    return count


def phone(shopper, tag):
    """The catalog on a phone-sized screen: no horizontal scrolling."""
    shopper.set_window_size(390, 844)
    go(shopper, f"/?q={tag}", "Catalog")
    width = shopper.execute_script("return document.documentElement.scrollWidth")
    viewport = shopper.execute_script("return window.innerWidth")
    check(width <= viewport, "the catalog fits a 390 px wide screen", f"{width} > {viewport}")
    shot(shopper, "15-phone-catalog")
    passed("the catalog fits a phone-sized screen")


def main():
    shutil.rmtree(SHOTS, ignore_errors=True)
    SHOTS.mkdir(parents=True)
    tag = uuid.uuid4().hex[:8]
    admin_token = login_token(ADMIN_EMAIL, ADMIN_PASSWORD)
    started = time.monotonic()
    shopper = browser()
    staff = browser()
    try:
        journey(shopper, staff, admin_token, tag)
        log_out(shopper)
        declined(shopper, admin_token, tag)
        double_click(shopper, admin_token, tag)
        phone(shopper, tag)
    except (Failed, WebDriverException) as failure:
        for name, driver in (("failed-shopper", shopper), ("failed-staff", staff)):
            try:
                driver.save_screenshot(str(SHOTS / f"{name}.png"))
            except WebDriverException:
                pass
        print(f"[test-web] FAILED: {failure} (screenshots in {SHOTS})", file=sys.stderr)
        return 1
    finally:
        shopper.quit()
        staff.quit()
    print(f"[test-web] all checks passed in {time.monotonic() - started:.0f} s; screenshots in {SHOTS}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

// The shopper's pages: catalog, product, register and log in, cart, checkout, orders, notifications.

import { api, ApiError, apiQuery, currentAccount, logIn, newIdempotencyKey } from "./api.js";
import { flash, navigate } from "./app.js";
import { busyWhile, errorBox, field, h, money, statusBadge, stockText, when } from "./dom.js";

const PAGE_SIZE = 12;
// Order states after which nothing changes by itself; the order page polls until one is reached.
const SETTLED = new Set(["failed", "cancelled", "refunded", "delivered"]);
const POLL_MS = 2000;

const heading = (text) => h("h1", { tabindex: "-1" }, text);

// ---- Catalog ---------------------------------------------------------------------------------------------------

export async function catalog({ query }) {
  const page = Math.max(1, Number(query.get("page")) || 1);
  const filters = {
    q: query.get("q") ?? "",
    category: query.get("category") ?? "",
    minPrice: query.get("minPrice") ?? "",
    maxPrice: query.get("maxPrice") ?? "",
    sort: query.get("sort") ?? "-createdAt",
  };
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(filters)) if (value !== "") search.set(name, value);
  search.set("limit", String(PAGE_SIZE + 1)); // one more than shown: is there a next page?
  search.set("offset", String((page - 1) * PAGE_SIZE));

  const form = h("form", { class: "filters", role: "search", "aria-label": "Search the catalog" },
    field("Search", h("input", { type: "search", name: "q", id: "search-q", value: filters.q })),
    field("Category", h("input", { type: "text", name: "category", id: "search-category", value: filters.category })),
    field("Lowest price", h("input", { type: "number", name: "minPrice", id: "search-min", min: "0", step: "0.01", value: filters.minPrice })),
    field("Highest price", h("input", { type: "number", name: "maxPrice", id: "search-max", min: "0", step: "0.01", value: filters.maxPrice })),
    field("Sort by", h("select", { name: "sort", id: "search-sort" },
      [["-createdAt", "Newest"], ["price", "Price, lowest first"], ["-price", "Price, highest first"], ["name", "Name"]]
        .map(([value, text]) => h("option", { value, selected: value === filters.sort }, text)))),
    h("button", { type: "submit", id: "search-submit" }, "Search"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const [name, value] of new FormData(form)) if (String(value).trim() !== "") next.set(name, String(value).trim());
    navigate(`#/?${next}`);
  });

  let products;
  try {
    products = await api("product", `/get?${apiQuery(search)}`, { auth: false });
  } catch (error) {
    return h("section", {}, heading("Catalog"), form, h("p", { class: "error", role: "alert" }, error.message));
  }
  const shown = products.slice(0, PAGE_SIZE);
  // The stock of each product shown, as the product page has it (the list itself carries no stock).
  const stocks = await Promise.all(shown.map((p) =>
    api("product", `/get/${p._id}`, { auth: false }).then((d) => d.inventory, () => undefined)));

  const pageLink = (number, text, rel) => {
    const next = new URLSearchParams(search);
    next.delete("limit");
    next.delete("offset");
    next.set("page", String(number));
    return h("a", { href: `#/?${next}`, rel }, text);
  };
  return h("section", {},
    heading("Catalog"),
    form,
    h("p", { class: "summary", "aria-live": "polite" },
      shown.length === 0 ? "No products match." : `Page ${page}: ${shown.length} product${shown.length === 1 ? "" : "s"}.`),
    h("ul", { class: "products", id: "products" }, shown.map((product, i) =>
      h("li", { class: "product-card", "data-product-id": product._id },
        h("h2", {}, h("a", { href: `#/product/${product._id}` }, product.name)),
        h("p", { class: "category" }, product.category),
        h("p", { class: "price" }, money(product.price)),
        h("p", { class: "stock" }, stocks[i] === undefined ? "Stock unknown right now" : stockText(stocks[i])),
      ))),
    h("nav", { class: "pager", "aria-label": "Pages" },
      page > 1 ? pageLink(page - 1, "Previous page", "prev") : null,
      products.length > PAGE_SIZE ? pageLink(page + 1, "Next page", "next") : null),
  );
}

// ---- Product ---------------------------------------------------------------------------------------------------

export async function product({ params }) {
  const { product, inventory } = await api("product", `/get/${encodeURIComponent(params.id)}`, { auth: false });
  const available = Number(inventory?.inventory) || 0;
  const account = currentAccount();
  const problem = errorBox("add-error");
  const quantity = h("input", { type: "number", id: "quantity", name: "quantity", min: "1", max: String(Math.max(available, 1)), value: "1", required: true });
  const button = h("button", { type: "submit", id: "add-to-cart", disabled: available === 0 }, "Add to cart");
  const form = h("form", { class: "buy" }, field("Quantity", quantity), button, problem);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busyWhile(button, async () => {
      problem.clear();
      try {
        await api("cart", "/addtocart", {
          method: "POST",
          body: { userId: account._id, productId: product._id, quantity: Number(quantity.value) },
        });
        flash(`${quantity.value} × ${product.name} added to your cart.`);
      } catch (error) {
        problem.show(error.message);
      }
    });
  });
  return h("article", { class: "product" },
    heading(product.name),
    h("p", { class: "category" }, product.category),
    h("p", { class: "price" }, money(product.price)),
    h("p", { class: "stock", id: "stock" }, stockText(inventory)),
    product.description ? h("p", { class: "description" }, product.description) : null,
    account ? form : h("p", {}, h("a", { href: `#/login?next=${encodeURIComponent(location.hash)}` }, "Log in"), " to buy it."),
    h("p", {}, h("a", { href: "#/" }, "Back to the catalog")),
  );
}

// ---- Register and log in ---------------------------------------------------------------------------------------

export async function login({ query }) {
  const problem = errorBox("login-error");
  const email = h("input", { type: "email", id: "login-email", name: "email", autocomplete: "username", required: true });
  const password = h("input", { type: "password", id: "login-password", name: "password", autocomplete: "current-password", required: true });
  const button = h("button", { type: "submit", id: "login-submit" }, "Log in");
  const form = h("form", { class: "narrow" }, field("E-mail", email), field("Password", password), button, problem);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busyWhile(button, async () => {
      problem.clear();
      try {
        const account = await logIn(email.value.trim(), password.value);
        password.value = "";
        navigate(safeNext(query.get("next")), `Welcome, ${account.name}.`);
      } catch (error) {
        problem.show(error.message);
      }
    });
  });
  return h("section", {}, heading("Log in"), form,
    h("p", {}, "No account yet? ", h("a", { href: "#/register" }, "Register"), "."));
}

export async function register() {
  const problem = errorBox("register-error");
  const name = h("input", { type: "text", id: "register-name", name: "name", autocomplete: "name", required: true, minlength: "2", maxlength: "50" });
  const email = h("input", { type: "email", id: "register-email", name: "email", autocomplete: "email", required: true });
  const password = h("input", { type: "password", id: "register-password", name: "password", autocomplete: "new-password", required: true, minlength: "8", maxlength: "72" });
  const button = h("button", { type: "submit", id: "register-submit" }, "Create account");
  const form = h("form", { class: "narrow" },
    field("Name", name), field("E-mail", email), field("Password", password, "At least 8 characters."), button, problem);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busyWhile(button, async () => {
      problem.clear();
      try {
        await api("user", "/register", {
          method: "POST",
          body: { name: name.value.trim(), email: email.value.trim(), password: password.value },
          auth: false,
        });
        const account = await logIn(email.value.trim(), password.value);
        password.value = "";
        navigate("#/", `Welcome, ${account.name}. Your account is ready.`);
      } catch (error) {
        problem.show(error.message);
      }
    });
  });
  return h("section", {}, heading("Create an account"), form,
    h("p", {}, "Already registered? ", h("a", { href: "#/login" }, "Log in"), "."));
}

/** Only a page of this shop (a hash route) is a place to go back to after logging in. */
function safeNext(next) {
  return next && next.startsWith("#/") ? next : "#/";
}

// ---- Cart and checkout -----------------------------------------------------------------------------------------

/** The cart's lines; a cart not made yet (the account is seconds old) is an empty one. */
async function cartLines() {
  try {
    return await api("cart", `/user/${currentAccount()._id}`);
  } catch (error) {
    if (error instanceof ApiError && error.code === "cart_not_found") return [];
    throw error;
  }
}

const lineTotal = (lines) => lines.reduce((sum, line) => sum + line.product.price * line.quantity, 0);

export async function cart() {
  const lines = await cartLines();
  const userId = currentAccount()._id;
  const problem = errorBox("cart-error");
  if (lines.length === 0) {
    return h("section", {}, heading("Your cart"), h("p", {}, "Your cart is empty. ", h("a", { href: "#/" }, "Browse the catalog"), "."));
  }
  const rows = lines.map((line) => {
    const quantity = h("input", { type: "number", min: "0", value: String(line.quantity), id: `qty-${line.productId}`, class: "qty" });
    const change = async (value) => {
      problem.clear();
      try {
        if (value === 0) await api("cart", `/user/${userId}/items/${line.productId}`, { method: "DELETE" });
        else await api("cart", `/user/${userId}/items/${line.productId}`, { method: "PUT", body: { quantity: value } });
        navigate("#/cart", value === 0 ? `${line.product.name} removed.` : `${line.product.name}: quantity ${value}.`);
      } catch (error) {
        problem.show(error.message);
      }
    };
    return h("tr", { "data-product-id": line.productId },
      h("th", { scope: "row" }, h("a", { href: `#/product/${line.productId}` }, line.product.name)),
      h("td", {}, money(line.product.price)),
      h("td", {}, h("label", { class: "visually-hidden", for: quantity.id }, `Quantity of ${line.product.name}`), quantity,
        h("button", { type: "button", onclick: () => change(Math.max(0, Number(quantity.value) || 0)) }, "Update")),
      h("td", {}, money(line.product.price * line.quantity)),
      h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => change(0) }, "Remove",
        h("span", { class: "visually-hidden" }, ` ${line.product.name}`))),
    );
  });
  return h("section", {},
    heading("Your cart"),
    problem,
    h("div", { class: "table-wrap" }, h("table", { id: "cart" },
      h("caption", { class: "visually-hidden" }, "Products in your cart"),
      h("thead", {}, h("tr", {}, ["Product", "Price", "Quantity", "Subtotal", "Remove"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows),
      h("tfoot", {}, h("tr", {}, h("th", { scope: "row", colspan: "3" }, "Total"), h("td", { id: "cart-total" }, money(lineTotal(lines))), h("td", {}))),
    )),
    h("p", {}, h("a", { class: "button", href: "#/checkout", id: "to-checkout" }, "Check out")),
  );
}

// Payment methods of the simulated processor: the method decides the outcome (Services/Payments, SimulatedProcessor).
const PAYMENT_METHODS = [
  ["tok_visa", "Card ending 4242 (approved)"],
  ["card_declined", "Card the bank declines (simulated)"],
  ["processor_unavailable", "Card processor unavailable (simulated)"],
];

export async function checkout() {
  const lines = await cartLines();
  const account = currentAccount();
  if (lines.length === 0) {
    return h("section", {}, heading("Checkout"), h("p", {}, "Your cart is empty. ", h("a", { href: "#/" }, "Browse the catalog"), "."));
  }
  const problem = errorBox("checkout-error");
  const address = h("textarea", { id: "address", name: "address", rows: "3", required: true, maxlength: "1000", autocomplete: "street-address" });
  const methods = h("fieldset", { class: "methods" }, h("legend", {}, "Payment method"),
    PAYMENT_METHODS.map(([value, text], i) => h("div", { class: "choice" },
      h("input", { type: "radio", name: "paymentInfo", id: `pay-${value}`, value, checked: i === 0 }),
      h("label", { for: `pay-${value}` }, text))));
  const button = h("button", { type: "submit", id: "place-order" }, "Place order");
  const form = h("form", { class: "narrow" }, field("Delivery address", address), methods, button, problem);

  // One key for this checkout: every click on "Place order" sends the same one, so however often it is clicked (or
  // retried after a lost answer) the order service places one order and answers each request with it.
  const idempotencyKey = newIdempotencyKey();
  let inFlight = 0;
  let placed = false;
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (placed) return;
    problem.clear();
    inFlight += 1;
    button.setAttribute("aria-busy", "true");
    button.textContent = "Placing order…";
    try {
      const order = await api("order", "/order", {
        method: "POST",
        headers: { "Idempotency-Key": idempotencyKey },
        body: { userId: account._id, address: address.value.trim(), paymentInfo: new FormData(form).get("paymentInfo") },
      });
      if (!placed) {
        placed = true;
        navigate(`#/orders/${order._id}`, `Order placed: ${order._id}.`);
      }
    } catch (error) {
      // Another click's request still running will answer for this key; its answer is the one that counts.
      if (inFlight === 1 && !placed) problem.show(error.message);
    } finally {
      inFlight -= 1;
      if (inFlight === 0 && !placed) {
        button.removeAttribute("aria-busy");
        button.textContent = "Place order";
      }
    }
  });
  return h("section", {},
    heading("Checkout"),
    h("ul", { class: "summary-lines" }, lines.map((line) =>
      h("li", {}, `${line.quantity} × ${line.product.name} — ${money(line.product.price * line.quantity)}`))),
    h("p", { class: "total" }, "Total: ", h("strong", {}, money(lineTotal(lines)))),
    form,
  );
}

// ---- Orders ----------------------------------------------------------------------------------------------------

export async function orders() {
  const list = await api("order", `/order/user/${currentAccount()._id}`);
  if (list.length === 0) {
    return h("section", {}, heading("Your orders"), h("p", {}, "No orders yet. ", h("a", { href: "#/" }, "Browse the catalog"), "."));
  }
  return h("section", {}, heading("Your orders"), h("div", { class: "table-wrap" }, h("table", { id: "orders" },
    h("thead", {}, h("tr", {}, ["Order", "Placed", "Items", "Total", "Status"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, list.map((order) => h("tr", { "data-order-id": order._id },
      h("th", { scope: "row" }, h("a", { href: `#/orders/${order._id}` }, order._id)),
      h("td", {}, when(order.createdAt)),
      h("td", {}, order.products.reduce((n, line) => n + line.quantity, 0)),
      h("td", {}, money(order.total)),
      h("td", {}, statusBadge(order.status))))),
  )));
}

/** Product names for order lines (best effort: an id when the product is gone). */
async function productNames(lines) {
  const names = await Promise.all(lines.map((line) =>
    api("product", `/get/${line.productId}`, { auth: false }).then((d) => d.product.name, () => line.productId)));
  return Object.fromEntries(lines.map((line, i) => [line.productId, names[i]]));
}

export async function order({ params, signal }) {
  let current = await api("order", `/order/${encodeURIComponent(params.id)}`);
  const names = await productNames(current.products);
  const problem = errorBox("order-error");
  const details = h("div", { id: "order-details", "aria-live": "polite" });

  const draw = () => {
    const o = current;
    const cancellable = o.status === "pending" || o.status === "confirmed";
    details.replaceChildren(...[
      h("p", { class: "order-status" }, "Status: ", h("strong", { id: "order-status" }, statusBadge(o.status))),
      o.failureReason ? h("p", { class: "error", role: "alert", id: "failure-reason" }, o.failureReason) : null,
      o.status === "failed" ? h("p", {}, "Nothing was charged, and the items are back on sale and in your ",
        h("a", { href: "#/cart" }, "cart"), ".") : null,
      o.carrier ? h("p", { id: "shipping" }, `Shipped by ${o.carrier}, tracking number `, h("strong", { id: "tracking" }, o.trackingNumber),
        o.shippedAt ? ` on ${when(o.shippedAt)}` : "", ".") : null,
      o.deliveredAt ? h("p", {}, `Delivered on ${when(o.deliveredAt)}.`) : null,
      h("dl", { class: "facts" },
        h("dt", {}, "Placed"), h("dd", {}, when(o.createdAt)),
        h("dt", {}, "Delivery address"), h("dd", {}, o.address),
        h("dt", {}, "Total"), h("dd", { id: "order-total" }, money(o.total))),
      h("ul", { class: "summary-lines" }, o.products.map((line) =>
        h("li", {}, `${line.quantity} × ${names[line.productId] ?? line.productId} at ${money(line.price)}`))),
      cancellable ? h("p", {}, h("button", { type: "button", class: "secondary", id: "cancel-order", onclick: cancel },
        o.status === "pending" ? "Cancel order" : "Cancel and refund")) : null,
    ].filter((node) => node)); // replaceChildren would write a null as text
  };
  const cancel = async () => {
    problem.clear();
    try {
      current = await api("order", `/order/${current._id}/cancel`, { method: "POST" });
      draw();
      flash(`Order ${current._id} is ${current.status}.`);
    } catch (error) {
      problem.show(error.message);
    }
  };
  // Live status: read again every few seconds while this page is shown and the order can still change.
  const poll = async () => {
    if (signal.aborted || SETTLED.has(current.status)) return;
    try {
      const next = await api("order", `/order/${current._id}`);
      if (JSON.stringify(next) !== JSON.stringify(current)) {
        current = next;
        draw();
      }
    } catch {
      // A missed poll is retried at the next tick; the last known state stays shown.
    }
    if (!signal.aborted) setTimeout(poll, POLL_MS);
  };
  draw();
  setTimeout(poll, POLL_MS);
  return h("article", {}, heading(`Order ${current._id}`), problem, details,
    h("p", {}, h("a", { href: "#/orders" }, "All your orders")));
}

// ---- Notifications ---------------------------------------------------------------------------------------------

export async function notifications() {
  const list = await api("notification", `/notifications?userId=${currentAccount()._id}`);
  return h("section", {}, heading("Notifications"),
    list.length === 0 ? h("p", {}, "No notifications yet.") :
      h("ul", { class: "notifications", id: "notifications" }, list.map((n) =>
        h("li", { "data-type": n.type },
          h("p", { class: "message" }, n.message),
          h("p", { class: "meta" }, when(n.createdAt), n.orderId ? [" · order ", h("a", { href: `#/orders/${n.orderId}` }, n.orderId)] : null)))));
}

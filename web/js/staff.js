// The staff's pages (an admin account): products, stock, every customer's orders, and the platform's health.

import { api } from "./api.js";
import { flash, navigate } from "./app.js";
import { errorBox, field, h, money, statusBadge, when } from "./dom.js";

const heading = (text) => h("h1", { tabindex: "-1" }, text);
const SERVICES = ["user", "product", "inventory", "cart", "order", "payment", "notification"];
const ORDER_STATES = ["pending", "confirmed", "shipped", "delivered", "failed", "cancelled", "refunded"];
const LIST_SIZE = 50;

/** Runs `action`; on an API error shows its message in `problem` instead. */
async function attempt(problem, action) {
  problem.clear();
  try {
    await action();
  } catch (error) {
    problem.show(error.message);
  }
}

// ---- Products --------------------------------------------------------------------------------------------------

function productForm(idPrefix, values, submitText) {
  const input = (name, attributes) => h("input", { id: `${idPrefix}-${name}`, name, ...attributes });
  const controls = {
    name: input("name", { type: "text", required: true, maxlength: "200", value: values.name ?? "" }),
    category: input("category", { type: "text", required: true, maxlength: "100", value: values.category ?? "" }),
    price: input("price", { type: "number", required: true, min: "0.01", step: "0.01", value: values.price ?? "" }),
    description: h("textarea", { id: `${idPrefix}-description`, name: "description", rows: "2" }, values.description ?? ""),
  };
  const fields = [field("Name", controls.name), field("Category", controls.category), field("Price (USD)", controls.price),
    field("Description", controls.description)];
  if (values.inventory !== undefined) {
    controls.inventory = input("inventory", { type: "number", min: "0", step: "1", value: String(values.inventory) });
    fields.push(field("Initial stock", controls.inventory));
  }
  const button = h("button", { type: "submit", id: `${idPrefix}-submit` }, submitText);
  const problem = errorBox(`${idPrefix}-error`);
  const form = h("form", { class: "narrow" }, fields, button, problem);
  const body = () => {
    const body = {
      name: controls.name.value.trim(),
      category: controls.category.value.trim(),
      price: Number(controls.price.value),
      description: controls.description.value.trim(),
    };
    if (controls.inventory) body.inventory = Number(controls.inventory.value);
    return body;
  };
  return { form, problem, body };
}

export async function products({ query }) {
  const q = query.get("q") ?? "";
  const list = await api("product", `/get?limit=${LIST_SIZE}${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  const create = productForm("new-product", { inventory: 10 }, "Create product");
  create.form.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(create.problem, async () => {
      const made = await api("product", "/create", { method: "POST", body: create.body() });
      navigate("#/staff/products", `Product ${made.name} created.`);
    });
  });
  const problem = errorBox("products-error");
  const remove = (product) => attempt(problem, async () => {
    if (!window.confirm(`Delete ${product.name}? Its stock record goes too.`)) return;
    await api("product", `/delete/${product._id}`, { method: "DELETE" });
    navigate("#/staff/products", `Product ${product.name} deleted.`);
  });
  const search = h("form", { role: "search", class: "filters", "aria-label": "Find products" },
    field("Find", h("input", { type: "search", name: "q", id: "staff-products-q", value: q })),
    h("button", { type: "submit" }, "Find"));
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = new FormData(search).get("q").trim();
    navigate(value ? `#/staff/products?q=${encodeURIComponent(value)}` : "#/staff/products");
  });
  return h("section", {},
    heading("Products"),
    h("details", { class: "panel" }, h("summary", {}, "New product"), create.form),
    search,
    problem,
    h("div", { class: "table-wrap" }, h("table", { id: "staff-products" },
      h("thead", {}, h("tr", {}, ["Name", "Category", "Price", "Actions"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, list.map((product) => h("tr", { "data-product-id": product._id },
        h("th", { scope: "row" }, product.name),
        h("td", {}, product.category),
        h("td", {}, money(product.price)),
        h("td", { class: "actions" },
          h("a", { href: `#/staff/products/${product._id}` }, "Edit", h("span", { class: "visually-hidden" }, ` ${product.name}`)),
          h("button", { type: "button", class: "secondary", onclick: () => remove(product) }, "Delete",
            h("span", { class: "visually-hidden" }, ` ${product.name}`)))))))),
    list.length === LIST_SIZE ? h("p", {}, `The first ${LIST_SIZE} are shown; use Find to narrow them.`) : null,
  );
}

export async function editProduct({ params }) {
  const { product } = await api("product", `/get/${encodeURIComponent(params.id)}`);
  const edit = productForm("edit-product", product, "Save changes");
  edit.form.addEventListener("submit", (event) => {
    event.preventDefault();
    attempt(edit.problem, async () => {
      await api("product", `/update/${product._id}`, { method: "PUT", body: edit.body() });
      navigate("#/staff/products", `Product ${edit.body().name} saved.`);
    });
  });
  return h("section", {}, heading(`Edit ${product.name}`), edit.form,
    h("p", {}, h("a", { href: "#/staff/products" }, "Back to the products")));
}

// ---- Stock -----------------------------------------------------------------------------------------------------

export async function stock({ query }) {
  const q = query.get("q") ?? "";
  const list = await api("product", `/get?limit=${LIST_SIZE}&sort=name${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  const records = await Promise.all(list.map((p) => api("inventory", `/get/${p._id}`).catch((error) => ({ error }))));
  const problem = errorBox("stock-error");
  const rows = list.map((product, i) => {
    const record = records[i];
    if (record.error) {
      return h("tr", {}, h("th", { scope: "row" }, product.name), h("td", { colspan: "5" }, record.error.message));
    }
    const onHand = h("input", { type: "number", min: "0", step: "1", value: String(record.onHand), id: `onhand-${product._id}`, class: "qty" });
    const set = h("form", { class: "inline" },
      h("label", { class: "visually-hidden", for: onHand.id }, `On hand of ${product.name}`), onHand,
      h("button", { type: "submit" }, "Set", h("span", { class: "visually-hidden" }, ` on hand of ${product.name}`)));
    set.addEventListener("submit", (event) => {
      event.preventDefault();
      attempt(problem, async () => {
        const updated = await api("inventory", `/update/${product._id}`, { method: "PUT", body: { onHand: Number(onHand.value) } });
        navigate(`#/staff/stock${q ? `?q=${encodeURIComponent(q)}` : ""}`, `${product.name}: ${updated.onHand} on hand.`);
      });
    });
    return h("tr", { "data-product-id": product._id },
      h("th", { scope: "row" }, product.name),
      h("td", { class: "available" }, record.inventory),
      h("td", { class: "reserved" }, record.reserved),
      h("td", { class: "sold" }, record.sold),
      h("td", {}, set));
  });
  const search = h("form", { role: "search", class: "filters", "aria-label": "Find products" },
    field("Find", h("input", { type: "search", name: "q", id: "staff-stock-q", value: q })),
    h("button", { type: "submit" }, "Find"));
  search.addEventListener("submit", (event) => {
    event.preventDefault();
    const value = new FormData(search).get("q").trim();
    navigate(value ? `#/staff/stock?q=${encodeURIComponent(value)}` : "#/staff/stock");
  });
  return h("section", {},
    heading("Stock"),
    h("p", {}, "Available is on sale now; reserved is held for orders awaiting payment; on hand is available plus reserved."),
    search,
    problem,
    h("div", { class: "table-wrap" }, h("table", { id: "staff-stock" },
      h("thead", {}, h("tr", {}, ["Product", "Available", "Reserved", "Sold", "On hand"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, rows))),
  );
}

// ---- Orders ----------------------------------------------------------------------------------------------------

export async function orders({ query }) {
  const status = query.get("status") ?? "confirmed";
  const list = await api("order", `/order?status=${encodeURIComponent(status)}&limit=${LIST_SIZE}`);
  const problem = errorBox("staff-orders-error");
  const filter = h("form", { class: "filters", "aria-label": "Filter orders" },
    field("Status", h("select", { name: "status", id: "staff-orders-status" },
      h("option", { value: "", selected: status === "" }, "Any"),
      ORDER_STATES.map((s) => h("option", { value: s, selected: s === status }, s)))),
    h("button", { type: "submit", id: "staff-orders-filter" }, "Show"));
  filter.addEventListener("submit", (event) => {
    event.preventDefault();
    navigate(`#/staff/orders?status=${encodeURIComponent(new FormData(filter).get("status"))}`);
  });
  const again = (message) => navigate(`#/staff/orders?status=${encodeURIComponent(status)}`, message);

  const actions = (order) => {
    const parts = [];
    if (order.status === "confirmed") {
      const carrier = h("input", { type: "text", id: `carrier-${order._id}`, name: "carrier", required: true, maxlength: "200" });
      const tracking = h("input", { type: "text", id: `tracking-${order._id}`, name: "trackingNumber", required: true, maxlength: "200" });
      const ship = h("form", { class: "ship", "aria-label": `Ship order ${order._id}` },
        field("Carrier", carrier), field("Tracking number", tracking),
        h("button", { type: "submit", id: `ship-${order._id}` }, "Mark shipped"));
      ship.addEventListener("submit", (event) => {
        event.preventDefault();
        attempt(problem, async () => {
          await api("order", `/order/${order._id}/ship`, {
            method: "POST",
            body: { carrier: carrier.value.trim(), trackingNumber: tracking.value.trim() },
          });
          again(`Order ${order._id} shipped.`);
        });
      });
      parts.push(ship);
    }
    if (order.status === "shipped") {
      parts.push(h("button", {
        type: "button", id: `deliver-${order._id}`,
        onclick: () => attempt(problem, async () => {
          await api("order", `/order/${order._id}/deliver`, { method: "POST" });
          again(`Order ${order._id} delivered.`);
        }),
      }, "Mark delivered"));
    }
    if (order.status === "pending" || order.status === "confirmed") {
      parts.push(h("button", {
        type: "button", class: "secondary", id: `cancel-${order._id}`,
        onclick: () => attempt(problem, async () => {
          const done = await api("order", `/order/${order._id}/cancel`, { method: "POST" });
          again(`Order ${order._id} is ${done.status}.`);
        }),
      }, order.status === "pending" ? "Cancel" : "Refund"));
    }
    return parts;
  };

  return h("section", {},
    heading("All orders"),
    filter,
    problem,
    list.length === 0 ? h("p", {}, "No orders in this state.") :
      h("ul", { class: "staff-orders", id: "staff-orders" }, list.map((order) =>
        h("li", { class: "panel", "data-order-id": order._id },
          h("h2", {}, `Order ${order._id} `, statusBadge(order.status)),
          h("p", {}, `${when(order.createdAt)} · customer ${order.userId} · ${money(order.total)}`),
          h("p", {}, `To: ${order.address}`),
          order.carrier ? h("p", {}, `${order.carrier}, tracking ${order.trackingNumber}`) : null,
          order.failureReason ? h("p", {}, `Failed: ${order.failureReason}`) : null,
          h("div", { class: "actions" }, actions(order))))),
    list.length === LIST_SIZE ? h("p", {}, `The newest ${LIST_SIZE} are shown.`) : null,
  );
}

// ---- Health ----------------------------------------------------------------------------------------------------

/** GET /api/<service>/ready answers 200 or 503 with a body either way; anything else is shown as it came. */
async function readiness(service) {
  try {
    const response = await fetch(`/api/${service}/ready`, { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => null);
    if (response.ok) return { ready: true, text: "Ready" };
    return { ready: false, text: body?.error?.message ?? `Not ready (HTTP ${response.status})` };
  } catch {
    return { ready: false, text: "No answer through the gateway" };
  }
}

export async function health() {
  const [states, letters] = await Promise.all([
    Promise.all(SERVICES.map(readiness)),
    api("order", "/dead-letters").catch((error) => ({ error })),
  ]);
  const refreshed = new Date().toLocaleTimeString();
  return h("section", {},
    heading("Platform health"),
    h("p", {}, `As of ${refreshed}. `, h("button", { type: "button", onclick: () => navigate("#/staff/health") }, "Check again")),
    h("h2", {}, "Services"),
    h("div", { class: "table-wrap" }, h("table", { id: "health" },
      h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Service"), h("th", { scope: "col" }, "Ready"))),
      h("tbody", {}, SERVICES.map((service, i) => h("tr", { "data-service": service, "data-ready": String(states[i].ready) },
        h("th", { scope: "row" }, service),
        h("td", { class: states[i].ready ? "ok" : "bad" }, states[i].text)))))),
    h("h2", {}, "Dead letters"),
    h("p", {}, "Events a consumer gave up on, per topic. Look at and re-drive them with ", h("code", {}, "storefront-admin dlq"), "."),
    letters.error ? h("p", { class: "error", role: "alert" }, letters.error.message) :
      h("div", { class: "table-wrap" }, h("table", { id: "dead-letters" },
        h("thead", {}, h("tr", {}, ["Topic", "Pending", "Claimed", "Re-driven"].map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", {}, letters.map((row) => h("tr", { "data-topic": row.topic },
          h("th", { scope: "row" }, row.topic),
          h("td", { class: row.pending > 0 ? "bad" : "ok" }, row.pending),
          h("td", {}, row.claimed),
          h("td", {}, row.redriven)))))),
  );
}

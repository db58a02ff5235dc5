// Small helpers to build the pages: elements from data (text is always text, never parsed as HTML), money, dates.

/** An element: h("a", {href: "#/"}, "Home"). `on<event>` attributes become listeners; null and false are skipped. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === "class") {
      element.className = value;
    } else if (name in element && typeof value !== "string") {
      element[name] = value; // properties such as value, checked, disabled
    } else {
      element.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A labelled form field: the label names the control for screen readers; `hint` is read after it. */
export function field(label, control, hint) {
  const id = control.id || `field-${(field.next = (field.next ?? 0) + 1)}`;
  control.id = id;
  let hintNode = null;
  if (hint) {
    hintNode = h("p", { class: "hint", id: `${id}-hint` }, hint);
    control.setAttribute("aria-describedby", hintNode.id);
  }
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hintNode);
}

/** A region that announces an error at once (role=alert); empty and hidden until `show`. */
export function errorBox(id) {
  const box = h("div", { class: "error", role: "alert", id, hidden: true });
  return Object.assign(box, {
    show(message) {
      box.textContent = message;
      box.hidden = false;
    },
    clear() {
      box.textContent = "";
      box.hidden = true;
    },
  });
}

const moneyFormat = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD" });
export const money = (amount) => moneyFormat.format(Number(amount) || 0);

export function when(text) {
  if (!text) return "";
  const date = new Date(text);
  return Number.isNaN(date.getTime()) ? String(text) : date.toLocaleString();
}

/** The stock of an inventory record as a person reads it. */
export function stockText(inventory) {
  if (!inventory) return "Not available";
  const available = Number(inventory.inventory) || 0;
  return available > 0 ? `${available} in stock` : "Out of stock";
}

const STATUS_NAMES = {
  pending: "Pending payment",
  confirmed: "Confirmed",
  failed: "Failed",
  cancelled: "Cancelled",
  refunded: "Refunded",
  shipped: "Shipped",
  delivered: "Delivered",
};
export const statusName = (status) => STATUS_NAMES[status] ?? status;

/** A status badge; data-status lets styles (and tests) read the raw state. */
export const statusBadge = (status) => h("span", { class: `status status-${status}`, "data-status": status }, statusName(status));

/**
 * Runs `action` once at a time for `button`: a click while it runs does nothing. The button is marked busy rather than
 * disabled, so the keyboard focus stays on it (a disabled button loses the focus).
 */
export async function busyWhile(button, action) {
  if (button.getAttribute("aria-busy") === "true") return;
  button.setAttribute("aria-busy", "true");
  try {
    await action();
  } finally {
    button.removeAttribute("aria-busy");
  }
}

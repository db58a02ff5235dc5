// The shop's single page: a router over the location's hash (#/path?query), the navigation, and the frame every page
// is drawn in (its title, focus on its heading, its errors shown as a message rather than a blank page).

import { ApiError, currentAccount, isAdmin, logOut, onSessionChange, restoreSession } from "./api.js";
import { h } from "./dom.js";
import * as shop from "./shop.js";
import * as staff from "./staff.js";

const routes = [
  { path: "/", page: shop.catalog },
  { path: "/product/:id", page: shop.product },
  { path: "/login", page: shop.login },
  { path: "/register", page: shop.register },
  { path: "/cart", page: shop.cart, login: true },
  { path: "/checkout", page: shop.checkout, login: true },
  { path: "/orders", page: shop.orders, login: true },
  { path: "/orders/:id", page: shop.order, login: true },
  { path: "/notifications", page: shop.notifications, login: true },
  { path: "/staff/products", page: staff.products, admin: true },
  { path: "/staff/products/:id", page: staff.editProduct, admin: true },
  { path: "/staff/stock", page: staff.stock, admin: true },
  { path: "/staff/orders", page: staff.orders, admin: true },
  { path: "/staff/health", page: staff.health, admin: true },
];

const main = document.getElementById("main");
const flashRegion = document.getElementById("flash");
let leaving = new AbortController(); // aborted when the page is left: stops its polling
let pendingFlash = null;

/** Goes to `hash` (e.g. "#/orders/ID"); `message` is announced on the next page. */
export function navigate(hash, message) {
  pendingFlash = message ?? null;
  if (location.hash === hash) render();
  else location.hash = hash;
}

/** Announces `message` politely in the status region at the top of the page. */
export function flash(message) {
  flashRegion.textContent = message;
  flashRegion.hidden = !message;
}

function parseHash() {
  const raw = location.hash.replace(/^#/, "") || "/";
  const [path, query = ""] = raw.split("?");
  return { path: path || "/", query: new URLSearchParams(query) };
}

function match(path) {
  for (const route of routes) {
    const names = [];
    const pattern = new RegExp(
      "^" + route.path.replace(/:([a-z]+)/g, (_, name) => (names.push(name), "([^/]+)")) + "/?$",
    );
    const found = pattern.exec(path);
    if (found) {
      const params = Object.fromEntries(names.map((name, i) => [name, decodeURIComponent(found[i + 1])]));
      return { route, params };
    }
  }
  return null;
}

async function render() {
  leaving.abort();
  leaving = new AbortController();
  const signal = leaving.signal;
  const { path, query } = parseHash();
  flash(pendingFlash ?? "");
  pendingFlash = null;
  drawNav(path);
  const found = match(path);
  main.setAttribute("aria-busy", "true");
  let content;
  if (!found) {
    content = notFound();
  } else if ((found.route.login || found.route.admin) && !currentAccount()) {
    const next = encodeURIComponent(location.hash || "#/");
    content = h(
      "section",
      {},
      h("h1", { tabindex: "-1" }, "Please log in"),
      h("p", {}, "This page needs an account. ", h("a", { href: `#/login?next=${next}` }, "Log in"), " or ",
        h("a", { href: "#/register" }, "register"), "."),
    );
  } else if (found.route.admin && !isAdmin()) {
    content = h("section", {}, h("h1", { tabindex: "-1" }, "Staff only"),
      h("p", { role: "alert" }, "This page is for the shop's staff (an admin account)."));
  } else {
    try {
      content = await found.route.page({ params: found.params, query, signal });
    } catch (error) {
      content = failure(error);
    }
  }
  if (signal.aborted) return; // another navigation started meanwhile
  main.replaceChildren(content);
  main.removeAttribute("aria-busy");
  const heading = main.querySelector("h1");
  document.title = heading ? `${heading.textContent} — Storefront` : "Storefront";
  heading?.focus({ preventScroll: true });
}

/** What a page that could not be drawn shows: the API's message, never a blank page. */
export function failure(error) {
  const message = error instanceof ApiError ? error.message : `Something went wrong in this page: ${error.message}`;
  return h(
    "section",
    {},
    h("h1", { tabindex: "-1" }, "This page could not be shown"),
    h("p", { class: "error", role: "alert" }, message),
    h("p", {}, h("a", { href: location.hash || "#/", onclick: () => render() }, "Try again"), " or go to the ",
      h("a", { href: "#/" }, "catalog"), "."),
  );
}

function notFound() {
  return h("section", {}, h("h1", { tabindex: "-1" }, "Page not found"),
    h("p", {}, "There is no such page. ", h("a", { href: "#/" }, "Back to the catalog"), "."));
}

function drawNav(path) {
  const account = currentAccount();
  const link = (href, text) => {
    const here = href === `#${path}` || (href !== "#/" && `#${path}`.startsWith(href + "/"));
    return h("li", {}, h("a", { href, "aria-current": here ? "page" : null }, text));
  };
  const items = [link("#/", "Catalog")];
  if (account) {
    items.push(link("#/cart", "Cart"), link("#/orders", "Orders"), link("#/notifications", "Notifications"));
    if (account.role === "admin") {
      items.push(link("#/staff/products", "Products"), link("#/staff/stock", "Stock"),
        link("#/staff/orders", "All orders"), link("#/staff/health", "Health"));
    }
    items.push(h("li", {}, h("button", {
      type: "button", class: "link", id: "logout",
      onclick: () => {
        logOut();
        navigate("#/", "You are logged out.");
      },
    }, `Log out ${account.name}`)));
  } else {
    items.push(link("#/login", "Log in"), link("#/register", "Register"));
  }
  document.getElementById("nav").replaceChildren(...items);
}

onSessionChange(() => drawNav(parseHash().path));
window.addEventListener("hashchange", render);
restoreSession().finally(render);

// The orders list (issue 18 item 5): the orders this user may see (GET /orders: a
// salesman his own, a manager his team's), newest first, each with where it stands (its
// least advanced line's stage), when it is expected and whether it is late; filtered by
// customer, salesman, state, due date and late only, a page at a time. An order's
// number opens its page (/backoffice/order?id=N). Customer names come from callers and
// other departments' files: text only (dom.h).
import { h, $, fill, options } from "./dom.js";
import { api } from "./api.js";
import { t, label, onLanguage } from "./i18n.js";
import { start, table, customerLink, loadList, users, userName } from "./office.js";
import { orderLink, stageTag, lateTag, day } from "./order_tags.js";

const PAGE = 50;
const STATUSES = ["open", "closed", "cancelled"];
const S = {
  session: null, items: [], total: 0, salesmen: [],
  f: { customer: "", owner_id: "", status: "open", due_before: "", late: false },
};

function row(o) {
  return h("tr", { dataset: { orderId: o.id, late: o.late ? "1" : "0" } },
    h("td", {}, orderLink(o)),
    h("td", { class: "wrap order-customer" }, customerLink(o.customer_id, o.customer_name)),
    h("td", {}, o.owner_name || "—"),
    h("td", {}, label("order_status", o.status)),
    h("td", {}, stageTag(o.stage)),
    h("td", {}, day(o.expected_on), o.late ? [" ", lateTag(true)] : null),
    h("td", {}, day(o.due_date)));
}

function filterForm() {
  const f = S.f;
  const customer = h("input", { id: "orders-customer", type: "search", value: f.customer, maxlength: "100" });
  const salesman = options(h("select", { id: "orders-salesman" }),
    [["", t("orders.anyone")], ...S.salesmen.map((u) => [u.id, userName(u)])], f.owner_id);
  const status = options(h("select", { id: "orders-status" }),
    [["", t("orders.any")], ...STATUSES.map((s) => [s, label("order_status", s)])], f.status);
  const due = h("input", { id: "orders-due-before", type: "date", value: f.due_before });
  const late = h("input", { id: "orders-late", type: "checkbox", checked: f.late });
  const form = h("form", { class: "bo-filters", id: "orders-filters", role: "search" },
    h("label", {}, h("span", {}, t("orders.customer")), customer),
    S.salesmen.length ? h("label", {}, h("span", {}, t("orders.salesman")), salesman) : null,
    h("label", {}, h("span", {}, t("orders.status")), status),
    h("label", {}, h("span", {}, t("orders.due_before")), due),
    h("label", { class: "inline" }, late, h("span", {}, t("orders.late_only"))),
    h("button", { type: "submit" }, t("pool.filter")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    S.f = { customer: customer.value.trim(), owner_id: salesman.value, status: status.value,
            due_before: due.value, late: late.checked };
    load(0);
  });
  return form;
}

function render() {
  fill($("#bo-content"),
    h("section", { class: "bo-block" }, filterForm(),
      h("p", { class: "summary", id: "orders-summary" }, t("orders.count", { n: S.total }), " · ",
        h("a", { href: "/backoffice/batches", id: "orders-board-link" }, t("orders.to_board"))),
      S.items.length
        ? table("orders-table", ["order.number", "orders.customer", "orders.salesman", "orders.status", "order.stage", "order.expected", "order.due"], S.items.map(row))
        : h("p", { class: "muted", id: "orders-empty" }, t("orders.empty")),
      S.items.length < S.total ? h("button", { type: "button", id: "orders-more", onclick: () => load(S.items.length) }, t("list.more")) : null));
}

async function load(offset) {
  const f = S.f;
  const query = { limit: PAGE, offset, customer: f.customer || undefined, owner_id: f.owner_id || undefined,
                  status: f.status || undefined, due_before: f.due_before || undefined, late: f.late ? true : undefined };
  await loadList(S, () => api("GET", "/orders", undefined, { query }), render, offset);
}

async function main() {
  S.session = await start("orders");
  if (!S.session) return;
  // the salesman filter needs the users list (users:read); without it the list works anyway
  if (S.session.can("users", "read")) {
    try {
      S.salesmen = await users();
    } catch (_err) {
      S.salesmen = [];
    }
  }
  onLanguage(render);
  await load(0);
}

main();

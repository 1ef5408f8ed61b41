// The 360 page of one customer: who they are, their numbers (click to dial),
// contacts, assets, every ticket and opportunity, and one timeline of their calls
// (outcome, agent, recording if the site keeps one) with the logs written about each
// call under it, and the other interactions with who wrote them (timeline.js).
// Editing is offered where the user's grants allow it; the API decides and audits.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, onLanguage, formatTime } from "./i18n.js";
import { boot } from "./session.js";
import { result, toast } from "./notify.js";
import { install as installHotkeys } from "./hotkeys.js";
import { initSearch } from "./search.js";
import * as R from "./render.js";
import { buildTimeline } from "./timeline.js";
import { phoneText } from "./phone.js";

const STATUSES = ["prospect", "active", "dormant", "lost"];
const EDITABLE = ["name", "category", "industry", "province", "city", "address"];
const PAGE = 50;
const S = {
  id: null, session: null, view: null, customer: null, tickets: [], opportunities: [],
  interactions: [], interactionsTotal: 0, calls: [], callsTotal: 0, canDial: false,
};

function customerId() {
  const m = /^\/records\/(\d+)$/.exec(location.pathname);
  return m ? Number(m[1]) : null;
}

async function load() {
  const id = S.id;
  const [view, customer, tickets, opportunities, interactions, calls] = await Promise.all([
    api("GET", `/customers/${id}/360`, undefined, { query: { interactions: 0 } }),
    api("GET", `/customers/${id}`).catch(() => null),
    api("GET", "/tickets", undefined, { query: { customer_id: id, limit: 100 } }).catch(() => ({ items: [] })),
    api("GET", "/opportunities", undefined, { query: { customer_id: id, limit: 100 } }).catch(() => ({ items: [] })),
    api("GET", `/customers/${id}/interactions`, undefined, { query: { limit: PAGE } }).catch(() => ({ items: [], total: 0 })),
    // no calls:read grant: the timeline has the interactions only
    api("GET", `/customers/${id}/calls`, undefined, { query: { limit: PAGE } }).catch(() => ({ items: [], total: 0 })),
  ]);
  S.view = view;
  S.customer = customer;
  S.tickets = tickets.items || [];
  S.opportunities = opportunities.items || [];
  S.interactions = interactions.items || [];
  S.interactionsTotal = interactions.total || S.interactions.length;
  S.calls = calls.items || [];
  S.callsTotal = calls.total || S.calls.length;
}

/** The next page of whichever list has older items (both, usually). */
async function moreTimeline() {
  try {
    const [interactions, calls] = await Promise.all([
      S.interactions.length < S.interactionsTotal
        ? api("GET", `/customers/${S.id}/interactions`, undefined, { query: { limit: PAGE, offset: S.interactions.length } }) : null,
      S.calls.length < S.callsTotal
        ? api("GET", `/customers/${S.id}/calls`, undefined, { query: { limit: PAGE, offset: S.calls.length } }) : null,
    ]);
    if (interactions) {
      S.interactions = S.interactions.concat(interactions.items || []);
      S.interactionsTotal = interactions.total;
    }
    if (calls) {
      S.calls = S.calls.concat(calls.items || []);
      S.callsTotal = calls.total;
    }
    render();
  } catch (err) {
    toast("error", describe(err));
  }
}

async function dial(number) {
  try {
    await api("POST", "/calls/dial", { number, customer_id: S.id });
    toast("ok", t("dial.sent", { number: phoneText(number) }));
  } catch (err) {
    toast("error", describe(err));
  }
}

function head() {
  const v = S.view;
  if (v.restricted) {
    return h("div", { class: "card restricted", id: "record-restricted" },
      h("h1", {}, t("pop.restricted_title")),
      h("p", {}, t("pop.restricted_owner", { owner: v.owner && v.owner.display_name ? v.owner.display_name : t("customer.no_owner") })));
  }
  const c = v.customer;
  const full = S.customer || {};
  const canEdit = S.session.can("customers", "update");
  return h("div", { class: "card record-head" },
    h("div", { class: "customer-title" },
      h("h1", { id: "customer-name" }, c.name || ""),
      R.vipBadge(c.vip_tier),
      h("span", { class: "tag" }, label("customer_status", c.status)),
      canEdit ? h("button", { type: "button", id: "edit-open", onclick: openEdit }, t("action.edit")) : null),
    h("dl", { class: "facts wide" },
      h("dt", {}, t("customer.owner")), h("dd", { id: "customer-owner" }, v.owner && v.owner.display_name ? v.owner.display_name : t("customer.no_owner")),
      h("dt", {}, t("customer.where")), h("dd", {}, [c.province, c.city].filter(Boolean).join(" · ") || "—"),
      h("dt", {}, t("customer.address")), h("dd", {}, full.address || "—"),
      h("dt", {}, t("customer.category")), h("dd", {}, [c.category, c.industry].filter(Boolean).join(" · ") || "—"),
      h("dt", {}, t("customer.source")), h("dd", {}, c.source || "—"),
      h("dt", {}, t("customer.kind")), h("dd", {}, label("customer_kind", c.kind))),
    v.phones && v.phones.length ? h("div", {}, h("h3", {}, t("customer.phones")), R.phonesList(v.phones, S.canDial ? dial : null)) : null);
}

function openEdit() {
  const form = $("#edit-form");
  const c = { ...(S.view.customer || {}), ...(S.customer || {}) };
  const inputs = {};
  const out = h("span", { class: "result", id: "edit-result", hidden: true });
  fill(form,
    h("h3", {}, t("record.edit_heading")),
    h("div", { class: "form-grid" },
      EDITABLE.map((key) => {
        inputs[key] = h("input", { id: `edit-${key}`, type: "text", maxlength: key === "address" ? "500" : "200", value: c[key] ?? "" });
        return h("label", {}, h("span", {}, t(`customer.${key === "name" ? "name" : key}`)), inputs[key]);
      }),
      h("label", {}, h("span", {}, t("customer.status")), inputs.status = options(h("select", { id: "edit-status" }), STATUSES.map((s) => [s, label("customer_status", s)]), c.status))),
    h("div", { class: "form-actions" },
      h("button", { type: "submit", class: "primary" }, t("action.save")),
      h("button", { type: "button", onclick: () => { form.hidden = true; } }, t("action.cancel")), out));
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const changes = {};
    for (const key of [...EDITABLE, "status"]) {
      const value = inputs[key].value.trim();
      const before = c[key] ?? "";
      if (value !== String(before)) changes[key] = value === "" && key !== "name" ? null : value;
    }
    if (!Object.keys(changes).length) return result(out, "info", t("record.no_change"));
    result(out, "busy", t("action.working"));
    try {
      await api("PATCH", `/customers/${S.id}`, changes);
      result(out, "ok", t("record.saved"));
      toast("ok", t("record.saved"));
      await load();
      render();
      form.hidden = true;
    } catch (err) {
      result(out, "error", describe(err));
    }
  };
  form.hidden = false;
  inputs.name.focus();
}

function noteForm() {
  const text = h("textarea", { id: "note-text", rows: "2" });
  const out = h("span", { class: "result", id: "note-result", hidden: true });
  return h("form", { id: "note-form", class: "form inline-note", novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    const content = text.value.trim();
    if (!content) return result(out, "error", t("error.required", { field: t("record.note") }));
    result(out, "busy", t("action.working"));
    try {
      await api("POST", `/customers/${S.id}/interactions`, { kind: "note", content });
      await load();
      render(); // a fresh form, the note in the list
      toast("ok", t("record.note_saved"));
    } catch (err) {
      result(out, "error", describe(err));
    }
  } }, h("label", {}, h("span", {}, t("record.note")), text), h("div", { class: "form-actions" }, h("button", { type: "submit" }, t("record.add_note")), out));
}

function render() {
  if (!S.view) return;
  fill($("#record-head"), head());
  document.title = `${S.view.customer ? S.view.customer.name : t("record.title")} · Hotline`;
  if (S.view.restricted) return fill($("#record-body"));
  const v = S.view;
  const assets = v.assets || [];
  const byId = new Map(assets.map((a) => [a.id, a]));
  const contacts = v.contacts || [];
  const more = { calls: S.calls.length < S.callsTotal, interactions: S.interactions.length < S.interactionsTotal };
  const line = buildTimeline(S.calls, S.interactions, more);
  fill($("#record-body"),
    h("div", { class: "col" },
      R.section(t("record.contacts"), contacts.length, h("table", { class: "grid" },
        h("thead", {}, h("tr", {}, ["contact.name", "contact.role", "contact.email"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, contacts.map((c) => h("tr", {}, h("td", {}, c.name || ""), h("td", {}, c.role || ""), h("td", {}, c.email || ""))))), { id: "record-contacts" }),
      R.section(t("pop.assets"), assets.length, R.assetsTable(assets), { id: "record-assets" }),
      R.section(t("record.tickets"), S.tickets.length, R.ticketsTable(S.tickets, byId, { link: true }), { id: "record-tickets" }),
      R.section(t("record.opportunities"), S.opportunities.length, R.opportunitiesTable(S.opportunities), { id: "record-opportunities" }),
      v.subscriptions && v.subscriptions.length ? R.section(t("record.subscriptions"), v.subscriptions.length, R.subscriptionsTable(v.subscriptions)) : null,
      v.open_orders && v.open_orders.length ? R.section(t("record.orders"), v.open_orders.length, ordersBlock(v.open_orders), { id: "record-orders" }) : null),
    h("div", { class: "col" },
      h("section", { class: "block", id: "record-timeline" },
        h("h3", {}, t("record.timeline"), h("span", { class: "count", title: t("record.timeline_counts") },
          ` ${t("record.timeline_count", { calls: S.callsTotal, interactions: S.interactionsTotal })}`)),
        noteForm(),
        line.entries.length ? R.timelineList(line.entries) : h("p", { class: "muted empty" }, t("list.empty")),
        more.calls || more.interactions ? h("button", { type: "button", id: "timeline-more", onclick: moreTimeline }, t("list.more")) : null)));
}

/** The open orders, each with its batches' stages on demand (issue 18: the 360 page
 * shows each order's timeline; read only when opened, with the reader's own rights). */
function ordersBlock(items) {
  return h("div", {}, R.ordersTable(items), items.map((o) => {
    const body = h("div", { class: "order-detail" });
    return h("details", { class: "order-timeline-block", dataset: { orderId: o.id },
      ontoggle: async (ev) => {
        if (!ev.target.open || body.dataset.loaded) return;
        try {
          fill(body, R.orderTimeline(await api("GET", `/orders/${Number(o.id)}`)),
            h("a", { href: `/backoffice/order?id=${Number(o.id)}`, class: "order-page-link" }, t("orders.open_page")));
          body.dataset.loaded = "1";
        } catch (err) {
          fill(body, h("p", { class: "muted" }, describe(err)));
        }
      } },
      h("summary", {}, `${t("order.timeline")} · ${o.number}`), body);
  }));
}

async function main() {
  S.id = customerId();
  try {
    S.session = await boot();
  } catch (err) {
    result($("#record-result"), "error", describe(err));
    return;
  }
  initSearch({});
  installHotkeys({ search: () => $("#search").focus() });
  onLanguage(render);
  try {
    await load();
  } catch (err) {
    result($("#record-result"), "error", err.status === 404 ? t("record.not_found") : describe(err));
    return;
  }
  try {
    await api("GET", "/agent/state", undefined, { allow401: true });
    S.canDial = true;
  } catch {
    S.canDial = false; // not an agent (or the call controls are not there): no dial buttons
  }
  render();
  document.body.dataset.loaded = "1";
}

main();

// The call log itself (issue 16 item 5), a view of the reports page (kpi.js): the calls of a
// period (GET /reports/calls) filtered by direction, queue, number dialled, agent, customer,
// caller, result/outcome, disposition, wait and talk, a page at a time (the server's keyset
// cursor; the cursors of the pages before are kept here for "newer"), newest or oldest
// first, with the filter's total. CSV / Excel downloads of the same filter are plain links,
// offered only with reports:export (the API refuses a file without it anyway). Times are
// China time, as the reports count them. Every value goes in as text (dom.h).
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, language } from "./i18n.js";
import { result } from "./notify.js";
import { table, phoneCell, customerLink } from "./office.js";

const DIRECTIONS = ["", "inbound", "outbound"];
const RESULTS = ["", "answered", "abandoned", "other"];
const OUTCOMES = ["", "answered", "transferred", "abandoned", "no-answer", "failed", "ivr-only"];
const DISPOSITIONS = ["", "inquiry", "repair", "complaint", "order-status", "sales-lead", "other"];
const ORDERS = ["desc", "asc"];
const TEXT = ["queue", "did", "agent", "caller"];
const NUMBERS = ["customer_id", "min_wait", "max_wait", "min_talk", "max_talk"];
const CHOICES = { direction: DIRECTIONS, result: RESULTS, outcome: OUTCOMES, disposition: DISPOSITIONS };
const PAGE = 50;

const initial = new URLSearchParams(location.search);
const C = { data: null, cursors: [], order: ORDERS.includes(initial.get("order")) ? initial.get("order") : "desc", filters: {} };
for (const k of [...TEXT, ...NUMBERS]) C.filters[k] = initial.get(k) || "";
for (const [k, allowed] of Object.entries(CHOICES)) C.filters[k] = allowed.includes(initial.get(k)) ? initial.get(k) : "";

const dash = (v) => (v === null || v === undefined || v === "" ? "—" : String(v));
const secs = (v) => (v === null || v === undefined ? "—" : t("kpi.seconds", { n: v }));
const num = (v) => h("td", { class: "num" }, v);
// China time whatever the browser's zone: the periods are China days
const chinaTime = (iso) => (iso ? new Date(iso).toLocaleString("sv-SE", { timeZone: "Asia/Shanghai" }) : "—");

function query(P, format) {
  const q = { from: P.from || undefined, to: P.to || undefined, order: C.order, lang: language(), format };
  for (const [k, v] of Object.entries(C.filters)) if (v !== "") q[k] = v;
  return q;
}

function href(P, format) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query(P, format))) if (v !== undefined) params.set(k, v);
  return `/api/v1/reports/calls?${params}`;
}

function downloads(P) {
  if (!P.session.can("reports", "export")) return null;
  return h("span", { class: "bo-links", id: "calls-dl" }, ["csv", "xlsx"].map((fmt) =>
    h("a", { class: "button", id: `calls-dl-${fmt}`, href: href(P, fmt), download: "" }, t(`exports.as_${fmt}`))));
}

function choice(name, values, label) {
  return options(h("select", { id: `calls-${name}`, name }), values.map((v) => [v, v ? label(v) : t("calls.any")]), C.filters[name]);
}

function form(P) {
  const from = h("input", { id: "kpi-from", type: "date", value: P.from || "" });
  const to = h("input", { id: "kpi-to", type: "date", value: P.to || "" });
  const field = (name, props = {}) => h("input", { id: `calls-${name}`, name, value: C.filters[name], ...props });
  const sec = (name) => field(name, { type: "number", min: 0, step: 1, class: "narrow" });
  const order = options(h("select", { id: "calls-order" }), ORDERS.map((o) => [o, t(`calls.order.${o}`)]), C.order);
  const label = (key, ...inputs) => h("label", {}, h("span", {}, t(key)), ...inputs);
  const f = h("form", { class: "bo-filters", id: "calls-form" },
    label("kpi.report", P.viewSelect),
    label("kpi.from", from), label("kpi.to", to),
    label("calls.direction", choice("direction", DIRECTIONS, (v) => t(`calls.direction.${v}`))),
    label("kpi.col.queue", field("queue", { size: 10 })),
    label("kpi.col.number", field("did", { size: 14 })),
    label("kpi.col.agent", field("agent", { size: 12 })),
    label("calls.customer_id", field("customer_id", { type: "number", min: 1, step: 1, class: "narrow" })),
    label("calls.caller", field("caller", { size: 14 })),
    label("calls.result", choice("result", RESULTS, (v) => t(`calls.result.${v}`))),
    label("call.outcome", choice("outcome", OUTCOMES, (v) => t(`outcome.${v}`))),
    label("log.disposition", choice("disposition", DISPOSITIONS, (v) => t(`disposition.${v}`))),
    label("calls.wait_between", sec("min_wait"), sec("max_wait")),
    label("calls.talk_between", sec("min_talk"), sec("max_talk")),
    label("calls.order", order),
    h("button", { type: "submit" }, t("kpi.show")));
  f.addEventListener("submit", (ev) => {
    ev.preventDefault();
    for (const el of f.querySelectorAll("[name]")) C.filters[el.name] = el.value.trim();
    C.order = order.value;
    P.onPeriod(from.value, to.value);
    C.cursors = [];
    load(P);
  });
  return f;
}

function row(r) {
  const customer = r.customer_id ? customerLink(r.customer_id, r.customer_name) : "—";
  return h("tr", { dataset: { linkedid: r.linkedid } },
    h("td", { class: "mono" }, chinaTime(r.ended_at)),
    h("td", {}, t(`calls.direction.${r.direction}`)),
    phoneCell("td", r.caller),
    h("td", { class: "wrap" }, dash(r.caller_name)),
    phoneCell("td", r.did),
    h("td", {}, dash(r.queue)),
    h("td", {}, r.agent_name ? `${r.agent_name} (${r.agent_interface})` : dash(r.agent_interface)),
    h("td", { dataset: { outcome: r.outcome } }, t(`outcome.${r.outcome}`)),
    num(secs(r.wait_s)), num(secs(r.talk_s)),
    h("td", { class: "wrap" }, customer),
    h("td", {}, r.disposition ? t(`disposition.${r.disposition}`) : "—"));
}

function pager(P) {
  const d = C.data;
  const first = C.cursors.length * PAGE;
  const shown = d.items.length ? t("calls.page", { a: first + 1, b: first + d.items.length, n: d.total }) : "";
  const newer = h("button", { type: "button", id: "calls-prev", disabled: C.cursors.length === 0 }, t("calls.prev"));
  const older = h("button", { type: "button", id: "calls-next", disabled: !d.next }, t("calls.next"));
  newer.addEventListener("click", () => { C.cursors.pop(); load(P); });
  older.addEventListener("click", () => { C.cursors.push(d.next); load(P); });
  return h("div", { class: "bo-pager", id: "calls-pager" }, h("span", { class: "muted", id: "calls-shown" }, shown), newer, older);
}

function render(P) {
  const d = C.data;
  fill($("#bo-content"),
    h("section", { class: "bo-block" }, form(P),
      d ? h("div", { class: "bo-pair-head" },
        h("p", { class: "summary", id: "kpi-summary" }, t("calls.summary", { n: d.total, from: d.from, to: d.to })),
        downloads(P)) : null),
    d && !d.items.length ? h("section", { class: "bo-block" }, h("p", { class: "muted", id: "kpi-empty" }, t("calls.empty"))) : null,
    d && d.items.length ? h("section", { class: "bo-block", id: "kpi-calls" },
      table("calls-table", ["calls.col.ended", "calls.direction", "calls.caller", "calls.col.caller_name", "kpi.col.number",
        "kpi.col.queue", "kpi.col.agent", "call.outcome", "calls.col.wait", "kpi.talk", "calls.col.customer", "log.disposition"],
      d.items.map(row)), pager(P)) : null);
}

async function load(P) {
  const out = $("#bo-result");
  result(out, "busy", t("action.working"));
  try {
    const q = query(P, "json");
    delete q.format;
    q.limit = PAGE;
    const after = C.cursors[C.cursors.length - 1];
    if (after) q.after = after;
    const data = await api("GET", "/reports/calls", undefined, { query: q });
    C.data = data;
    P.onPeriod(data.from, data.to);
    result(out, "", "");
    render(P);
    document.body.dataset.loaded = "1";
    document.body.dataset.view = "calls";
  } catch (err) {
    result(out, "error", describe(err));
  }
}

/** Show the call log in the reports page. ``P``: the signed-in ``session``, the page's
 * ``viewSelect`` (to leave for another report), the period ``from``/``to`` and
 * ``onPeriod(from, to)`` to keep the page's period in step. */
export async function showCalls(P) {
  await load(P);
}

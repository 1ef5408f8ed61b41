// The call centre's reports (issue 16 item 5), one view at a time: the interval report
// per queue, number dialled or the whole hotline (GET /reports/kpi/intervals), agent
// performance (/agents), abandon analysis (/abandons), callbacks (/callbacks) and IVR
// containment (/ivr); each a chart (charts.js: chart.js, served by Hotline) and a table,
// with the formulas stated as the server words them (crm_core.kpi.FORMULAS). The figures
// are the wallboard's definitions. CSV / Excel downloads are plain links, offered only with
// reports:export (the API refuses a file without it anyway). Every value goes in as text.
// The page opens on ?view=&from=&to=&interval=&by= when given (a link to a report). The
// call log ("calls") is its own view with its own filters (calllog.js).
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, language, onLanguage } from "./i18n.js";
import { result } from "./notify.js";
import { start, table } from "./office.js";
import { chart, clearCharts } from "./charts.js";
import { showCalls } from "./calllog.js";

const VIEWS = ["intervals", "agents", "abandons", "callbacks", "ivr", "calls"];
const INTERVALS = ["15m", "30m", "60m", "day", "month"];
const GROUPS = ["queue", "did", "all"];
const initial = new URLSearchParams(location.search);
const S = {
  session: null, data: null,
  view: VIEWS.includes(initial.get("view")) ? initial.get("view") : "intervals",
  interval: INTERVALS.includes(initial.get("interval")) ? initial.get("interval") : "60m",
  by: GROUPS.includes(initial.get("by")) ? initial.get("by") : "queue", from: initial.get("from") || "", to: initial.get("to") || "",
};

const dash = (v) => (v === null || v === undefined ? "—" : String(v));
const pct = (v) => (v === null || v === undefined ? "—" : `${v}%`);
const secs = (v) => (v === null || v === undefined ? "—" : t("kpi.seconds", { n: v }));
const num = (v) => h("td", { class: "num" }, v);

function query(format) {
  const q = { from: S.from || undefined, to: S.to || undefined, lang: language(), format };
  if (S.view === "intervals") Object.assign(q, { interval: S.interval, by: S.by });
  if (S.view === "ivr") q.interval = S.interval === "15m" || S.interval === "30m" || S.interval === "60m" ? "day" : S.interval;
  return q;
}

function href(format) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query(format))) if (v !== undefined) params.set(k, v);
  return `/api/v1/reports/kpi/${S.view}?${params}`;
}

function downloads() {
  if (!S.session.can("reports", "export")) return null;
  return h("span", { class: "bo-links", id: "kpi-dl" }, ["csv", "xlsx"].map((fmt) =>
    h("a", { class: "button", id: `kpi-dl-${fmt}`, href: href(fmt), download: "" }, t(`exports.as_${fmt}`))));
}

function viewSelect(read) {
  const view = options(h("select", { id: "kpi-view" }), VIEWS.map((v) => [v, t(`kpi.view.${v}`)]), S.view);
  view.addEventListener("change", () => { read(view.value); S.data = null; load(); });
  return view;
}

function form() {
  const view = viewSelect((v) => { S.view = v; read(); });
  const from = h("input", { id: "kpi-from", type: "date", value: S.from });
  const to = h("input", { id: "kpi-to", type: "date", value: S.to });
  const interval = options(h("select", { id: "kpi-interval" }), INTERVALS.map((i) => [i, t(`kpi.interval.${i}`)]), S.interval);
  const by = options(h("select", { id: "kpi-by" }), GROUPS.map((g) => [g, t(`kpi.by.${g}`)]), S.by);
  const f = h("form", { class: "bo-filters", id: "kpi-form" },
    h("label", {}, h("span", {}, t("kpi.report")), view),
    h("label", {}, h("span", {}, t("kpi.from")), from),
    h("label", {}, h("span", {}, t("kpi.to")), to),
    S.view === "intervals" || S.view === "ivr" ? h("label", {}, h("span", {}, t("kpi.interval")), interval) : null,
    S.view === "intervals" ? h("label", {}, h("span", {}, t("kpi.by")), by) : null,
    h("button", { type: "submit" }, t("kpi.show")));
  const read = () => Object.assign(S, { view: view.value, from: from.value, to: to.value, interval: interval.value, by: by.value });
  f.addEventListener("submit", (ev) => { ev.preventDefault(); read(); load(); });
  return f;
}

function keyLabel(key) {
  if (key === "*") return t("kpi.by.all");
  if (key === null || key === undefined || key === "") {
    // per queue, the calls no queue saw: the IVR finished them (or they failed before)
    return S.view === "intervals" && S.data.by === "queue" ? t("kpi.no_queue") : t("kpi.none");
  }
  return String(key);
}

function shortTime(iso) {
  // the interval's start as the server wrote it (Shanghai time): no conversion
  const s = String(iso);
  if (S.data.interval === "month") return s.slice(0, 7);
  if (S.data.interval === "day") return s.slice(0, 10);
  return `${s.slice(5, 10)} ${s.slice(11, 16)}`;
}

function sumBy(items, key, fields) {
  const out = new Map();
  for (const r of items) {
    const k = key(r);
    const acc = out.get(k) || Object.fromEntries(fields.map((f) => [f, 0]));
    for (const f of fields) acc[f] += r[f] || 0;
    out.set(k, acc);
  }
  return out;
}

function formulas(d) {
  const names = ["sl", "sl2", "abandon_rate", "asa", "aht", "occupancy"];
  return h("ul", { class: "kpi-formulas muted", id: "kpi-formulas" }, names.map((n) => h("li", { dataset: { formula: n } }, d.formulas[n])));
}

function intervalsView(d) {
  const slots = sumBy(d.items, (r) => r.interval, ["answered", "abandoned", "short_abandoned", "timed_out"]);
  const labels = [...slots.keys()].map(shortTime);
  return [
    chart("kpi-chart", t("kpi.chart.intervals"), { labels, stacked: true, series: [
      { label: t("kpi.answered"), data: [...slots.values()].map((v) => v.answered) },
      { label: t("kpi.abandoned"), data: [...slots.values()].map((v) => v.abandoned) },
      { label: t("kpi.short_abandoned"), data: [...slots.values()].map((v) => v.short_abandoned) },
      { label: t("kpi.timed_out"), data: [...slots.values()].map((v) => v.timed_out) },
    ] }),
    table("kpi-table", ["kpi.col.interval", "kpi.col.group", "kpi.offered", "kpi.answered", "kpi.abandoned", "kpi.short_abandoned",
      "kpi.sl", "kpi.sl2", "kpi.abandon_rate", "kpi.asa", "kpi.aht"], d.items.map((r) =>
      h("tr", { dataset: { key: r.key ?? "" } }, h("td", { class: "mono" }, shortTime(r.interval)), h("td", {}, keyLabel(r.key)),
        num(r.offered), num(r.answered), num(r.abandoned), num(r.short_abandoned),
        num(pct(r.sl)), num(pct(r.sl2)), num(pct(r.abandon_rate)), num(secs(r.asa_s)), num(secs(r.aht_s))))),
    formulas(d),
  ];
}

function agentName(r) {
  return r.name ? `${r.name} (${r.agent})` : r.agent;
}

function pauses(p) {
  const parts = Object.entries(p || {}).map(([reason, s]) => `${reason || t("kpi.no_reason")}: ${secs(s)}`);
  return parts.length ? parts.join(", ") : "—";
}

function agentsView(d) {
  return [
    chart("kpi-chart", t("kpi.chart.agents"), { labels: d.items.map(agentName), horizontal: true, series: [
      { label: t("kpi.answered"), data: d.items.map((r) => r.answered) },
    ] }),
    table("kpi-table", ["kpi.col.agent", "kpi.col.team", "kpi.answered", "kpi.talk", "kpi.aht", "kpi.occupancy",
      "kpi.signed_in", "kpi.paused", "kpi.pauses", "kpi.satisfaction_count", "kpi.satisfaction_mean"], d.items.map((r) =>
      h("tr", { dataset: { key: r.agent } }, h("td", {}, agentName(r)), h("td", {}, dash(r.team)),
        num(r.answered), num(secs(r.talk_s)), num(secs(r.aht_s)), num(pct(r.occupancy)),
        num(secs(r.signed_in_s)), num(secs(r.paused_s)), h("td", { class: "wrap" }, pauses(r.pauses)),
        num(r.satisfaction_count), num(dash(r.satisfaction_mean))))),
    formulas(d),
  ];
}

function abandonsView(d) {
  return [
    h("div", { class: "bo-charts" },
      chart("kpi-chart", t("kpi.chart.when"), { labels: d.when.map((r) => `${String(r.hour).padStart(2, "0")}:00`), stacked: true, series: [
        { label: t("kpi.abandoned"), data: d.when.map((r) => r.abandoned - r.short_abandoned) },
        { label: t("kpi.short_abandoned"), data: d.when.map((r) => r.short_abandoned) },
      ] }),
      chart("kpi-chart-waits", t("kpi.chart.waits"), { labels: d.waits.map((r) => r.band), series: [
        { label: t("kpi.abandoned"), data: d.waits.map((r) => r.abandoned) },
      ] })),
    h("p", { class: "muted" }, t("kpi.short_rule", { s: d.short_abandon_s })),
    table("kpi-table", ["kpi.col.hour", "kpi.offered", "kpi.abandoned_all", "kpi.short_abandoned", "kpi.share"], d.when.map((r) =>
      h("tr", { dataset: { key: r.hour } }, h("td", { class: "mono" }, `${String(r.hour).padStart(2, "0")}:00`),
        num(r.offered), num(r.abandoned), num(r.short_abandoned), num(pct(r.share))))),
    table("kpi-table-waits", ["kpi.col.wait", "kpi.abandoned_all", "kpi.short_abandoned", "kpi.share"], d.waits.map((r) =>
      h("tr", { dataset: { key: r.band } }, h("td", { class: "mono" }, r.band), num(r.abandoned), num(r.short_abandoned), num(pct(r.share))))),
  ];
}

function callbacksView(d) {
  const days = sumBy(d.items, (r) => r.day, ["kept", "failed", "cancelled", "pending"]);
  const series = ["kept", "failed", "cancelled", "pending"].map((f) => ({ label: t(`kpi.cb.${f}`), data: [...days.values()].map((v) => v[f]) }));
  const row = (r, first) => [first, num(r.asked), num(r.kept), num(r.failed), num(r.cancelled), num(r.pending), num(pct(r.kept_rate))];
  const grid = table("kpi-table", ["kpi.col.day", "kpi.col.queue", "kpi.cb.asked", "kpi.cb.kept", "kpi.cb.failed", "kpi.cb.cancelled",
    "kpi.cb.pending", "kpi.cb.kept_rate"], d.items.map((r) =>
    h("tr", { dataset: { key: `${r.day} ${r.queue}` } }, h("td", { class: "mono" }, r.day), row(r, h("td", {}, r.queue)))));
  grid.append(h("tfoot", {}, h("tr", { id: "kpi-total" }, h("th", { colspan: 2 }, t("kpi.total")), row(d.total, null))));
  return [chart("kpi-chart", t("kpi.chart.callbacks"), { labels: [...days.keys()], stacked: true, series }),
    h("p", { class: "muted" }, t("kpi.cb.rule")), grid];
}

function ivrView(d) {
  const numbers = sumBy(d.items, (r) => keyLabel(r.key), ["ivr_only", "offered", "inbound"]);
  return [
    chart("kpi-chart", t("kpi.chart.ivr"), { labels: [...numbers.keys()], stacked: true, series: [
      { label: t("kpi.ivr_only"), data: [...numbers.values()].map((v) => v.ivr_only) },
      { label: t("kpi.to_agent"), data: [...numbers.values()].map((v) => v.offered) },
    ] }),
    h("p", { class: "muted" }, t("kpi.ivr_rule")),
    table("kpi-table", ["kpi.col.interval", "kpi.col.number", "kpi.inbound", "kpi.ivr_only", "kpi.to_agent", "kpi.self_service"], d.items.map((r) =>
      h("tr", { dataset: { key: r.key ?? "" } }, h("td", { class: "mono" }, shortTime(r.interval)), h("td", { class: "mono" }, keyLabel(r.key)),
        num(r.inbound), num(r.ivr_only), num(r.offered), num(pct(r.ivr_self_service))))),
  ];
}

const DRAW = { intervals: intervalsView, agents: agentsView, abandons: abandonsView, callbacks: callbacksView, ivr: ivrView };

function empty(d) {
  if (S.view === "abandons") return !d.when.some((r) => r.offered || r.abandoned);
  return !d.items.length;
}

function render() {
  clearCharts();
  const d = S.data;
  fill($("#bo-content"),
    h("section", { class: "bo-block" }, form(),
      d ? h("div", { class: "bo-pair-head" },
        h("p", { class: "summary", id: "kpi-summary" }, t("kpi.summary", { view: t(`kpi.view.${S.view}`), from: d.from, to: d.to })),
        downloads()) : null),
    d && empty(d) ? h("section", { class: "bo-block" }, h("p", { class: "muted", id: "kpi-empty" }, t("kpi.empty"))) : null,
    d && !empty(d) ? h("section", { class: "bo-block", id: `kpi-${S.view}` }, DRAW[S.view](d)) : null);
}

function calls() {
  clearCharts();
  return showCalls({
    session: S.session, get from() { return S.from; }, get to() { return S.to; },
    viewSelect: viewSelect((v) => { S.view = v; }),
    onPeriod: (from, to) => Object.assign(S, { from, to }),
  });
}

async function load() {
  if (S.view === "calls") return calls();
  const out = $("#bo-result");
  result(out, "busy", t("action.working"));
  try {
    const q = query("json");
    delete q.format;
    const data = await api("GET", `/reports/kpi/${S.view}`, undefined, { query: q });
    Object.assign(S, { data, from: data.from, to: data.to });
    result(out, "", "");
    render();
    document.body.dataset.loaded = "1";
    document.body.dataset.view = S.view;
  } catch (err) {
    result(out, "error", describe(err));
  }
}

async function main() {
  S.session = await start("kpi");
  if (!S.session) return;
  render();
  onLanguage(load);  // the formulas come from the server in the page's language
  await load();
}

main();

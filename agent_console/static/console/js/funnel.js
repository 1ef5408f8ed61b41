// The sales pipeline (issue 18 item 3), one view at a time: the funnel per salesman, team
// or month (GET /reports/sales/funnel: per stage the deals that got that far, the
// conversion to the next stage, the mean days spent in it), won amounts and margins per
// salesman (/salesmen), sales by product line, customer source or region (/by), and the
// customers who bought a product (/buyers). Charts by charts.js (chart.js served by
// Hotline), tables beside them; CSV / Excel links only with reports:export (the API
// refuses a file without it anyway). Names and titles go in as text, never markup.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, language, onLanguage } from "./i18n.js";
import { result } from "./notify.js";
import { start, table } from "./office.js";
import { chart, clearCharts } from "./charts.js";

const VIEWS = ["funnel", "salesmen", "by", "buyers"];
const GROUPS = ["salesman", "team", "month", "all"];
const DIMENSIONS = ["product_line", "source", "region"];
const CHAIN = ["lead", "qualified", "proposal", "won"];
const STAGES = [...CHAIN, "lost"];
const MAX_SERIES = 8;
const thisMonth = () => new Date().toISOString().slice(0, 7);
const initial = new URLSearchParams(location.search);
const S = {
  session: null, data: null, salesmen: new Map(), teams: new Set(),
  view: VIEWS.includes(initial.get("view")) ? initial.get("view") : "funnel",
  by: GROUPS.includes(initial.get("by")) ? initial.get("by") : "salesman",
  dimension: DIMENSIONS.includes(initial.get("dimension")) ? initial.get("dimension") : "product_line",
  from: initial.get("from") || "", to: initial.get("to") || "",
  owner: initial.get("owner_id") || "", team: initial.get("team") || "", product: initial.get("product") || "",
};

const dash = (v) => (v === null || v === undefined ? "—" : String(v));
const pct = (v) => (v === null || v === undefined ? "—" : `${Math.round(v * 1000) / 10}%`);
const money = (v) => (v === null || v === undefined ? "—" : Number(v).toLocaleString(language(), { minimumFractionDigits: 2, maximumFractionDigits: 2 }));
const days = (v) => (v === null || v === undefined ? "—" : t("funnel.days", { n: v }));
const num = (v) => h("td", { class: "num" }, v);

function query(format) {
  if (S.view === "buyers") return { product: S.product, lang: language(), format };
  const q = { from: S.from || undefined, to: S.to || undefined, owner_id: S.owner || undefined, team: S.team || undefined, lang: language(), format };
  if (S.view === "funnel") q.by = S.by;
  if (S.view === "by") q.dimension = S.dimension;
  return q;
}

function href(format) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query(format))) if (v !== undefined) params.set(k, v);
  return `/api/v1/reports/sales/${S.view}?${params}`;
}

function downloads() {
  if (!S.session.can("reports", "export")) return null;
  return h("span", { class: "bo-links", id: "funnel-dl" }, ["csv", "xlsx"].map((fmt) =>
    h("a", { class: "button", id: `funnel-dl-${fmt}`, href: href(fmt), download: "" }, t(`exports.as_${fmt}`))));
}

function form() {
  const view = options(h("select", { id: "funnel-view" }), VIEWS.map((v) => [v, t(`funnel.view.${v}`)]), S.view);
  const from = h("input", { id: "funnel-from", type: "month", value: S.from, placeholder: "YYYY-MM" });
  const to = h("input", { id: "funnel-to", type: "month", value: S.to, placeholder: "YYYY-MM" });
  const owner = options(h("select", { id: "funnel-owner" }),
    [["", t("funnel.any_salesman")], ...[...S.salesmen].map(([id, name]) => [id, name])], S.owner);
  const team = options(h("select", { id: "funnel-team" }),
    [["", t("funnel.any_team")], ...[...S.teams].sort().map((x) => [x, x])], S.team);
  const by = options(h("select", { id: "funnel-by" }), GROUPS.map((g) => [g, t(`funnel.by.${g}`)]), S.by);
  const dim = options(h("select", { id: "funnel-dimension" }), DIMENSIONS.map((d) => [d, t(`funnel.dim.${d}`)]), S.dimension);
  const product = h("input", { id: "funnel-product", type: "search", maxlength: "200", value: S.product, placeholder: t("funnel.product_hint") });
  const periodic = S.view !== "buyers";
  const f = h("form", { class: "bo-filters", id: "funnel-form" },
    h("label", {}, h("span", {}, t("funnel.report")), view),
    periodic ? h("label", {}, h("span", {}, t("funnel.from")), from) : null,
    periodic ? h("label", {}, h("span", {}, t("funnel.to")), to) : null,
    periodic ? h("label", {}, h("span", {}, t("funnel.salesman")), owner) : null,
    periodic ? h("label", {}, h("span", {}, t("funnel.team")), team) : null,
    S.view === "funnel" ? h("label", {}, h("span", {}, t("funnel.group_by")), by) : null,
    S.view === "by" ? h("label", {}, h("span", {}, t("funnel.dimension")), dim) : null,
    S.view === "buyers" ? h("label", {}, h("span", {}, t("funnel.product")), product) : null,
    h("button", { type: "submit", id: "funnel-show" }, t("funnel.show")));
  const read = () => Object.assign(S, { view: view.value, from: from.value, to: to.value, owner: owner.value, team: team.value,
    by: by.value, dimension: dim.value, product: product.value.trim() });
  view.addEventListener("change", () => { read(); S.data = null; load(); });
  f.addEventListener("submit", (ev) => { ev.preventDefault(); read(); load(); });
  return f;
}

function stageName(stage) {
  return t(`stage.${stage}`);
}

function funnelView(d) {
  const shown = d.items.slice(0, MAX_SERIES);
  const blocks = d.items.map((g) => {
    const s = Object.fromEntries(g.stages.map((x) => [x.stage, x]));
    return h("div", { class: "funnel-group", dataset: { key: g.key ?? "" } },
      h("h3", {}, g.label, " ", h("span", { class: "muted small" },
        t("funnel.group_summary", { deals: g.deals, won: g.won, amount: money(g.won_amount), rate: pct(g.win_rate) }))),
      table(`funnel-table-${d.items.indexOf(g)}`, ["funnel.col.stage", "funnel.col.now", "funnel.col.amount", "funnel.col.reached",
        "funnel.col.conversion", "funnel.col.mean_days"], STAGES.map((st) =>
        h("tr", { dataset: { stage: st } }, h("td", {}, stageName(st)), num(s[st].count), num(money(s[st].amount)),
          num(s[st].reached), num(pct(s[st].conversion)), num(days(s[st].mean_days))))));
  });
  return [
    h("div", { class: "bo-charts" },
      chart("funnel-chart", t("funnel.chart.reached"), { labels: CHAIN.map(stageName), series: shown.map((g) => ({
        label: g.label, data: CHAIN.map((st) => g.stages.find((x) => x.stage === st).reached) })) }),
      chart("funnel-chart-days", t("funnel.chart.days"), { labels: CHAIN.slice(0, 3).map(stageName), series: shown.map((g) => ({
        label: g.label, data: CHAIN.slice(0, 3).map((st) => g.stages.find((x) => x.stage === st).mean_days) })) })),
    h("p", { class: "muted" }, t("funnel.rule")),
    h("div", { id: "funnel-groups" }, blocks),
  ];
}

function salesmenView(d) {
  return [
    chart("funnel-chart", t("funnel.chart.salesmen"), { labels: d.items.map((r) => r.label), horizontal: true, series: [
      { label: t("funnel.col.won_amount"), data: d.items.map((r) => r.won_amount) },
      { label: t("funnel.col.sales"), data: d.items.map((r) => r.sales) },
      { label: t("funnel.col.margin"), data: d.items.map((r) => r.margin ?? 0) },
    ] }),
    h("p", { class: "muted" }, t("funnel.margin_rule")),
    table("funnel-table", ["funnel.col.salesman", "funnel.col.team", "funnel.col.won", "funnel.col.won_amount", "funnel.col.orders",
      "funnel.col.sales", "funnel.col.costed", "funnel.col.margin", "funnel.col.margin_rate"], d.items.map((r) =>
      h("tr", { dataset: { key: r.key ?? "" } }, h("td", {}, r.label), h("td", {}, dash(r.team)), num(r.won), num(money(r.won_amount)),
        num(r.orders), num(money(r.sales)), num(pct(r.costed_share)), num(money(r.margin)), num(pct(r.margin_rate))))),
  ];
}

function byView(d) {
  return [
    chart("funnel-chart", t(`funnel.dim.${d.dimension}`), { labels: d.items.map((r) => r.label), series: [
      { label: t("funnel.col.sales"), data: d.items.map((r) => r.sales) },
    ] }),
    table("funnel-table", ["funnel.col.group", "funnel.col.orders", "funnel.col.customers", "funnel.col.quantity", "funnel.col.sales"],
      d.items.map((r) => h("tr", { dataset: { key: r.key ?? "" } }, h("td", {}, r.label), num(r.orders), num(r.customers),
        num(r.quantity), num(money(r.sales))))),
  ];
}

function buyersView(d) {
  return [
    h("p", { class: "muted" }, t("funnel.buyers_of", { product: d.product })),
    table("funnel-table", ["funnel.col.customer", "funnel.col.quantity", "funnel.col.sales", "funnel.col.orders", "funnel.col.last_on"],
      d.items.map((r) => h("tr", { dataset: { key: r.customer_id } },
        h("td", {}, h("a", { href: `/records/${Number(r.customer_id)}` }, r.customer_name)),
        num(r.quantity), num(money(r.sales)), num(r.orders), h("td", { class: "mono" }, r.last_on)))),
  ];
}

const DRAW = { funnel: funnelView, salesmen: salesmenView, by: byView, buyers: buyersView };

function summary(d) {
  if (S.view === "buyers") return t("funnel.summary_buyers", { n: d.items.length });
  return t("funnel.summary", { view: t(`funnel.view.${S.view}`), from: d.from, to: d.to });
}

function render() {
  clearCharts();
  const d = S.data;
  fill($("#bo-content"),
    h("section", { class: "bo-block" }, form(),
      d ? h("div", { class: "bo-pair-head" }, h("p", { class: "summary", id: "funnel-summary" }, summary(d)), downloads()) : null),
    d && !d.items.length ? h("section", { class: "bo-block" }, h("p", { class: "muted", id: "funnel-empty" }, t("funnel.empty"))) : null,
    d && d.items.length ? h("section", { class: "bo-block", id: `funnel-${S.view}` }, DRAW[S.view](d)) : null);
}

function remember(d) {
  // the salesmen and teams seen so far fill the filters (no users:read needed)
  if (S.view === "funnel" && d.by === "salesman") for (const g of d.items) if (g.key) S.salesmen.set(g.key, g.label);
  if (S.view === "funnel" && d.by === "team") for (const g of d.items) S.teams.add(g.label);
  if (S.view === "salesmen") for (const r of d.items) { if (r.key) S.salesmen.set(r.key, r.label); if (r.team) S.teams.add(r.team); }
}

async function load() {
  const out = $("#bo-result");
  if (S.view === "buyers" && !S.product) {
    S.data = null;
    render();
    return result(out, "info", t("funnel.product_first"));
  }
  result(out, "busy", t("action.working"));
  try {
    const q = query("json");
    delete q.format;
    const data = await api("GET", `/reports/sales/${S.view}`, undefined, { query: q });
    if (data.from) Object.assign(S, { from: data.from, to: data.to });
    S.data = data;
    remember(data);
    result(out, "", "");
    render();
    document.body.dataset.loaded = "1";
    document.body.dataset.view = S.view;
  } catch (err) {
    result(out, "error", describe(err));
  }
}

async function main() {
  S.session = await start("funnel");
  if (!S.session) return;
  if (!S.from) S.from = thisMonth();
  render();
  onLanguage(load);  // the groups' labels ("(not set)", product lines) come in the page's language
  await load();
}

main();

// The service report (issue 15 item 7): for the tickets created in a period, per
// station, region, month or product line (GET /reports/service): SLA attainment per
// target and overall, mean times to accept / arrive / resolve, first-time fix, repeat
// repairs; with two bar charts (plain SVG, bars.js), the faults found most often
// (/reports/service/faults) and the assets repaired most often (/reports/service/repeats).
// CSV / Excel downloads are plain links, offered only with reports:export (the API
// refuses a file without it anyway). Every value is put in as text (dom.h).
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, language, onLanguage, formatTime } from "./i18n.js";
import { result } from "./notify.js";
import { start, table, customerLink } from "./office.js";
import { bars, tone } from "./bars.js";

const GROUPS = ["station", "region", "month", "product_line"];
const S = { session: null, by: "station", from: "", to: "", report: null, faults: null, repeats: null };

const pct = (v) => (v === null || v === undefined ? "—" : `${v}%`);
const minutes = (v) => (v === null || v === undefined ? "—" : t("service.minutes", { n: v }));

function href(path, format) {
  const params = new URLSearchParams({ lang: language(), format });
  if (path === "/reports/service") params.set("by", S.by);
  if (S.from) params.set("from", S.from);
  if (S.to) params.set("to", S.to);
  return `/api/v1${path}?${params}`;
}

function downloads(id, path) {
  if (!S.session.can("reports", "export")) return null;
  return h("span", { class: "bo-links", id }, ["csv", "xlsx"].map((fmt) =>
    h("a", { class: "button", id: `${id}-${fmt}`, href: href(path, fmt), download: "" }, t(`exports.as_${fmt}`))));
}

function form() {
  const by = options(h("select", { id: "service-by" }), GROUPS.map((g) => [g, t(`service.by.${g}`)]), S.by);
  const from = h("input", { id: "service-from", type: "date", value: S.from });
  const to = h("input", { id: "service-to", type: "date", value: S.to });
  const f = h("form", { class: "bo-filters", id: "service-form" },
    h("label", {}, h("span", {}, t("service.by")), by),
    h("label", {}, h("span", {}, t("service.from")), from),
    h("label", {}, h("span", {}, t("service.to")), to),
    h("button", { type: "submit" }, t("service.show")));
  by.addEventListener("change", () => { S.by = by.value; load(); });
  f.addEventListener("submit", (ev) => { ev.preventDefault(); S.by = by.value; S.from = from.value; S.to = to.value; load(); });
  return f;
}

function cells(r) {
  return [
    h("td", { class: "num" }, r.tickets), h("td", { class: "num" }, r.resolved),
    h("td", { class: "num" }, pct(r.accept_pct)), h("td", { class: "num" }, pct(r.arrive_pct)),
    h("td", { class: "num" }, pct(r.resolve_pct)),
    h("td", { class: "num" }, h("span", { class: `tag att-${tone(r.sla_pct) || "none"}` }, pct(r.sla_pct))),
    h("td", { class: "num" }, minutes(r.mean_accept_min)), h("td", { class: "num" }, minutes(r.mean_arrive_min)),
    h("td", { class: "num" }, minutes(r.mean_resolve_min)),
    h("td", { class: "num" }, pct(r.ftf_pct)), h("td", { class: "num" }, r.repeat_assets),
  ];
}

const HEADERS = ["service.group", "service.tickets", "service.resolved", "service.accept_pct", "service.arrive_pct",
  "service.resolve_pct", "service.sla_pct", "service.mean_accept", "service.mean_arrive", "service.mean_resolve",
  "service.ftf_pct", "service.repeat_assets"];

function groupsTable(report) {
  const grid = table("service-table", HEADERS, report.items.map((r) =>
    h("tr", { dataset: { key: r.key ?? "" } }, h("td", { class: "wrap" }, r.label), cells(r))));
  grid.append(h("tfoot", {}, h("tr", { id: "service-total" }, h("th", {}, report.total.label), cells(report.total))));
  return grid;
}

function charts(report) {
  const items = report.items;
  return h("div", { class: "bo-charts" },
    h("figure", {}, h("figcaption", {}, t("service.chart_sla")),
      bars(items.map((r) => ({ label: r.label, value: r.sla_pct, tone: tone(r.sla_pct) })),
        { max: 100, unit: "%", title: t("service.chart_sla"), id: "service-chart-sla" })),
    h("figure", {}, h("figcaption", {}, t("service.chart_tickets")),
      bars(items.map((r) => ({ label: r.label, value: r.tickets })),
        { title: t("service.chart_tickets"), id: "service-chart-tickets" })));
}

function faultsBlock() {
  const items = S.faults.items;
  return h("section", { class: "bo-block" },
    h("div", { class: "bo-pair-head" }, h("h2", {}, t("service.faults")), downloads("service-faults-dl", "/reports/service/faults")),
    items.length
      ? table("service-faults", ["service.fault", "service.repairs", "service.share", "service.ftf_pct"], items.map((f) =>
        h("tr", {}, h("td", { class: "wrap" }, f.fault), h("td", { class: "num" }, f.repairs),
          h("td", { class: "num" }, pct(f.share_pct)), h("td", { class: "num" }, pct(f.ftf_pct)))))
      : h("p", { class: "muted" }, t("service.none")));
}

function repeatsBlock() {
  const items = S.repeats.items;
  return h("section", { class: "bo-block" },
    h("div", { class: "bo-pair-head" }, h("h2", {}, t("service.repeats")), downloads("service-repeats-dl", "/reports/service/repeats")),
    items.length
      ? table("service-repeats", ["service.serial", "service.customer", "service.product_line", "service.repairs", "service.last"], items.map((r) =>
        h("tr", { dataset: { serial: r.serial_number } }, h("td", { class: "mono" }, r.serial_number),
          h("td", { class: "wrap" }, customerLink(r.customer_id, r.customer)), h("td", {}, r.product_line),
          h("td", { class: "num" }, r.repairs), h("td", {}, r.last_at ? formatTime(r.last_at) : "—"))))
      : h("p", { class: "muted" }, t("service.none")));
}

function render() {
  const report = S.report;
  fill($("#bo-content"),
    h("section", { class: "bo-block" }, form(),
      report ? h("div", { class: "bo-pair-head" },
        h("p", { class: "summary", id: "service-summary" }, t("service.summary", { from: report.from, to: report.to, n: report.total.tickets, sla: pct(report.total.sla_pct) })),
        downloads("service-dl", "/reports/service")) : null),
    report && report.items.length ? h("section", { class: "bo-block" }, charts(report), groupsTable(report)) : null,
    report && !report.items.length ? h("section", { class: "bo-block" }, h("p", { class: "muted", id: "service-empty" }, t("service.empty"))) : null,
    S.faults ? faultsBlock() : null,
    S.repeats ? repeatsBlock() : null);
}

async function load() {
  const out = $("#bo-result");
  const query = { from: S.from || undefined, to: S.to || undefined, lang: language() };
  result(out, "busy", t("action.working"));
  try {
    const [report, faults, repeats] = await Promise.all([
      api("GET", "/reports/service", undefined, { query: { ...query, by: S.by } }),
      api("GET", "/reports/service/faults", undefined, { query: { ...query, limit: 10 } }),
      api("GET", "/reports/service/repeats", undefined, { query: { ...query, limit: 10 } }),
    ]);
    Object.assign(S, { report, faults, repeats, from: report.from, to: report.to });
    result(out, "", "");
    render();
    document.body.dataset.loaded = "1";
  } catch (err) {
    result(out, "error", describe(err));
  }
}

async function main() {
  S.session = await start("service");
  if (!S.session) return;
  render();
  onLanguage(load);  // the groups' labels come from the server in the page's language
  await load();
}

main();

// Exports: the CRM's lists (GET /exports/{list}) and the reports (GET /reports/...)
// as CSV or Excel files, each offered only when the user's export grant covers it, in
// its data scope, with the headers in the page's language. The filters apply to the
// customers the rows belong to. Each file is a plain link: the browser downloads it
// with the session cookie (a GET needs no CSRF token).
import { h, $, fill, options } from "./dom.js";
import { t, label, onLanguage, language } from "./i18n.js";
import { start, exportable } from "./office.js";

const STATUSES = ["prospect", "active", "dormant", "lost"];
const DIMENSIONS = ["category", "source", "industry", "province", "city", "region", "owner", "status", "vip_tier", "kind"];
const S = { session: null, status: "", province: "", city: "", by: "category", from: "", to: "" };

function href(path, extra) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries({ lang: language(), ...extra })) if (v) params.set(k, v);
  return `/api/v1${path}?${params}`;
}

function filters() {
  return { status: S.status, province: S.province, city: S.city };
}

function links(id, path, extra) {
  return h("span", { class: "bo-links" }, ["csv", "xlsx"].map((fmt) =>
    h("a", { class: "button", id: `${id}-${fmt}`, href: href(path, { ...extra, format: fmt }), download: "" }, t(`exports.as_${fmt}`))));
}

function listRows() {
  return exportable(S.session).map((list) => h("li", { dataset: { list } },
    h("span", { class: "bo-export-name" }, t(`exports.list.${list}`)), links(`export-${list}`, `/exports/${list}`, filters())));
}

function reportRows() {
  if (!S.session.can("reports", "export")) return [];
  const by = options(h("select", { id: "export-by", "aria-label": t("exports.by") }), DIMENSIONS.map((d) => [d, t(`exports.dim.${d}`)]), S.by);
  by.addEventListener("change", () => { S.by = by.value; render(); });
  const from = h("input", { id: "export-from", type: "date", value: S.from, "aria-label": t("exports.from") });
  const to = h("input", { id: "export-to", type: "date", value: S.to, "aria-label": t("exports.to") });
  from.addEventListener("change", () => { S.from = from.value; render(); });
  to.addEventListener("change", () => { S.to = to.value; render(); });
  return [
    h("li", { dataset: { report: "customers" } }, h("span", { class: "bo-export-name" }, t("exports.report.customers"), " ", by),
      links("report-customers", "/reports/customers", { ...filters(), by: S.by })),
    h("li", { dataset: { report: "products" } }, h("span", { class: "bo-export-name" }, t("exports.report.products")),
      links("report-products", "/reports/products", filters())),
    h("li", { dataset: { report: "entry-numbers" } }, h("span", { class: "bo-export-name" }, t("exports.report.entry_numbers"), " ", from, " – ", to),
      links("report-entry", "/reports/entry-numbers", { from: S.from, to: S.to })),
  ];
}

function filterForm() {
  const status = options(h("select", { id: "export-status" }), [["", t("exports.any")], ...STATUSES.map((s) => [s, label("customer_status", s)])], S.status);
  const province = h("input", { id: "export-province", type: "text", maxlength: "100", value: S.province });
  const city = h("input", { id: "export-city", type: "text", maxlength: "100", value: S.city });
  const apply = () => { S.status = status.value; S.province = province.value.trim(); S.city = city.value.trim(); render(); };
  const form = h("form", { class: "bo-filters", id: "export-filters" },
    h("label", {}, h("span", {}, t("customer.status")), status),
    h("label", {}, h("span", {}, t("customer.province")), province),
    h("label", {}, h("span", {}, t("customer.city")), city),
    h("button", { type: "submit" }, t("exports.apply")));
  status.addEventListener("change", apply);
  form.addEventListener("submit", (ev) => { ev.preventDefault(); apply(); });
  return form;
}

function render() {
  const lists = listRows();
  const reports = reportRows();
  fill($("#bo-content"),
    h("section", { class: "bo-block" }, h("h2", {}, t("exports.filters")), filterForm(), h("p", { class: "muted small" }, t("exports.scope_hint"))),
    lists.length ? h("section", { class: "bo-block" }, h("h2", {}, t("exports.lists")), h("ul", { class: "bo-exports", id: "export-lists" }, lists)) : null,
    reports.length ? h("section", { class: "bo-block" }, h("h2", {}, t("exports.reports")), h("ul", { class: "bo-exports", id: "export-reports" }, reports)) : null);
}

async function main() {
  S.session = await start("exports");
  if (!S.session) return;
  render();
  onLanguage(render);
  document.body.dataset.loaded = "1";
}

main();

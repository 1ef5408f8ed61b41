// The service desk's stations (issue 15 item 6, the station page): every station with
// its open tickets against its capacity, technicians on duty, this month's SLA
// attainment and the tickets overdue now (GET /reports/stations), those with overdue
// tickets and the fullest first; one station (?station=<id>, GET /reports/stations/<id>)
// with its technicians and skills, its open tickets most urgent first and the month's
// figures. Read-only: re-routing is the dispatch board's. Every value is put in as text.
import { h, $, fill } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, language, onLanguage } from "./i18n.js";
import { result } from "./notify.js";
import { start, table, when, customerLink } from "./office.js";
import { bars, tone } from "./bars.js";

const S = { session: null, region: "", list: null, detail: null, stationId: null };

const pct = (v) => (v === null || v === undefined ? "—" : `${v}%`);
const minutes = (v) => (v === null || v === undefined ? "—" : t("service.minutes", { n: v }));

function loadTag(s) {
  const full = s.load_pct !== null && s.load_pct >= 100;
  return h("span", { class: `tag ${full ? "sla-breached" : s.load_pct >= 80 ? "sla-warning" : "ok"}` },
    `${s.open_tickets} / ${s.capacity}`);
}

function stationName(s, { link = true } = {}) {
  const name = s.label || s.code;
  return [link ? h("a", { href: `/backoffice/stations?station=${Number(s.id)}` }, name) : name,
    h("span", { class: "muted mono" }, ` ${s.code}`),
    s.is_hub ? [" ", h("span", { class: "tag disp" }, t("stations.hub"))] : null,
    s.active ? null : [" ", h("span", { class: "tag warn" }, t("stations.inactive"))]];
}

function listRow(s) {
  return h("tr", { dataset: { stationId: s.id, code: s.code } },
    h("td", { class: "wrap" }, stationName(s)),
    h("td", {}, [s.region, s.province, s.city].filter(Boolean).join(" · ")),
    h("td", { class: "num" }, loadTag(s)),
    h("td", { class: "num" }, `${s.on_duty} / ${s.technicians}`),
    h("td", { class: "num" }, h("span", { class: `tag att-${tone(s.sla_pct) || "none"}` }, pct(s.sla_pct))),
    h("td", { class: "num" }, s.breached_now ? h("span", { class: "tag sla-breached" }, s.breached_now) : "0"));
}

function filterForm() {
  const region = h("input", { id: "stations-region", type: "text", maxlength: "40", value: S.region });
  const form = h("form", { class: "bo-filters", id: "stations-filters", role: "search" },
    h("label", {}, h("span", {}, t("stations.region")), region),
    h("button", { type: "submit" }, t("stations.filter")));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); S.region = region.value.trim(); loadList(); });
  return form;
}

function renderList() {
  const items = S.list.items;
  const busiest = items.filter((s) => s.open_tickets > 0).slice(0, 15);
  fill($("#bo-content"),
    h("section", { class: "bo-block" }, filterForm(),
      h("p", { class: "summary", id: "stations-summary" }, t("stations.count", { n: items.length, month: S.list.month })),
      items.length
        ? table("stations-table", ["stations.station", "stations.place", "stations.load", "stations.technicians", "stations.sla_month", "stations.breached"], items.map(listRow))
        : h("p", { class: "muted", id: "stations-empty" }, t("stations.empty"))),
    busiest.length ? h("section", { class: "bo-block" }, h("h2", {}, t("stations.chart_load")),
      bars(busiest.map((s) => ({ label: s.label || s.code, value: s.load_pct, tone: s.load_pct >= 100 ? "poor" : s.load_pct >= 80 ? "fair" : "good" })),
        { max: Math.max(100, ...busiest.map((s) => s.load_pct || 0)), unit: "%", title: t("stations.chart_load"), id: "stations-chart" })) : null);
}

function crewRow(tech) {
  const state = !tech.active ? ["warn", "stations.left"] : tech.on_duty ? ["ok", "stations.on_duty"] : ["", "stations.off_duty"];
  return h("tr", { dataset: { technicianId: tech.id } },
    h("td", {}, tech.name), h("td", {}, h("span", { class: `tag ${state[0]}` }, t(state[1]))),
    h("td", { class: "wrap" }, (tech.skills || []).map((skill) => h("span", { class: "tag" }, String(skill)))),
    h("td", { class: "mono" }, tech.phone || "—"), h("td", { class: "num" }, tech.open_tickets));
}

function ticketRow(tk) {
  return h("tr", { dataset: { ticketId: tk.id, sla: tk.sla_state } },
    h("td", {}, h("span", { class: `tag sla-${tk.sla_state}` }, label("sla_state", tk.sla_state))),
    h("td", {}, when(tk.next_due)), h("td", { class: "mono" }, tk.number),
    h("td", {}, label("ticket_status", tk.status), " · ", label("priority", tk.priority)),
    h("td", { class: "wrap" }, customerLink(tk.customer_id, tk.customer_name)),
    h("td", {}, tk.technician_name || "—"), h("td", { class: "wrap" }, tk.problem));
}

function figuresList(f) {
  const pairs = [["service.tickets", f.tickets], ["service.resolved", f.resolved], ["service.accept_pct", pct(f.accept_pct)],
    ["service.arrive_pct", pct(f.arrive_pct)], ["service.resolve_pct", pct(f.resolve_pct)], ["service.sla_pct", pct(f.sla_pct)],
    ["service.mean_accept", minutes(f.mean_accept_min)], ["service.mean_arrive", minutes(f.mean_arrive_min)],
    ["service.mean_resolve", minutes(f.mean_resolve_min)], ["service.ftf_pct", pct(f.ftf_pct)]];
  return h("dl", { class: "bo-stats", id: "station-figures" }, pairs.map(([key, value]) => [h("dt", {}, t(key)), h("dd", {}, String(value))]));
}

function renderDetail() {
  const s = S.detail;
  const tickets = s.tickets;
  fill($("#bo-content"),
    h("p", {}, h("a", { href: "/backoffice/stations", id: "stations-back" }, `← ${t("stations.back")}`)),
    h("section", { class: "bo-block", id: "station-head", dataset: { stationId: s.id } },
      h("h2", {}, stationName(s, { link: false })),
      h("p", { class: "muted" }, [s.region, s.province, s.city, s.district, s.address].filter(Boolean).join(" · ")),
      h("p", { class: "summary", id: "station-load" }, t("stations.load"), " ", loadTag(s), "  ",
        t("stations.breached"), ` ${s.breached_now}`)),
    h("section", { class: "bo-block" }, h("h2", {}, t("stations.month_figures", { month: s.month })), figuresList(s.month_figures)),
    h("section", { class: "bo-block" }, h("h2", {}, t("stations.crew")),
      s.technicians.length
        ? table("station-crew", ["stations.name", "stations.state", "stations.skills", "stations.phone", "stations.open"], s.technicians.map(crewRow))
        : h("p", { class: "muted" }, t("stations.no_crew"))),
    h("section", { class: "bo-block" }, h("h2", {}, t("stations.open_tickets")),
      tickets === null || tickets === undefined
        ? h("p", { class: "muted", id: "station-no-tickets" }, t("stations.no_tickets_right"))
        : tickets.items.length
          ? table("station-tickets", ["dispatch.sla", "dispatch.next_due", "ticket.number", "ticket.status", "customer.name", "stations.technician", "ticket.problem"], tickets.items.map(ticketRow))
          : h("p", { class: "muted", id: "station-no-open" }, t("stations.no_open"))));
}

async function fetchInto(fetch, render) {
  const out = $("#bo-result");
  try {
    await fetch();
    result(out, "", "");
    render();
    document.body.dataset.loaded = "1";
  } catch (err) {
    result(out, "error", describe(err));
  }
}

function loadList() {
  return fetchInto(async () => {
    S.list = await api("GET", "/reports/stations", undefined, { query: { region: S.region || undefined, lang: language() } });
  }, renderList);
}

function loadDetail() {
  return fetchInto(async () => {
    S.detail = await api("GET", `/reports/stations/${S.stationId}`, undefined, { query: { lang: language() } });
  }, renderDetail);
}

async function main() {
  S.session = await start("stations");
  if (!S.session) return;
  const wanted = new URLSearchParams(location.search).get("station");
  S.stationId = wanted && /^[0-9]{1,10}$/.test(wanted) ? Number(wanted) : null;
  const load = S.stationId ? loadDetail : loadList;
  onLanguage(load);  // names and labels come from the server in the page's language
  await load();
}

main();

// The dispatch board (issue 15 item 6): open tickets most at risk first (GET
// /dispatch/tickets: breached, at risk, on time; a ticket no station covers first within
// its state; then the next target that falls first), filtered by region, station,
// status, product line and SLA state. Whoever may update tickets re-routes one to
// another station with a reason (POST /tickets/{id}/route). Every value is put in as
// text (dom.h): customer names come from callers.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, language, onLanguage } from "./i18n.js";
import { result, toast } from "./notify.js";
import { start, table, when, customerLink, ticketLink, loadList } from "./office.js";

const PAGE = 50;
const STATUSES = ["new", "routed", "accepted", "on_the_way", "on_site", "waiting"];
const S = {
  session: null, items: [], total: 0, byState: { breached: 0, warning: 0, ok: 0 }, stations: [],
  f: { region: "", station_id: "", status: "", product_line: "", sla_state: "", flagged: false },
};

const mayRoute = () => S.session.can("tickets", "update") && S.stations.length > 0;

function bilingual(zh, en) {
  const names = language() === "en" ? [en, zh] : [zh, en];
  return names.find(Boolean) || "";
}

function stationCell(tk) {
  const flagged = tk.route_flagged ? [" ", h("span", { class: "tag warn", title: t("dispatch.flagged_hint") }, t("dispatch.flagged"))] : [];
  if (!tk.station_id) return [h("span", { class: "tag sla-breached" }, t("dispatch.unrouted")), ...flagged];
  return [bilingual(tk.station_name, tk.station_name_en) || tk.station_code,
    tk.technician_name ? h("span", { class: "muted" }, ` · ${tk.technician_name}`) : null, ...flagged];
}

function slaTag(state) {
  return h("span", { class: `tag sla-${state}`, dataset: { sla: state } }, label("sla_state", state));
}

async function reroute(tk, pick, reason, out) {
  if (!pick.value) return result(out, "error", t("dispatch.pick_station"));
  if (!reason.value.trim()) return result(out, "error", t("dispatch.reason_needed"));
  result(out, "busy", t("action.working"));
  try {
    await api("POST", `/tickets/${Number(tk.id)}/route`, { station_id: Number(pick.value), reason: reason.value.trim() });
    toast("ok", t("dispatch.rerouted", { number: tk.number }));
    await load(0);
  } catch (err) {
    result(out, "error", describe(err));
  }
}

function actions(tk) {
  if (!mayRoute()) return h("td", {});
  const out = h("span", { class: "result", hidden: true });
  const pick = options(h("select", { class: "small", "aria-label": t("dispatch.to_station") }),
    [["", t("dispatch.to_station")], ...S.stations.filter((s) => s.id !== tk.station_id)
      .map((s) => [s.id, `${s.code} ${bilingual(s.name, s.name_en)}`])], "");
  const reason = h("input", { type: "text", class: "small", maxlength: "500", placeholder: t("dispatch.reason"), "aria-label": t("dispatch.reason") });
  return h("td", { class: "actions" }, pick, reason,
    h("button", { type: "button", class: "small", dataset: { role: "reroute" }, onclick: () => reroute(tk, pick, reason, out) }, t("dispatch.reroute")), out);
}

function row(tk) {
  return h("tr", { dataset: { ticketId: tk.id, sla: tk.sla_state } },
    h("td", {}, slaTag(tk.sla_state), tk.escalation_level ? h("span", { class: "muted small" }, ` ${t("dispatch.level", { n: tk.escalation_level })}`) : null),
    h("td", {}, when(tk.next_due)),
    h("td", { class: "mono" }, ticketLink(tk)),
    h("td", {}, label("ticket_status", tk.status), " · ", label("priority", tk.priority)),
    h("td", { class: "wrap" }, customerLink(tk.customer_id, tk.customer_name),
      tk.vip_tier > 0 ? h("span", { class: "muted" }, ` VIP ${Number(tk.vip_tier)}`) : null),
    h("td", {}, [tk.province, tk.city].filter(Boolean).join(" · ")),
    h("td", {}, bilingual(tk.product_line_name, tk.product_line_name_en) || "—"),
    h("td", { class: "wrap", title: tk.route_reason || null }, stationCell(tk)),
    h("td", { class: "wrap" }, tk.problem),
    actions(tk));
}

function filterForm() {
  const f = S.f;
  const region = h("input", { id: "dispatch-region", type: "text", value: f.region, maxlength: "40" });
  const station = options(h("select", { id: "dispatch-station" }),
    [["", t("dispatch.any")], ...S.stations.map((s) => [s.id, `${s.code} ${bilingual(s.name, s.name_en)}`])], f.station_id);
  const status = options(h("select", { id: "dispatch-status" }),
    [["", t("dispatch.any")], ...STATUSES.map((s) => [s, label("ticket_status", s)])], f.status);
  const line = h("input", { id: "dispatch-line", type: "text", value: f.product_line, maxlength: "40" });
  const sla = options(h("select", { id: "dispatch-sla" }),
    [["", t("dispatch.any")], ...["breached", "warning", "ok"].map((s) => [s, label("sla_state", s)])], f.sla_state);
  const flagged = h("input", { id: "dispatch-flagged", type: "checkbox", checked: f.flagged });
  const form = h("form", { class: "bo-filters", id: "dispatch-filters", role: "search" },
    h("label", {}, h("span", {}, t("dispatch.region")), region),
    S.stations.length ? h("label", {}, h("span", {}, t("ticket.station")), station) : null,
    h("label", {}, h("span", {}, t("ticket.status")), status),
    h("label", {}, h("span", {}, t("dispatch.product_line")), line),
    h("label", {}, h("span", {}, t("dispatch.sla")), sla),
    h("label", { class: "inline" }, flagged, h("span", {}, t("dispatch.only_flagged"))),
    h("button", { type: "submit" }, t("pool.filter")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    S.f = { region: region.value.trim(), station_id: station.value, status: status.value,
            product_line: line.value.trim(), sla_state: sla.value, flagged: flagged.checked };
    load(0);
  });
  return form;
}

function render() {
  const counts = S.byState;
  fill($("#bo-content"),
    h("section", { class: "bo-block" }, filterForm(),
      h("p", { class: "summary", id: "dispatch-summary" },
        t("dispatch.count", { n: S.total }), " · ",
        slaTag("breached"), ` ${counts.breached}  `, slaTag("warning"), ` ${counts.warning}  `,
        slaTag("ok"), ` ${counts.ok}`),
      S.items.length
        ? table("dispatch-table", ["dispatch.sla", "dispatch.next_due", "ticket.number", "ticket.status", "customer.name", "customer.where", "dispatch.product_line", "ticket.station", "ticket.problem", ""], S.items.map(row))
        : h("p", { class: "muted", id: "dispatch-empty" }, t("dispatch.empty")),
      S.items.length < S.total ? h("button", { type: "button", id: "dispatch-more", onclick: () => load(S.items.length) }, t("list.more")) : null));
}

async function load(offset) {
  const f = S.f;
  const query = { limit: PAGE, offset, region: f.region || undefined, station_id: f.station_id || undefined,
                  status: f.status || undefined, product_line: f.product_line || undefined,
                  sla_state: f.sla_state || undefined, flagged: f.flagged ? true : undefined };
  await loadList(S, async () => {
    const page = await api("GET", "/dispatch/tickets", undefined, { query });
    S.byState = page.by_state;
    return page;
  }, render, offset);
}

/** The stations to filter by and re-route to (GET /stations), when the user may read them. */
async function loadStations() {
  const out = [];
  try {
    for (let offset = 0; offset < 5000; offset += 200) {
      const page = await api("GET", "/stations", undefined, { query: { limit: 200, offset } });
      out.push(...page.items);
      if (out.length >= page.total || !page.items.length) break;
    }
  } catch (_err) {
    return [];  // no grant: the board works without the station filter and re-routing
  }
  return out.filter((s) => s.active !== false);
}

async function main() {
  S.session = await start("dispatch");
  if (!S.session) return;
  S.stations = await loadStations();
  onLanguage(render);
  await load(0);
}

main();

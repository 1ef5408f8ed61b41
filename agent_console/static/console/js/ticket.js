// The service desk's ticket page (issue 15 item 6), /backoffice/ticket?id=N: one ticket's
// facts, its station and technician, the routing decision as stored (the sentence and the
// alternatives), a clock per SLA target (accept, arrive, resolve: due, state, time left
// or over), the whole timeline in time order (moves, routing, refusals, SLA steps, notes,
// the notifications sent) and the repair record once resolved; all from GET
// /tickets/{id}/page. Whoever may update tickets re-routes it with a reason (POST
// /tickets/{id}/route, as the dispatch board) and adds a note (POST /tickets/{id}/notes).
// Names, problems, notes and reasons come from callers and staff: text only (dom.h).
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, language, onLanguage, formatTime } from "./i18n.js";
import { result, toast } from "./notify.js";
import { start, when, customerLink, phoneCell } from "./office.js";

const S = { session: null, id: null, tk: null, stations: null };

function ticketId() {
  const raw = new URLSearchParams(location.search).get("id") || "";
  return /^[0-9]{1,10}$/.test(raw) && Number(raw) > 0 ? Number(raw) : null;
}

function bilingual(zh, en) {
  const names = language() === "en" ? [en, zh] : [zh, en];
  return names.find(Boolean) || "";
}

function fact(key, value, attrs) {
  const empty = value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length);
  return [h("dt", {}, t(key)), h("dd", attrs || {}, empty ? "—" : value)];
}

/** "2 h 05 min" from seconds (the clock's time left or over, always positive here). */
export function span(seconds) {
  const minutes = Math.round(Math.abs(Number(seconds)) / 60);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const rest = minutes % 60;
  if (days) return t("ticketpage.span_days", { d: days, h: hours });
  if (hours) return t("ticketpage.span_hours", { h: hours, m: String(rest).padStart(2, "0") });
  return t("ticketpage.span_minutes", { m: rest });
}

function facts(tk) {
  const line = tk.product_line ? bilingual(tk.product_line.name, tk.product_line.name_en) || tk.product_line.code : "";
  const place = [tk.province, tk.city, tk.address].filter(Boolean).join(" ");
  const station = tk.station_id ? `${bilingual(tk.station_name, tk.station_name_en)} (${tk.station_code})` : t("dispatch.unrouted");
  return h("section", { class: "bo-block", id: "tp-facts-block" },
    h("dl", { class: "bo-stats tp-facts", id: "tp-facts" },
      fact("ticket.number", tk.number, { class: "mono", id: "tp-number" }),
      fact("ticket.status", label("ticket_status", tk.status), { id: "tp-status", dataset: { status: tk.status } }),
      fact("ticketpage.customer", [customerLink(tk.customer_id, tk.customer_name),
        tk.vip_tier > 0 ? h("span", { class: "muted" }, ` VIP ${Number(tk.vip_tier)}`) : null], { id: "tp-customer" }),
      fact("station.contact", tk.contact_name, { id: "tp-contact" }),
      fact("station.phone", tk.phone ? phoneCell("span", tk.phone) : null),
      fact("station.address", place, { id: "tp-address" }),
      fact("station.asset", tk.asset_model),
      fact("station.serial", tk.serial_number, { class: "mono", id: "tp-serial" }),
      fact("dispatch.product_line", line, { id: "tp-line" }),
      fact("ticketpage.category", tk.category),
      fact("ticket.priority", label("priority", tk.priority)),
      fact("ticket.problem", tk.problem, { class: "wrap", id: "tp-problem" }),
      fact("ticket.station", station, { id: "tp-station" }),
      fact("station.technician", tk.technician_name, { id: "tp-technician" }),
      fact("ticket.created_at", when(tk.created_at)),
      tk.reopen_count ? fact("ticketpage.reopened", String(tk.reopen_count)) : []));
}

function alternative(alt) {
  const why = language() === "en" ? alt.reason_en || alt.reason : alt.reason || alt.reason_en;
  return h("li", { dataset: { stationId: alt.station_id } }, why || alt.code || "");
}

function routing(tk) {
  const sentence = language() === "en" ? tk.route_reason_en || tk.route_reason : tk.route_reason || tk.route_reason_en;
  const alts = tk.route_alternatives || [];
  return h("section", { class: "bo-block", id: "tp-route" },
    h("h2", {}, t("ticketpage.routing")),
    h("p", { id: "tp-route-reason", class: "wrap" }, sentence || "—",
      tk.route_flagged ? [" ", h("span", { class: "tag warn", title: t("dispatch.flagged_hint") }, t("dispatch.flagged"))] : null),
    tk.route_override ? h("p", { id: "tp-route-override" }, h("span", { class: "muted" }, `${t("ticketpage.override")}: `), tk.route_override) : null,
    alts.length
      ? [h("h3", {}, t("ticketpage.alternatives")), h("ol", { id: "tp-alternatives" }, alts.map(alternative))]
      : h("p", { class: "muted" }, t("ticketpage.no_alternatives")));
}

function clockRow(c) {
  // met: how early or late it was met; else: the time left, or over, now
  const met = c.state === "met" || c.state === "met_late";
  const key = met ? (c.seconds >= 0 ? "ticketpage.early" : "ticketpage.late")
    : (c.seconds >= 0 ? "ticketpage.left" : "ticketpage.over");
  const left = c.seconds === null || c.seconds === undefined ? "—" : t(key, { span: span(c.seconds) });
  const cls = { breached: "sla-breached", met_late: "sla-breached", warned: "sla-warning", paused: "warn", met: "ok" }[c.state] || "";
  return h("tr", { dataset: { target: c.target, state: c.state } },
    h("td", {}, label("sla_target", c.target)),
    h("td", {}, when(c.due)),
    h("td", {}, h("span", { class: `tag ${cls}` }, label("sla_clock", c.state)),
      c.level ? h("span", { class: "muted small" }, ` ${t("dispatch.level", { n: c.level })}`) : null),
    h("td", { class: "tp-left" }, left),
    h("td", {}, c.met_at ? when(c.met_at) : "—"));
}

function clocks(tk) {
  const rows = tk.sla_clocks || [];
  return h("section", { class: "bo-block", id: "tp-sla" },
    h("h2", {}, t("ticketpage.sla"), tk.sla_policy ? h("span", { class: "muted small" }, ` · ${tk.sla_policy}`) : null),
    rows.length
      ? h("table", { class: "grid", id: "tp-clocks" },
        h("thead", {}, h("tr", {}, ["ticketpage.target", "ticketpage.due", "ticketpage.state", "ticketpage.left_over", "ticketpage.met_at"].map((k) => h("th", {}, t(k))))),
        h("tbody", {}, rows.map(clockRow)))
      : h("p", { class: "muted", id: "tp-no-sla" }, t("ticketpage.no_sla")));
}

function repairRecord(tk) {
  const r = tk.repair_record;
  if (!r) return null;
  const yes = (v) => t(v ? "ticketpage.yes" : "ticketpage.no");
  return h("section", { class: "bo-block", id: "tp-repair" },
    h("h2", {}, t("repair.heading")),
    h("dl", { class: "bo-stats tp-facts" },
      fact("repair.fault", r.fault, { class: "wrap", id: "tp-fault" }),
      fact("repair.cause", r.cause, { class: "wrap" }),
      fact("repair.action", r.action, { class: "wrap" }),
      fact("repair.parts", (r.parts || []).length
        ? h("ul", { id: "tp-parts" }, r.parts.map((p) => h("li", {}, `${p.part} × ${Number(p.qty)}`)))
        : t("repair.none")),
      fact("repair.labour_hours", r.labour_hours, { id: "tp-hours" }),
      fact("repair.serial_checked", yes(r.serial_checked), { id: "tp-serial-checked" }),
      fact("repair.first_time_fix", yes(r.first_time_fix), { id: "tp-first-fix" }),
      fact("ticketpage.written_at", when(r.written_at))));
}

function stepText(step) {
  if (step.kind === "status") {
    return t("history.status", { from: label("ticket_status", step.from_status) || "—", to: label("ticket_status", step.to_status) });
  }
  const data = step.data || {};
  if (step.kind === "sla-warning" || step.kind === "escalation") {
    const what = label("sla_target", data.target);
    return step.kind === "escalation"
      ? `${label("history.kind", step.kind)} · ${what} · ${t("dispatch.level", { n: data.level })}${data.user ? ` → ${data.user}` : ""}`
      : `${label("history.kind", step.kind)} · ${what}`;
  }
  if ((step.kind === "route" || step.kind === "override") && data.code) {
    return `${label("history.kind", step.kind)} → ${data.code}`;
  }
  if (step.kind === "refusal" && data.code) return `${label("history.kind", step.kind)} · ${data.code}`;
  return label("history.kind", step.kind);
}

/** A step's note, but for a routing step by the rules in English, its English sentence. */
function stepNote(step) {
  const data = step.data || {};
  if (step.kind === "route" && language() === "en" && data.reason_en) return data.reason_en;
  if (step.kind === "sla-warning" || step.kind === "escalation") return null; // said above
  return step.note;
}

function entry(e) {
  if (e.entry === "message") {
    return h("li", { class: "tp-entry tp-message", dataset: { kind: "message", channel: e.channel, state: e.state } },
      h("span", { class: "muted" }, formatTime(e.at)), " · ",
      t("ticketpage.message", { channel: label("ticketpage.channel", e.channel) }), " ",
      h("span", { class: "tp-recipient" }, e.recipient),
      " ", h("span", { class: `tag ${e.state === "sent" ? "ok" : e.state === "failed" ? "sla-breached" : ""}` }, label("ticketpage.message_state", e.state)));
  }
  const note = stepNote(e);
  return h("li", { class: "tp-entry", dataset: { kind: e.kind, id: e.id } },
    h("span", { class: "muted" }, formatTime(e.at)), " · ",
    h("span", { class: "tp-what" }, stepText(e)),
    e.by_name ? h("span", { class: "muted tp-by" }, ` · ${e.by_name}`) : null,
    note ? h("div", { class: "tp-note wrap" }, note) : null);
}

function timelineBlock(tk) {
  const entries = tk.timeline || [];
  return h("section", { class: "bo-block", id: "tp-timeline" },
    h("h2", {}, t("ticketpage.timeline"), h("span", { class: "count" }, ` ${entries.length}`)),
    h("ol", { class: "tp-timeline", id: "tp-entries" }, entries.map(entry)));
}

async function act(out, method, path, body, done) {
  result(out, "busy", t("action.working"));
  try {
    await api(method, path, body);
    toast("ok", done);
    await load();
  } catch (err) {
    result(out, "error", describe(err));
  }
}

function rerouteForm(tk) {
  if (!["new", "routed", "accepted"].includes(tk.status) || !S.stations || !S.stations.length) return null;
  const out = h("span", { class: "result", hidden: true });
  const pick = options(h("select", { id: "tp-station-pick", "aria-label": t("dispatch.to_station") }),
    [["", t("dispatch.to_station")], ...S.stations.filter((s) => s.id !== tk.station_id)
      .map((s) => [s.id, `${s.code} ${bilingual(s.name, s.name_en)}`])], "");
  const reason = h("input", { id: "tp-reroute-reason", type: "text", maxlength: "1000", placeholder: t("dispatch.reason"), "aria-label": t("dispatch.reason") });
  return h("form", { class: "bo-filters", id: "tp-reroute", onsubmit: (ev) => {
    ev.preventDefault();
    if (!pick.value) return result(out, "error", t("dispatch.pick_station"));
    if (!reason.value.trim()) return result(out, "error", t("dispatch.reason_needed"));
    act(out, "POST", `/tickets/${S.id}/route`, { station_id: Number(pick.value), reason: reason.value.trim() },
      t("dispatch.rerouted", { number: tk.number }));
  } }, pick, reason, h("button", { type: "submit" }, t("dispatch.reroute")), out);
}

function noteForm(tk) {
  const out = h("span", { class: "result", hidden: true });
  const text = h("textarea", { id: "tp-note", rows: "2", maxlength: "4000", "aria-label": t("station.note") });
  return h("form", { class: "form", id: "tp-note-form", onsubmit: (ev) => {
    ev.preventDefault();
    if (!text.value.trim()) return result(out, "error", t("error.required", { field: t("station.note") }));
    act(out, "POST", `/tickets/${S.id}/notes`, { note: text.value.trim() }, t("station.noted", { number: tk.number }));
  } }, h("label", {}, h("span", {}, t("station.note")), text),
  h("div", { class: "form-actions" }, h("button", { type: "submit" }, t("station.add_note")), out));
}

function actions(tk) {
  if (!S.session.can("tickets", "update")) return null;
  return h("section", { class: "bo-block", id: "tp-actions" },
    h("h2", {}, t("ticketpage.actions")), rerouteForm(tk), noteForm(tk));
}

function render() {
  const tk = S.tk;
  if (!tk) return;
  fill($("#tp-heading"), t("ticketpage.heading_number", { number: tk.number }), " ",
    h("span", { class: `tag status-${tk.status}` }, label("ticket_status", tk.status)), " ",
    tk.open ? h("span", { class: `tag sla-${tk.sla_state}`, id: "tp-sla-state" }, label("sla_state", tk.sla_state)) : null);
  document.title = `${tk.number} · ${t("ticket.title")}`;
  fill($("#bo-content"),
    h("div", { class: "bo-pair" }, facts(tk), h("div", { class: "bo-content" }, routing(tk), clocks(tk))),
    repairRecord(tk), actions(tk), timelineBlock(tk));
}

async function load() {
  S.tk = await api("GET", `/tickets/${S.id}/page`);
  render();
  document.body.dataset.loaded = "1";
}

/** The stations to re-route to, when the user may read them (as the dispatch board). */
async function loadStations() {
  const out = [];
  try {
    for (let offset = 0; offset < 5000; offset += 200) {
      const page = await api("GET", "/stations", undefined, { query: { limit: 200, offset } });
      out.push(...page.items);
      if (out.length >= page.total || !page.items.length) break;
    }
  } catch (_err) {
    return [];
  }
  return out.filter((s) => s.active !== false);
}

async function main() {
  S.session = await start("ticket");
  if (!S.session) return;
  const out = $("#bo-result");
  S.id = ticketId();
  if (S.id === null) return result(out, "error", t("ticketpage.no_id"));
  if (!S.session.can("tickets", "read")) {
    $("#bo-content").hidden = true;
    return result(out, "error", t("bo.denied"));
  }
  $("#tp-heading").removeAttribute("data-i18n"); // the heading names the ticket (render)
  try {
    const [, stations] = await Promise.all([load(), S.session.can("tickets", "update") ? loadStations() : []]);
    S.stations = stations;
    render();
  } catch (err) {
    $("#bo-content").hidden = true;
    result(out, "error", err.status === 404 ? t("ticketpage.not_found") : err.status === 403 ? t("bo.denied") : describe(err));
    return;
  }
  onLanguage(render);
}

main();

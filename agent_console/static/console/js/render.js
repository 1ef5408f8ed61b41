// Pieces of a customer's 360 view, shared by the console's pop card and the
// record page. Every value is put in as text (dom.h); nothing is markup.
import { h, safeHref } from "./dom.js";
import { t, label, language, formatTime, formatDate, formatSeconds } from "./i18n.js";
import { formatPhone } from "./phone.js";
import { outcomeKey } from "./words.js";

/** A phone number as people read it (138 0013 8000), its E.164 form on hover. */
export function phone(value, cls = "phone") {
  const p = formatPhone(value);
  return h("span", { class: cls, title: p.title || null }, p.text);
}

export function vipBadge(tier) {
  const n = Number(tier) || 0;
  if (n <= 0) return null;
  return h("span", { class: `vip vip-${Math.min(n, 5)}`, title: t("customer.vip_tier") }, `VIP ${n}`);
}

export function section(title, count, body, { id, empty } = {}) {
  const head = h("h3", {}, title, count !== undefined && count !== null ? h("span", { class: "count" }, ` ${count}`) : null);
  const content = count === 0 ? h("p", { class: "muted empty" }, empty || t("list.empty")) : body;
  return h("section", { class: "block", id }, head, content);
}

function table(headers, rows, { cls } = {}) {
  return h("table", { class: `grid ${cls || ""}` },
    h("thead", {}, h("tr", {}, headers.map((k) => h("th", {}, t(k))))),
    h("tbody", {}, rows));
}

export function warranty(asset) {
  if (asset.in_warranty === true) return h("span", { class: "tag ok" }, t("asset.in_warranty", { date: formatDate(asset.warranty_end) }));
  if (asset.in_warranty === false) return h("span", { class: "tag warn" }, t("asset.expired", { date: formatDate(asset.warranty_end) }));
  return h("span", { class: "muted" }, t("asset.no_warranty"));
}

export function productLine(asset) {
  const names = language() === "en" ? [asset.product_line_name_en, asset.product_line_name] : [asset.product_line_name, asset.product_line_name_en];
  return names.find(Boolean) || asset.product_line_code || "";
}

export function assetsTable(assets) {
  return table(["asset.model", "asset.serial", "asset.line", "asset.warranty", "asset.site"],
    assets.map((a) => h("tr", { dataset: { assetId: a.id } },
      h("td", {}, a.model || ""),
      h("td", { class: "mono" }, a.serial_number || ""),
      h("td", {}, productLine(a)),
      h("td", {}, warranty(a)),
      h("td", {}, a.site || ""))), { cls: "assets" });
}

/** A station's name in the reader's language. */
export function stationName(tk) {
  const names = language() === "en" ? [tk.station_name_en, tk.station_name] : [tk.station_name, tk.station_name_en];
  return names.find(Boolean) || tk.station_code || "";
}

/** When the ticket's next target falls: the technician's arrival until he is on site,
 * then the resolution; tagged with the SLA state once it is at risk. */
function ticketDue(tk) {
  const due = tk.arrived_at ? tk.resolve_due : (tk.arrive_due || tk.resolve_due);
  if (!due) return "—";
  const what = t(tk.arrived_at ? "ticket.resolve_by" : "ticket.arrive_by", { time: formatTime(due) });
  const state = tk.sla_state && tk.sla_state !== "ok"
    ? h("span", { class: `tag sla-${tk.sla_state}` }, label("sla_state", tk.sla_state)) : null;
  return [what, state ? " " : null, state];
}

/** The tickets table; ``link``: each number opens the ticket's page (the 360 page; the
 * console's pop stays on the call). */
export function ticketsTable(tickets, assetsById = new Map(), { link = false } = {}) {
  return table(["ticket.number", "ticket.status", "ticket.priority", "ticket.problem", "ticket.asset", "ticket.station", "ticket.due", "ticket.created_at"],
    tickets.map((tk) => {
      const asset = assetsById.get(tk.asset_id);
      return h("tr", { dataset: { ticketId: tk.id } },
        h("td", { class: "mono" }, link
          ? h("a", { href: `/backoffice/ticket?id=${Number(tk.id)}`, class: "ticket-link" }, tk.number || "")
          : tk.number || ""),
        h("td", {}, h("span", { class: `tag status-${tk.status}` }, label("ticket_status", tk.status))),
        h("td", {}, label("priority", tk.priority)),
        h("td", { class: "wrap" }, tk.problem || ""),
        h("td", { class: "mono" }, asset ? asset.serial_number : ""),
        h("td", { class: "ticket-station" }, stationName(tk) || "—",
          tk.technician_name ? h("span", { class: "muted" }, ` · ${tk.technician_name}`) : null),
        h("td", { class: "ticket-due" }, ticketDue(tk)),
        h("td", {}, formatTime(tk.created_at)));
    }), { cls: "tickets" });
}

/** Who wrote an interaction: the user's name, or Hotline itself (no author). */
export function authorText(it) {
  if (it.author) return it.author;
  return it.author_id === null || it.author_id === undefined ? t("interaction.automatic") : "";
}

/** What an automatic note says, in the reader's language (the API's ``auto`` facts). */
function autoText(auto) {
  if (!auto || auto.kind !== "callback") return null;
  const agent = auto.agent || (auto.extension ? t("console.extension", { ext: auto.extension }) : "");
  return t(agent ? "interaction.callback_by" : "interaction.callback", {
    n: auto.attempt, result: label("callback_result", auto.result), agent });
}

export function interactionItem(it) {
  const auto = autoText(it.auto);
  return h("li", { class: "interaction", dataset: { interactionId: it.id } },
    h("div", { class: "it-head" },
      h("span", { class: "tag" }, label("interaction_kind", it.kind)),
      it.disposition ? h("span", { class: "tag disp" }, label("disposition", it.disposition)) : null,
      h("span", { class: "muted" }, formatTime(it.occurred_at)),
      h("span", { class: "author", title: t("interaction.author") }, authorText(it))),
    auto ? h("p", { class: "it-body auto" }, auto) : it.content ? h("p", { class: "it-body" }, it.content) : null,
    it.result && !auto ? h("p", { class: "it-body muted" }, `${t("interaction.result")}: ${it.result}`) : null);
}

export function interactionsList(items) {
  return h("ul", { class: "interactions" }, items.map(interactionItem));
}

/** One call on the 360 page's timeline, with the logs written about it under it. */
function callItem(entry) {
  const c = entry.call;
  const outbound = c.direction === "outbound";
  return h("li", { class: "tl-call", dataset: { linkedid: c.linkedid || "" } },
    h("div", { class: "it-head" },
      h("span", { class: `tag call-kind${outbound ? " direction-outbound" : ""}`, title: outbound ? t("direction.outbound_title") : null },
        t(outbound ? "timeline.call_out" : "timeline.call_in")),
      h("span", { class: "muted" }, formatTime(c.ended_at || c.started_at)),
      phone(c.caller, "phone mono"),
      h("span", { class: `tag outcome-${c.outcome}` }, t(outcomeKey(c))),
      c.agent_name || c.agent ? h("span", { class: "author", title: t("call.agent") }, c.agent_name || c.agent) : null,
      c.talk_s ? h("span", { class: "muted" }, `${t("call.talk")} ${formatSeconds(c.talk_s)}`) : null,
      !c.answered_at && c.wait_s ? h("span", { class: "muted" }, `${t("call.wait")} ${formatSeconds(c.wait_s)}`) : null,
      recordingLink(c)),
    entry.logs.length
      ? h("ul", { class: "interactions tl-logs" }, entry.logs.map(interactionItem))
      : h("p", { class: "muted empty tl-nolog" }, t("timeline.no_log")));
}

/** The 360 page's timeline (timeline.js entries): calls and interactions, newest first. */
export function timelineList(entries) {
  return h("ul", { class: "timeline-list" }, entries.map((e) => (e.kind === "call" ? callItem(e) : interactionItem(e.item))));
}

export function recordingLink(call) {
  // recording_url is the API's (the site's base URL + the file's quoted name); only an
  // http(s) URL or a path on this site becomes a link, as an attribute, never markup.
  // No URL (not recorded, or the site serves no recordings): nothing.
  const href = safeHref(call.recording_url || "");
  if (!href) return null;
  return h("a", { href, class: "recording", target: "_blank", rel: "noopener noreferrer", title: t("call.recording") }, t("call.listen"));
}

export function callsTable(calls) {
  return table(["call.when", "call.caller", "call.outcome", "call.agent", "call.wait", "call.talk", "call.recording"],
    calls.map((c) => h("tr", { dataset: { linkedid: c.linkedid || "" } },
      h("td", {}, formatTime(c.ended_at || c.started_at)),
      // an outbound call's number is the one the agent dialled: marked as such
      h("td", {}, phone(c.caller, "phone mono"), c.direction === "outbound"
        ? [" ", h("span", { class: "tag direction-outbound", title: t("direction.outbound_title") }, t("direction.outbound"))]
        : null),
      h("td", {}, h("span", { class: `tag outcome-${c.outcome}` }, t(outcomeKey(c)))),
      h("td", {}, c.agent_name || c.agent || ""),
      h("td", {}, formatSeconds(c.wait_s)),
      h("td", {}, formatSeconds(c.talk_s)),
      h("td", {}, recordingLink(c)))), { cls: "calls" });
}

export function opportunitiesTable(items) {
  return table(["opportunity.title", "opportunity.stage", "opportunity.amount", "opportunity.created_at"],
    items.map((o) => h("tr", { dataset: { opportunityId: o.id } },
      h("td", {}, o.title || ""),
      h("td", {}, label("stage", o.stage)),
      h("td", { class: "num" }, o.amount ?? ""),
      h("td", {}, formatTime(o.created_at)))), { cls: "opportunities" });
}

export function subscriptionsTable(items) {
  return table(["subscription.title", "subscription.kind", "subscription.ends"],
    items.map((s) => h("tr", {},
      h("td", {}, s.title || ""),
      h("td", {}, label("subscription_kind", s.kind)),
      h("td", {}, formatDate(s.end_date)))), { cls: "subscriptions" });
}

/** Open orders (issue 18): where each stands (its least advanced line's stage), when
 * it is expected, its due date; a late one (past its expected day, or expected after
 * its due date) is marked. */
export function ordersTable(items) {
  return table(["order.number", "order.stage", "order.expected", "order.due"],
    items.map((o) => h("tr", { dataset: { orderId: o.id }, class: o.late ? "late" : null },
      h("td", { class: "mono" }, o.number || ""),
      h("td", {}, h("span", { class: "tag order-stage" }, label("order_stage", o.stage)),
        o.back_ordered ? [" ", h("span", { class: "tag warn" }, t("order.back_ordered"))] : null),
      h("td", {}, o.expected_on ? formatDate(o.expected_on) : "—",
        o.late ? [" ", h("span", { class: "tag warn order-late", title: t("order.late_title") }, t("order.late"))] : null),
      h("td", {}, o.due_date ? formatDate(o.due_date) : "—"))), { cls: "orders" });
}

/** One order's batches and the days of the stages each reached (GET /orders/{id}). */
export function orderTimeline(order) {
  return h("ul", { class: "order-timeline" }, (order.batches || []).map((b) => h("li", {},
    h("strong", { class: "mono" }, b.code), " ",
    h("span", { class: "muted" }, (language() === "en" && b.supplier_en) || b.supplier || ""), " ",
    (b.timeline || []).map((s, i) => [i ? " → " : "", h("span", { class: "tag" }, label("order_stage", s.stage)), " ", formatDate(s.on)]),
    b.late ? [" ", h("span", { class: "tag warn" }, t("order.late"))] : null)));
}

/** Phone numbers, each with a dial button when ``dial`` is given. */
export function phonesList(phones, dial) {
  return h("ul", { class: "phones" }, phones.map((p) => h("li", {},
    phone(p.number || p.raw, "phone mono"),
    p.kind ? h("span", { class: "muted" }, ` ${label("phone_kind", p.kind)}`) : null,
    dial ? h("button", { type: "button", class: "small", dataset: { dial: p.number || p.raw }, onclick: () => dial(p.number || p.raw) }, t("action.dial")) : null)));
}

export function ivrPath(ivr) {
  // what the caller did first (keys, the number dialled), the flow's steps folded away
  if (!ivr || typeof ivr !== "object") return [];
  const parts = [];
  if (ivr.HOTLINE_DIGITS) parts.push(h("span", { class: "ivr-digits" }, `${t("ivr.digits")}: `, h("strong", { class: "mono" }, String(ivr.HOTLINE_DIGITS))));
  if (ivr.HOTLINE_ENTRY) parts.push(h("span", { class: "ivr-entry" }, `${t("ivr.entry")}: `, String(ivr.HOTLINE_ENTRY)));
  const path = String(ivr.HOTLINE_IVR_PATH || "").split(",").map((s) => s.trim()).filter(Boolean);
  if (path.length) {
    const steps = h("span", { class: "ivr-path" }, path.map((step, i) => [i ? h("span", { class: "arrow" }, " → ") : null, h("span", { class: "tag" }, step)]));
    parts.push(path.length <= 6 ? steps : h("details", { class: "ivr-more" }, h("summary", {}, t("ivr.steps", { n: path.length })), steps));
  }
  return parts;
}

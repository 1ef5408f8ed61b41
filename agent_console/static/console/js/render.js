// Pieces of a customer's 360 view, shared by the console's pop card and the
// record page. Every value is put in as text (dom.h); nothing is markup.
import { h, safeHref } from "./dom.js";
import { t, label, language, formatTime, formatDate, formatSeconds } from "./i18n.js";

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

export function ticketsTable(tickets, assetsById = new Map()) {
  return table(["ticket.number", "ticket.status", "ticket.priority", "ticket.problem", "ticket.asset", "ticket.created_at"],
    tickets.map((tk) => {
      const asset = assetsById.get(tk.asset_id);
      return h("tr", { dataset: { ticketId: tk.id } },
        h("td", { class: "mono" }, tk.number || ""),
        h("td", {}, h("span", { class: `tag status-${tk.status}` }, label("ticket_status", tk.status))),
        h("td", {}, label("priority", tk.priority)),
        h("td", { class: "wrap" }, tk.problem || ""),
        h("td", { class: "mono" }, asset ? asset.serial_number : ""),
        h("td", {}, formatTime(tk.created_at)));
    }), { cls: "tickets" });
}

export function interactionsList(items) {
  return h("ul", { class: "interactions" }, items.map((it) => h("li", { dataset: { interactionId: it.id } },
    h("div", { class: "it-head" },
      h("span", { class: "tag" }, label("interaction_kind", it.kind)),
      it.disposition ? h("span", { class: "tag disp" }, label("disposition", it.disposition)) : null,
      h("span", { class: "muted" }, formatTime(it.occurred_at)),
      it.author ? h("span", { class: "muted" }, it.author) : null),
    it.content ? h("p", { class: "it-body" }, it.content) : null,
    it.result ? h("p", { class: "it-body muted" }, `${t("interaction.result")}: ${it.result}`) : null)));
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
      h("td", { class: "mono" }, c.caller || "", c.direction === "outbound"
        ? [" ", h("span", { class: "tag direction-outbound", title: t("direction.outbound_title") }, t("direction.outbound"))]
        : null),
      h("td", {}, h("span", { class: `tag outcome-${c.outcome}` }, label("outcome", c.outcome))),
      h("td", {}, c.agent || ""),
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

/** Phone numbers, each with a dial button when ``dial`` is given. */
export function phonesList(phones, dial) {
  return h("ul", { class: "phones" }, phones.map((p) => h("li", {},
    h("span", { class: "mono" }, p.raw || p.number || ""),
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

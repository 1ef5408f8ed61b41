// What the back office's pages share: the sections and who may use each (from the
// signed-in user's grants: a section is listed, and its page works, only for them;
// the API decides anyway), the side menu, and small builders for tables, inline
// confirmations and user pickers. Every value is put in as text (dom.h).
import { h, $, fill } from "./dom.js";
import { api, describe } from "./api.js";
import { t, onLanguage, formatTime } from "./i18n.js";
import { boot } from "./session.js";
import { result } from "./notify.js";
import { formatPhone } from "./phone.js";

// numbers read one way on every page (138 0013 8000, 400 800 1234; E.164 on hover)
export { phoneText } from "./phone.js";

/** A table cell (or any element) with a phone number as people read it. */
export function phoneCell(tag, number) {
  const p = formatPhone(number);
  return h(tag, { class: "phone mono", title: p.title || null }, p.text);
}

const LISTS = ["customers", "contacts", "assets", "tickets", "interactions"];

/** The kinds of file an import takes, and who may import each (crm_core.import_rights):
 * customers need create and reassign on customers, scope all; the service network
 * stations create, all; the batches' stage updates orders update, all. */
export const IMPORT_KINDS = [
  { name: "customers", allowed: (s) => s.scope("customers", "create") === "all" && s.scope("customers", "reassign") === "all" },
  { name: "stations", allowed: (s) => s.scope("stations", "create") === "all" },
  { name: "technicians", allowed: (s) => s.scope("stations", "create") === "all" },
  { name: "stage_updates", allowed: (s) => s.scope("orders", "update") === "all" },
  { name: "orders", allowed: (s) => s.scope("orders", "create") === "all" && s.scope("orders", "update") === "all" },
];

/** Whether the session may import a file of any kind. */
export function mayImport(s) {
  return IMPORT_KINDS.some((k) => k.allowed(s));
}

/** The lists and reports the session may download as files. */
export function exportable(s) {
  return LISTS.filter((list) => s.can(list, "export"));
}

export const SECTIONS = [
  { name: "ivr", allowed: (s) => s.can("ivr", "read") },
  { name: "reminders", allowed: (s) => s.can("subscriptions", "read") || s.can("assets", "read") },
  { name: "pool", allowed: (s) => s.can("customers", "update") || s.can("customers", "reassign") },
  { name: "reassign", allowed: (s) => s.can("customers", "reassign") && s.can("users", "read") },
  { name: "merge", allowed: (s) => s.can("customers", "update") },
  { name: "imports", allowed: mayImport },
  { name: "exports", allowed: (s) => exportable(s).length > 0 || s.can("reports", "export") },
  // dispatching is the service desk's and supervisors' work: more than one's own tickets
  { name: "dispatch", allowed: (s) => ["all", "region", "team"].includes(s.scope("tickets", "update")) },
  // the network's figures (issue 15 items 6-7): whoever reads the reports, in its scope
  { name: "stations", allowed: (s) => s.can("reports", "read") },
  { name: "service", allowed: (s) => s.can("reports", "read") },
  // the call centre's reports (issue 16 item 5): whoever reads the reports
  { name: "kpi", allowed: (s) => s.can("reports", "read") },
  // outbound call lists (issue 17): their progress for whoever works them; making and
  // assigning them for whoever may (call_lists:create)
  { name: "calllists", allowed: (s) => s.can("call_lists", "read") },
  // customers' orders and their supplier batches (issue 18): whoever reads orders, in
  // the scope of that grant (a salesman his own); moving a batch needs update, all
  { name: "orders", allowed: (s) => s.can("orders", "read") },
  { name: "batches", allowed: (s) => s.can("orders", "read") },
  // the sales pipeline (issue 18 item 3): whoever reads the reports, in its scope
  { name: "funnel", allowed: (s) => s.can("reports", "read") },
  // mail to customer groups (issue 18 item 4): follow them, and send one if allowed
  { name: "mailings", allowed: (s) => s.can("mailings", "read") },
];

export function allowedSections(session) {
  return SECTIONS.filter((section) => section.allowed(session));
}

function renderMenu(session, current) {
  const items = allowedSections(session).map((section) => h("a", {
    href: `/backoffice/${section.name}`, id: `bo-menu-${section.name}`,
    "aria-current": section.name === current ? "page" : null,
  }, t(`bo.section.${section.name}`)));
  fill($("#bo-menu"), h("a", { href: "/backoffice", id: "bo-menu-home", "aria-current": current === "backoffice" ? "page" : null }, t("bo.home")), items);
}

/** Sign-in, language, top bar and side menu of back-office page ``name``; the session,
 * or null when the user may not use this page (it then says so). */
export async function start(name) {
  const out = $("#bo-result");
  let session;
  try {
    session = await boot();
  } catch (err) {
    result(out, "error", describe(err));
    return null;
  }
  renderMenu(session, name);
  onLanguage(() => renderMenu(session, name));
  const section = SECTIONS.find((s) => s.name === name);
  if (section && !section.allowed(session)) {
    result(out, "error", t("bo.denied"));
    return null;
  }
  $("#bo-content").hidden = false;
  return session;
}

/** A table: header label keys, then the rows (already built). */
export function table(id, headers, rows) {
  return h("table", { class: "grid", id },
    h("thead", {}, h("tr", {}, headers.map((key) => h("th", {}, key ? t(key) : "")))),
    h("tbody", {}, rows));
}

/** An inline "are you sure" under a control: the question, then Confirm / Cancel.
 * (No window.confirm: a dialog would steal the keyboard and cannot be styled.) */
export function confirmBox(question, onConfirm, { confirmLabel = "bo.confirm", id } = {}) {
  const box = h("div", { class: "bo-confirm", role: "alertdialog", id });
  const cancel = () => box.remove();
  fill(box, h("span", {}, question),
    h("button", { type: "button", class: "danger", dataset: { role: "confirm" }, onclick: async () => {
      box.querySelectorAll("button").forEach((b) => { b.disabled = true; });
      try {
        await onConfirm();
      } finally {
        box.remove();
      }
    } }, t(confirmLabel)),
    h("button", { type: "button", onclick: cancel }, t("action.cancel")));
  return box;
}

/** Active (or all) users the session may read, by display name; [] without the grant. */
export async function users({ active = true } = {}) {
  const out = [];
  for (let offset = 0; offset < 2000; offset += 200) {
    const page = await api("GET", "/users", undefined, { query: { limit: 200, offset, active: active === null ? undefined : active } });
    out.push(...page.items);
    if (out.length >= page.total || !page.items.length) break;
  }
  return out.sort((a, b) => String(a.display_name || a.username).localeCompare(String(b.display_name || b.username)));
}

export function userName(u) {
  if (!u) return "";
  return u.display_name ? `${u.display_name} (${u.username})` : String(u.username || u.id);
}

export function ownerName(owner) {
  return owner && owner.display_name ? owner.display_name : t("customer.no_owner");
}

export function when(iso) {
  return iso ? formatTime(iso) : "—";
}

/** A link to the customer's 360 page. */
export function customerLink(id, name) {
  return h("a", { href: `/records/${Number(id)}` }, name || `#${Number(id)}`);
}

/** A link to the ticket's page (number as its text). */
export function ticketLink(tk) {
  return h("a", { href: `/backoffice/ticket?id=${Number(tk.id)}`, class: "ticket-link" }, tk.number || `#${Number(tk.id)}`);
}

/**
 * A section's list fetched into ``state`` (``state.items``; a paged answer, ``{items,
 * total}`` fetched from ``offset`` > 0, is appended to what is shown), then drawn by
 * ``render`` and the page marked loaded; a failure is said in the page's result line.
 */
export async function loadList(state, fetch, render, offset = 0) {
  const out = $("#bo-result");
  try {
    const page = await fetch();
    state.items = offset ? state.items.concat(page.items) : page.items;
    if (page.total !== undefined) state.total = page.total;
    result(out, "", "");
    render();
    document.body.dataset.loaded = "1";
  } catch (err) {
    result(out, "error", describe(err));
  }
}

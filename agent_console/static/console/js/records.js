// Records: the customers before any search (issue 14 item 9: the user's own customers,
// else every customer they may see, with filters), the recent callers beside them and,
// for whoever reads orders, the late supplier batches of their orders (issue 18), for
// whoever reads the reports (managers), the big contracts signed lately (issue 18), a
// "New customer" form, and the search by name, any phone format, serial number or
// ticket number; each customer opens its 360 page. The query and the filters live in
// the address (?q=&owner=&status=) so the back button and a shared link give the same list.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, onLanguage, formatTime, formatDate } from "./i18n.js";
import { boot } from "./session.js";
import { result } from "./notify.js";
import { install as installHotkeys } from "./hotkeys.js";
import { vipBadge, phone } from "./render.js";
import { outcomeKey } from "./words.js";

const PAGE = 50;
const RECENT = 12;
const STATUSES = ["prospect", "active", "dormant", "lost"];
const OWNERS = ["me", "any"];
const S = {
  session: null,
  agent: false, // answers calls: "only calls I answered" is offered
  q: "",
  owner: "any",
  ownerChosen: false, // picked by the user (else "mine" was the page's default, dropped on a search)
  status: "",
  items: [],
  total: 0,
  recent: null, // the recent callers' rows, or null before they came
  late: null, // the late batches of the user's orders, or null before they came
  big: null, // the big contracts of the last days ({min_amount, days, items}), or null
};

function row(c) {
  return h("tr", { dataset: { customerId: c.id } },
    h("td", {}, h("a", { href: `/records/${Number(c.id)}` }, c.name || "")),
    h("td", {}, vipBadge(c.vip_tier) || ""),
    h("td", {}, [c.province, c.city].filter(Boolean).join(" · ")),
    h("td", {}, [c.category, c.industry].filter(Boolean).join(" · ")),
    h("td", {}, c.owner_name || t("customer.no_owner")),
    h("td", {}, label("customer_status", c.status)));
}

function renderFilters() {
  options($("#filter-owner"), OWNERS.map((o) => [o, t(`records.owner_${o}`)]), S.owner);
  options($("#filter-status"), [["", t("records.any_status")], ...STATUSES.map((s) => [s, label("customer_status", s)])], S.status);
}

function render() {
  renderFilters();
  const table = $("#records-table");
  table.hidden = S.items.length === 0;
  fill($("tbody", table), S.items.map(row));
  $("#records-title").textContent = S.q ? t("records.results") : t(S.owner === "me" ? "records.mine" : "records.all");
  $("#records-summary").textContent = S.q ? t("search.results", { n: S.total, q: S.q }) : t("records.count", { n: S.total });
  $("#records-more").hidden = S.items.length >= S.total;
  renderRecent();
  renderLate();
  renderBig();
}

function address() {
  const params = new URLSearchParams();
  if (S.q) params.set("q", S.q);
  if (S.owner !== "any") params.set("owner", S.owner);
  if (S.status) params.set("status", S.status);
  const qs = params.toString();
  return qs ? `/records?${qs}` : "/records";
}

async function list(offset = 0) {
  const out = $("#records-result");
  result(out, "busy", t("action.working"));
  const query = { q: S.q, status: S.status, limit: PAGE, offset };
  if (S.owner === "me") query.owner_id = S.session.user.id;
  try {
    const page = await api("GET", "/customers", undefined, { query });
    S.total = page.total;
    S.items = offset ? S.items.concat(page.items) : page.items;
    result(out, "", "");
    if (!page.total) result(out, "info", S.q ? t("search.none") : t("records.none"));
    render();
  } catch (err) {
    result(out, "error", describe(err));
  }
}

/** Before any search: the user's own customers when they have some, else everyone's. */
async function firstList() {
  if (S.owner === "me") {
    await list();
    return;
  }
  S.owner = "me";
  await list();
  if (S.total === 0) {
    S.owner = "any";
    await list();
  }
}

// ---------------------------------------------------------------- recent callers

function recentItem(r) {
  const customer = r.customer
    ? h("a", { href: `/records/${Number(r.customer.id)}`, class: "recent-customer" }, r.customer.name || "")
    : h("span", { class: "muted" }, t(r.restricted ? "records.restricted_customer" : "records.unknown_caller"));
  return h("li", { class: "recent-item", dataset: { linkedid: r.linkedid || "" } },
    h("div", { class: "recent-line" },
      // an unknown number opens the search for it (a customer may have it in another form)
      r.customer || r.restricted ? phone(r.caller, "phone mono")
        : h("a", { href: `/records?q=${encodeURIComponent(r.caller || "")}`, class: "phone-link" }, phone(r.caller, "phone mono")),
      r.caller_name ? h("span", { class: "recent-name" }, r.caller_name) : null,
      h("span", { class: "muted when" }, formatTime(r.at))),
    h("div", { class: "recent-line" },
      customer, r.customer ? vipBadge(r.customer.vip_tier) : null,
      h("span", { class: `tag outcome-${r.outcome}` }, t(outcomeKey(r))),
      r.agent_name ? h("span", { class: "muted" }, r.agent_name) : null));
}

function renderRecent() {
  if (S.recent === null) return;
  fill($("#recent-list"), S.recent.map(recentItem));
  if (!S.recent.length) result($("#recent-result"), "info", t("records.no_recent"));
}

async function loadRecent() {
  const out = $("#recent-result");
  try {
    const page = await api("GET", "/recent-callers", undefined, { query: { limit: RECENT, mine: $("#recent-mine").checked ? "true" : "" } });
    S.recent = page.items || [];
    result(out, "", "");
    renderRecent();
  } catch (err) {
    result(out, "error", describe(err));
  }
}

// ---------------------------------------------------------------- late batches

// why a batch is late: days past its expected day, and/or after the order's due date
function lateWhy(b) {
  const parts = [];
  if (b.overdue_days > 0) parts.push(t("records.late_overdue", { n: b.overdue_days }));
  if (b.threatens_due) parts.push(t("records.late_threatens", { due: formatDate(b.due_date) }));
  return parts.join(" · ");
}

function lateItem(b) {
  const supplier = b.supplier_en && b.supplier_en !== b.supplier ? `${b.supplier} ${b.supplier_en}` : b.supplier;
  return h("li", { class: "recent-item late-item", dataset: { batch: b.batch_code, order: b.number } },
    h("div", { class: "recent-line" },
      h("a", { href: `/records/${Number(b.customer_id)}`, class: "late-order" }, b.number),
      h("span", {}, b.customer_name || ""),
      h("span", { class: "why" }, lateWhy(b))),
    h("div", { class: "recent-line" },
      h("span", { class: "tag order-stage" }, label("order_stage", b.stage)),
      h("span", { class: "mono" }, b.batch_code),
      h("span", { class: "muted" }, supplier || ""),
      h("span", { class: "muted when" }, t("records.late_expected", { day: formatDate(b.expected_on) }))));
}

function renderLate() {
  if (S.late === null) return;
  fill($("#late-list"), S.late.map(lateItem));
  result($("#late-result"), S.late.length ? "" : "info", S.late.length ? "" : t("records.no_late"));
}

async function loadLate() {
  try {
    S.late = (await api("GET", "/batches/late", undefined, { query: { limit: 20 } })).items || [];
    renderLate();
  } catch (err) {
    result($("#late-result"), "error", describe(err));
  }
}

// ---------------------------------------------------------------- big contracts

function bigItem(c) {
  const amount = Number(c.amount).toLocaleString(document.documentElement.lang || "zh-CN", { maximumFractionDigits: 0 });
  return h("li", { class: "recent-item big-item", dataset: { kind: c.kind, id: c.id } },
    h("div", { class: "recent-line" },
      h("span", { class: "tag" }, t(`records.big_${c.kind}`)),
      h("a", { href: `/records/${Number(c.customer_id)}`, class: "big-customer" }, c.customer_name || ""),
      h("strong", { class: "big-amount num" }, amount)),
    h("div", { class: "recent-line" },
      h("span", { class: "big-title" }, c.title || ""),
      c.owner_name ? h("span", { class: "muted" }, t("records.big_by", { name: c.owner_name })) : null,
      h("span", { class: "muted when" }, formatDate(String(c.signed_at).slice(0, 10)))));
}

function renderBig() {
  if (S.big === null) return;
  const amount = Number(S.big.min_amount).toLocaleString(document.documentElement.lang || "zh-CN");
  $("#big-hint").textContent = t("records.big_hint", { days: S.big.days, amount });
  fill($("#big-list"), S.big.items.map(bigItem));
  result($("#big-result"), S.big.items.length ? "" : "info", S.big.items.length ? "" : t("records.no_big"));
}

async function loadBig() {
  try {
    S.big = await api("GET", "/reports/sales/big-contracts");
    renderBig();
  } catch (err) {
    result($("#big-result"), "error", describe(err));
  }
}

// ---------------------------------------------------------------- new customer

function newCustomerForm() {
  const form = $("#new-customer-form");
  const name = h("input", { id: "nc-name", type: "text", maxlength: "200", required: true });
  const kind = options(h("select", { id: "nc-kind" }), [["company", t("customer_kind.company")], ["person", t("customer_kind.person")]], "company");
  const number = h("input", { id: "nc-phone", type: "tel", maxlength: "40" });
  const province = h("input", { id: "nc-province", type: "text", maxlength: "200" });
  const city = h("input", { id: "nc-city", type: "text", maxlength: "200" });
  const out = h("span", { id: "nc-result", class: "result", hidden: true });
  fill(form,
    h("h3", {}, t("records.new_customer")),
    h("div", { class: "form-grid" },
      h("label", {}, h("span", {}, t("customer.name")), name),
      h("label", {}, h("span", {}, t("customer.kind")), kind),
      h("label", {}, h("span", {}, t("customer.phone")), number),
      h("label", {}, h("span", {}, t("customer.province")), province),
      h("label", {}, h("span", {}, t("customer.city")), city)),
    h("div", { class: "form-actions" },
      h("button", { type: "submit", class: "primary" }, t("action.create_customer")),
      h("button", { type: "button", onclick: () => { form.hidden = true; } }, t("action.cancel")), out));
  form.onsubmit = async (ev) => {
    ev.preventDefault();
    const body = { name: name.value.trim(), kind: kind.value, numbers: number.value.trim() ? [number.value.trim()] : [] };
    if (!body.name) {
      name.focus();
      return result(out, "error", t("error.required", { field: t("customer.name") }));
    }
    if (province.value.trim()) body.province = province.value.trim();
    if (city.value.trim()) body.city = city.value.trim();
    result(out, "busy", t("action.working"));
    try {
      const created = await api("POST", "/customers", body);
      location.assign(`/records/${Number(created.id)}`);
    } catch (err) {
      const ex = err.status === 409 && err.body && err.body.existing;
      if (!ex) return result(out, "error", describe(err));
      result(out, "error", t("pop.duplicate", { name: ex.name || "", owner: ex.owner_name || t("customer.no_owner") }));
      out.append(" ", h("a", { href: `/records/${Number(ex.id)}`, id: "nc-existing" }, t("records.open_existing")));
    }
  };
  form.hidden = false;
  name.focus();
}

// ---------------------------------------------------------------- start

async function main() {
  try {
    S.session = await boot();
  } catch (err) {
    result($("#records-result"), "error", describe(err));
    return;
  }
  const input = $("#search");
  const params = new URLSearchParams(location.search);
  S.q = params.get("q") || "";
  S.owner = OWNERS.includes(params.get("owner")) ? params.get("owner") : "any";
  S.ownerChosen = params.has("owner");
  S.status = STATUSES.includes(params.get("status")) ? params.get("status") : "";
  input.value = S.q;
  renderFilters();
  $("#search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    S.q = input.value.trim();
    if (S.q && !S.ownerChosen) S.owner = "any"; // a search looks through everyone in view
    history.replaceState(null, "", address());
    list();
  });
  $("#records-filters").addEventListener("change", () => {
    S.owner = $("#filter-owner").value;
    S.ownerChosen = true;
    S.status = $("#filter-status").value;
    history.replaceState(null, "", address());
    list();
  });
  $("#records-more").addEventListener("click", () => list(S.items.length));
  if (S.session.can("customers", "create")) {
    $("#new-customer").hidden = false;
    $("#new-customer").addEventListener("click", newCustomerForm);
  }
  installHotkeys({ search: () => input.focus() });
  onLanguage(render);
  if (S.session.can("calls", "read")) {
    $("#recent-callers").hidden = false;
    $("#recent-mine").addEventListener("change", loadRecent);
    try {
      await api("GET", "/agent/state", undefined, { allow401: true });
      S.agent = true; // answers calls: her own recent callers may be picked
    } catch {
      S.agent = false;
    }
    $("#recent-mine-label").hidden = !S.agent;
    loadRecent();
  }
  if (S.session.can("orders", "read")) {
    $("#late-batches").hidden = false;
    loadLate();
  }
  if (S.session.can("reports", "read")) {
    $("#big-contracts").hidden = false;
    loadBig();
  }
  if (S.q || params.has("owner") || params.has("status")) await list();
  else await firstList();
  if (!S.q) input.focus();
  document.body.dataset.loaded = "1";
}

main();

// The shared pool: customers without an account manager (GET /pool). Whoever may
// update customers claims one for themselves (capped per period: the API says when
// the cap is reached); whoever may reassign customers with scope all or region hands
// one to a colleague (POST /customers/{id}/owner). The page shows only what deciding
// needs; the record comes with the customer.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, onLanguage } from "./i18n.js";
import { result, toast } from "./notify.js";
import { start, table, users, userName, when, loadList } from "./office.js";

const PAGE = 50;
const S = { session: null, q: "", province: "", items: [], total: 0, colleagues: [] };

const mayClaim = () => S.session.can("customers", "update");
const mayAssign = () => ["all", "region"].includes(S.session.scope("customers", "reassign"));

function vip(tier) {
  const n = Number(tier) || 0;
  return n > 0 ? h("span", { class: `vip vip-${Math.min(n, 5)}` }, `VIP ${n}`) : "";
}

async function take(c, userId, out) {
  result(out, "busy", t("action.working"));
  try {
    await api("POST", `/customers/${Number(c.id)}/owner`, { user_id: userId });
    const me = userId === S.session.user.id;
    const who = me ? null : S.colleagues.find((u) => u.id === userId);
    toast("ok", me ? t("pool.claimed", { name: c.name }) : t("pool.assigned", { name: c.name, user: userName(who) }));
    await load(0);
  } catch (err) {
    result(out, "error", describe(err));
  }
}

function actions(c) {
  const out = h("span", { class: "result", hidden: true });
  const parts = [];
  if (mayClaim()) parts.push(h("button", { type: "button", class: "small primary", dataset: { role: "claim" }, onclick: () => take(c, S.session.user.id, out) }, t("pool.claim")));
  if (mayAssign() && S.colleagues.length) {
    const pick = options(h("select", { class: "small", "aria-label": t("pool.assign_to") }),
      [["", t("pool.assign_to")], ...S.colleagues.map((u) => [u.id, userName(u)])], "");
    parts.push(pick, h("button", { type: "button", class: "small", dataset: { role: "assign" }, onclick: () => {
      if (!pick.value) return result(out, "error", t("pool.pick_user"));
      take(c, Number(pick.value), out);
    } }, t("pool.assign")));
  }
  return h("td", { class: "actions" }, parts, out);
}

function row(c) {
  return h("tr", { dataset: { customerId: c.id } },
    h("td", { class: "wrap" }, h("strong", {}, c.name)),
    h("td", {}, vip(c.vip_tier)),
    h("td", {}, [c.province, c.city].filter(Boolean).join(" · ")),
    h("td", {}, [c.category, c.industry].filter(Boolean).join(" · ")),
    h("td", {}, label("customer_status", c.status)),
    h("td", {}, c.pooled_at ? when(c.pooled_at) : t("pool.never_owned")),
    h("td", {}, c.previous_owner ? c.previous_owner.display_name || "" : "—"),
    actions(c));
}

function render() {
  const q = h("input", { id: "pool-q", type: "search", value: S.q, maxlength: "200" });
  const province = h("input", { id: "pool-province", type: "text", value: S.province, maxlength: "100" });
  const filters = h("form", { class: "bo-filters", id: "pool-filters", role: "search" },
    h("label", {}, h("span", {}, t("pool.search")), q),
    h("label", {}, h("span", {}, t("customer.province")), province),
    h("button", { type: "submit" }, t("pool.filter")));
  filters.addEventListener("submit", (ev) => {
    ev.preventDefault();
    S.q = q.value.trim();
    S.province = province.value.trim();
    load(0);
  });
  fill($("#bo-content"),
    h("section", { class: "bo-block" }, filters,
      h("p", { class: "summary", id: "pool-summary" }, t("pool.count", { n: S.total })),
      S.items.length
        ? table("pool-table", ["customer.name", "customer.vip_tier", "customer.where", "customer.category", "customer.status", "pool.since", "pool.previous_owner", ""], S.items.map(row))
        : h("p", { class: "muted", id: "pool-empty" }, t("pool.empty")),
      S.items.length < S.total ? h("button", { type: "button", id: "pool-more", onclick: () => load(S.items.length) }, t("list.more")) : null,
      mayClaim() ? h("p", { class: "muted small" }, t("pool.cap_hint")) : null));
}

async function load(offset) {
  await loadList(S, () => api("GET", "/pool", undefined, { query: { q: S.q, province: S.province, limit: PAGE, offset } }),
                 render, offset);
}

async function main() {
  S.session = await start("pool");
  if (!S.session) return;
  if (mayAssign() && S.session.can("users", "read")) {
    S.colleagues = (await users().catch(() => [])).filter((u) => u.active !== false);
  }
  onLanguage(render);
  await load(0);
}

main();

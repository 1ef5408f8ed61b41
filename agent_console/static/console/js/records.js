// Records: search customers by name, any phone format, serial number or ticket
// number; each hit opens its 360 page. The query lives in the address (?q=) so
// the back button and a shared link give the same list.
import { h, $, fill, append } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, onLanguage } from "./i18n.js";
import { boot } from "./session.js";
import { result } from "./notify.js";
import { install as installHotkeys } from "./hotkeys.js";
import { vipBadge } from "./render.js";

const PAGE = 50;
let last = { q: "", items: [], total: 0 };

function row(c) {
  return h("tr", { dataset: { customerId: c.id } },
    h("td", {}, h("a", { href: `/records/${Number(c.id)}` }, c.name || "")),
    h("td", {}, vipBadge(c.vip_tier) || ""),
    h("td", {}, [c.province, c.city].filter(Boolean).join(" · ")),
    h("td", {}, [c.category, c.industry].filter(Boolean).join(" · ")),
    h("td", {}, c.owner_name || t("customer.no_owner")),
    h("td", {}, label("customer_status", c.status)));
}

function render() {
  const table = $("#records-table");
  table.hidden = last.items.length === 0;
  fill($("tbody", table), last.items.map(row));
  $("#records-summary").textContent = last.q ? t("search.results", { n: last.total, q: last.q }) : "";
  $("#records-more").hidden = last.items.length >= last.total;
}

async function search(q, offset = 0) {
  const out = $("#records-result");
  result(out, "busy", t("action.working"));
  try {
    const page = await api("GET", "/customers", undefined, { query: { q, limit: PAGE, offset } });
    last = { q, total: page.total, items: offset ? last.items.concat(page.items) : page.items };
    result(out, "", "");
    if (!page.total) result(out, "info", t("search.none"));
    render();
  } catch (err) {
    result(out, "error", describe(err));
  }
}

async function main() {
  try {
    await boot();
  } catch (err) {
    result($("#records-result"), "error", describe(err));
    return;
  }
  const input = $("#search");
  const q = new URLSearchParams(location.search).get("q") || "";
  input.value = q;
  $("#search-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = input.value.trim();
    history.replaceState(null, "", value ? `/records?q=${encodeURIComponent(value)}` : "/records");
    if (value) search(value);
  });
  $("#records-more").addEventListener("click", () => search(last.q, last.items.length));
  installHotkeys({ search: () => input.focus() });
  onLanguage(render);
  if (q) search(q);
  else input.focus();
}

main();

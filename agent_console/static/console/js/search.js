// The search box of the top bar ("/" focuses it): customers by name, any phone
// format, serial number or ticket number. On the console a hit can be taken as
// the caller's record ("use for this call"); every page can open its 360 page.
import { h, $, fill } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label } from "./i18n.js";
import { vipBadge } from "./render.js";

export async function searchCustomers(q, limit = 20) {
  return api("GET", "/customers", undefined, { query: { q, limit } });
}

export function resultRow(c, { onUse } = {}) {
  return h("li", { class: "hit", dataset: { customerId: c.id } },
    h("a", { href: `/records/${Number(c.id)}`, class: "hit-name" }, c.name || ""),
    vipBadge(c.vip_tier),
    h("span", { class: "muted" }, [c.province, c.city].filter(Boolean).join(" · ")),
    c.owner_name ? h("span", { class: "muted" }, `${t("customer.owner")}: ${c.owner_name}`) : null,
    c.status ? h("span", { class: "tag" }, label("customer_status", c.status)) : null,
    onUse ? h("button", { type: "button", class: "small", onclick: () => { close(); onUse(c.id); } }, t("search.use")) : null);
}

function close() {
  const box = $("#search-results");
  if (box) box.hidden = true;
}

/** Wire the top bar's search form to a results drop-down. */
export function initSearch({ onUse } = {}) {
  const form = $("#search-form");
  const input = $("#search");
  const box = $("#search-results");
  if (!form || !input || !box) return;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const q = input.value.trim();
    if (!q) return close();
    box.hidden = false;
    fill(box, h("p", { class: "muted" }, t("action.working")));
    try {
      const page = await searchCustomers(q, 10);
      const items = page.items || [];
      fill(box,
        h("div", { class: "results-head" },
          h("strong", {}, t("search.results", { n: page.total ?? items.length, q })),
          h("button", { type: "button", class: "link", onclick: close }, t("action.close"))),
        items.length ? h("ul", { class: "hits" }, items.map((c) => resultRow(c, { onUse }))) : h("p", { class: "muted" }, t("search.none")));
    } catch (err) {
      fill(box, h("p", { class: "result", dataset: { kind: "error" } }, describe(err)));
    }
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape") {
      close();
      input.blur();
    }
  });
}

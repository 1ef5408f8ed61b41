// Merging duplicates: the pairs of customers that share a phone number or a name (as
// the duplicate guard compares them) and that the user may merge (GET /duplicates).
// For each pair the person picks the record to keep; the other one's contacts,
// numbers, assets, tickets, interactions, opportunities, subscriptions and calls move
// to it and it is closed (POST /customers/{keep}/merge, audited).
import { h, $, fill } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, onLanguage } from "./i18n.js";
import { result, toast } from "./notify.js";
import { start, confirmBox, customerLink, ownerName, when, phoneText, loadList } from "./office.js";

const PAGE = 20;
const COUNTS = ["contacts", "phone_numbers", "assets", "tickets", "interactions", "opportunities"];
const S = { items: [], total: 0 };

function why(pair) {
  const parts = [];
  if (pair.reasons.includes("phone")) parts.push(t("merge.same_phone", { numbers: pair.numbers.map(phoneText).join(", ") }));
  if (pair.reasons.includes("name")) parts.push(t("merge.same_name"));
  return parts.join(" · ");
}

function side(pair, keep, other, slot) {
  const c = keep;
  return h("div", { class: "card", dataset: { side: slot, customerId: c.id } },
    h("div", { class: "bo-pair-head" }, h("strong", {}, customerLink(c.id, c.name)), h("span", { class: "muted mono" }, `#${Number(c.id)}`)),
    h("dl", { class: "bo-stats" },
      h("dt", {}, t("customer.owner")), h("dd", {}, ownerName(c.owner)),
      h("dt", {}, t("customer.where")), h("dd", {}, [c.province, c.city].filter(Boolean).join(" · ") || "—"),
      h("dt", {}, t("customer.status")), h("dd", {}, label("customer_status", c.status)),
      h("dt", {}, t("merge.created")), h("dd", {}, when(c.created_at)),
      COUNTS.map((k) => [h("dt", {}, t(`merge.count.${k}`)), h("dd", {}, String(c.records[k] ?? 0))])),
    h("button", { type: "button", dataset: { role: "keep" }, onclick: (ev) => ask(pair, keep, other, ev.target) }, t("merge.keep_this")));
}

function ask(pair, keep, other, button) {
  const card = button.closest(".bo-pair-card");
  card.querySelector(".bo-confirm")?.remove();
  const moving = COUNTS.reduce((n, k) => n + (other.records[k] || 0), 0);
  card.append(confirmBox(t("merge.question", { keep: keep.name, merge: other.name, n: moving }), async () => {
    try {
      await api("POST", `/customers/${Number(keep.id)}/merge`, { merge_id: Number(other.id) });
      toast("ok", t("merge.done", { keep: keep.name, merge: other.name }));
      await load(0);
    } catch (err) {
      toast("error", describe(err));
    }
  }, { confirmLabel: "merge.go", id: "merge-confirm" }));
}

function pairCard(pair) {
  return h("li", { class: "bo-block bo-pair-card", dataset: { a: pair.a.id, b: pair.b.id } },
    h("p", { class: "muted" }, why(pair)),
    h("div", { class: "bo-pair" }, side(pair, pair.a, pair.b, "a"), side(pair, pair.b, pair.a, "b")));
}

function render() {
  fill($("#bo-content"),
    h("p", { class: "summary", id: "merge-summary" }, t("merge.count", { n: S.total })),
    S.items.length
      ? h("ul", { class: "bo-cards-plain", id: "merge-pairs" }, S.items.map(pairCard))
      : h("p", { class: "muted", id: "merge-empty" }, t("merge.none")),
    S.items.length < S.total ? h("button", { type: "button", id: "merge-more", onclick: () => load(S.items.length) }, t("list.more")) : null);
}

async function load(offset) {
  await loadList(S, () => api("GET", "/duplicates", undefined, { query: { limit: PAGE, offset } }),
                 render, offset);
}

async function main() {
  if (!(await start("merge"))) return;
  onLanguage(render);
  await load(0);
}

main();

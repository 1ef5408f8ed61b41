// Reminders: subscriptions, contracts and warranties ending today, then those ending
// within the days chosen, soonest first (GET /reminders: an account manager sees his
// own customers', a supervisor his team's). Each opens the customer's record.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, onLanguage, formatDate } from "./i18n.js";
import { result } from "./notify.js";
import { start, table, customerLink, ownerName, loadList } from "./office.js";

const WINDOWS = [7, 30, 90];
const S = { within: 7, items: [] };

function what(item) {
  if (item.kind === "warranty") return t("reminders.warranty_of", { model: item.title || "", serial: item.serial_number || "" });
  return item.title || "";
}

function row(item) {
  const today = item.days_left === 0;
  return h("tr", { dataset: { kind: item.kind, id: item.id, customerId: item.customer.id } },
    h("td", {}, formatDate(item.date)),
    h("td", {}, h("span", { class: today ? "tag today" : "tag" }, today ? t("reminders.today") : t("reminders.in_days", { n: item.days_left }))),
    h("td", {}, label("reminder_kind", item.kind)),
    h("td", { class: "wrap" }, what(item)),
    h("td", {}, customerLink(item.customer.id, item.customer.name)),
    h("td", {}, ownerName(item.owner)));
}

function block(id, title, items, empty) {
  return h("section", { class: "bo-block", id },
    h("h2", {}, title, h("span", { class: "muted" }, ` ${items.length}`)),
    items.length
      ? table(`${id}-table`, ["reminders.date", "reminders.when", "reminders.kind_label", "reminders.what", "reminders.customer", "customer.owner"], items.map(row))
      : h("p", { class: "muted" }, empty));
}

function render() {
  const today = S.items.filter((i) => i.days_left === 0);
  const soon = S.items.filter((i) => i.days_left > 0);
  const pick = options(h("select", { id: "reminders-within" }), WINDOWS.map((n) => [n, t("reminders.within_days", { n })]), S.within);
  pick.addEventListener("change", () => { S.within = Number(pick.value); load(); });
  fill($("#bo-content"),
    block("reminders-today", t("reminders.due_today"), today, t("reminders.none_today")),
    h("div", { class: "bo-filters" }, h("label", {}, h("span", {}, t("reminders.coming_up")), pick)),
    block("reminders-soon", t("reminders.soon", { n: S.within }), soon, t("reminders.none_soon")));
}

async function load() {
  result($("#bo-result"), "busy", t("action.working"));
  await loadList(S, () => api("GET", "/reminders", undefined, { query: { within_days: S.within } }),
                 render);
}

async function main() {
  if (!(await start("reminders"))) return;
  onLanguage(render);
  await load();
}

main();

// Someone leaves: every customer they own, and the open opportunities they hold on
// them, go to one colleague or to the shared pool in one operation
// (POST /users/{id}/reassign-customers, audited customer by customer). The users come
// from GET /users (the user's users:read scope), how many customers each owns from the
// owners report when the user may read reports.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, onLanguage } from "./i18n.js";
import { result, toast } from "./notify.js";
import { start, confirmBox, users, userName } from "./office.js";

const POOL = "pool";
const S = { session: null, users: [], owned: new Map(), from: "", to: "", done: null };

async function loadCounts() {
  S.owned = new Map();
  if (!S.session.can("reports", "read")) return;
  try {
    const report = await api("GET", "/reports/customers", undefined, { query: { by: "owner" } });
    for (const group of report.items) if (group.key !== null) S.owned.set(Number(group.key), group.customers);
  } catch {
    // the counts only help the choice: the reassignment says how many moved
  }
}

function who(u) {
  const parts = [userName(u)];
  if (S.owned.has(u.id)) parts.push(t("reassign.owns", { n: S.owned.get(u.id) }));
  if (u.active === false) parts.push(t("reassign.inactive"));
  return parts.join(" — ");
}

function targetName(value) {
  if (value === POOL) return t("reassign.to_pool");
  return userName(S.users.find((u) => String(u.id) === String(value)));
}

function render() {
  const from = options(h("select", { id: "reassign-from" }),
    [["", t("reassign.pick_from")], ...S.users.map((u) => [u.id, who(u)])], S.from);
  const to = options(h("select", { id: "reassign-to" }),
    [["", t("reassign.pick_to")], [POOL, t("reassign.to_pool")],
      ...S.users.filter((u) => u.active !== false && String(u.id) !== String(S.from)).map((u) => [u.id, userName(u)])], S.to);
  const out = h("p", { class: "result", id: "reassign-result", hidden: true });
  const confirmAt = h("div", { id: "reassign-confirm-at" });
  from.addEventListener("change", () => { S.from = from.value; if (S.to === S.from) S.to = ""; render(); });
  to.addEventListener("change", () => { S.to = to.value; });
  const form = h("form", { class: "form bo-form", id: "reassign-form", novalidate: true },
    h("div", { class: "form-grid" },
      h("label", {}, h("span", {}, t("reassign.from")), from),
      h("label", {}, h("span", {}, t("reassign.to")), to)),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary", id: "reassign-go" }, t("reassign.go"))),
    confirmAt, out);
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!S.from || !S.to) return result(out, "error", t("reassign.pick_both"));
    const leaver = S.users.find((u) => String(u.id) === String(S.from));
    const count = S.owned.has(leaver.id) ? S.owned.get(leaver.id) : null;
    const question = count === null
      ? t("reassign.question", { from: userName(leaver), to: targetName(S.to) })
      : t("reassign.question_n", { from: userName(leaver), to: targetName(S.to), n: count });
    fill(confirmAt, confirmBox(question, () => reassign(leaver, S.to, out), { id: "reassign-confirm" }));
  });
  fill($("#bo-content"), h("section", { class: "bo-block" }, form),
    S.done ? h("section", { class: "bo-block", id: "reassign-done" }, h("p", { class: "result", dataset: { kind: "ok" } }, t("reassign.done", S.done))) : null);
}

async function reassign(leaver, target, out) {
  result(out, "busy", t("action.working"));
  try {
    const moved = await api("POST", `/users/${Number(leaver.id)}/reassign-customers`, { to_user_id: target === POOL ? null : Number(target) });
    S.done = { n: moved.moved, opportunities: moved.opportunities_moved, from: userName(leaver), to: targetName(target) };
    toast("ok", t("reassign.done", S.done));
    S.from = "";
    S.to = "";
    await loadCounts();
    render();
  } catch (err) {
    result(out, "error", describe(err));
  }
}

async function main() {
  S.session = await start("reassign");
  if (!S.session) return;
  try {
    [S.users] = await Promise.all([users({ active: null }), loadCounts()]);
  } catch (err) {
    result($("#bo-result"), "error", describe(err));
    return;
  }
  render();
  onLanguage(render);
  document.body.dataset.loaded = "1";
}

main();

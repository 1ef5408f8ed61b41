// The batches board (issue 18 item 5): a column per stage (ordered, shipped, customs,
// inspection, warehouse, dispatched, delivered), each with the supplier batches at that
// stage (GET /batches?stage=...: the earliest expected first, a page at a time), each
// card with its supplier, how many lines it carries (of the orders this user may see),
// its expected arrival and its late flag. Whoever may move batches (orders update, scope
// all: a batch carries many customers' lines) picks the stage a batch reached (the next
// one by default) and confirms; a step back is refused by the API, and its words are
// shown on the card. Supplier names come from other departments' files: text only.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, language, onLanguage } from "./i18n.js";
import { result, toast } from "./notify.js";
import { start, confirmBox } from "./office.js";
import { stageTag, lateTag, day } from "./order_tags.js";

const STAGES = ["ordered", "shipped", "customs", "inspection", "warehouse", "dispatched", "delivered"];
const PAGE = 50;
const S = { session: null, columns: {}, f: { supplier: "", late: false } };

const mayMove = () => S.session.scope("orders", "update") === "all";

function bilingual(zh, en) {
  const names = language() === "en" ? [en, zh] : [zh, en];
  return names.find(Boolean) || "";
}

function move(b, pick, out, card) {
  const to = pick.value;
  card.querySelector(".bo-confirm")?.remove();
  card.append(confirmBox(t("batches.confirm_move", { code: b.code, from: label("order_stage", b.stage), to: label("order_stage", to) }), async () => {
    result(out, "busy", t("action.working"));
    try {
      const moved = await api("POST", `/batches/${Number(b.id)}/stage`, { stage: to });
      toast("ok", moved.changed ? t("batches.moved", { code: b.code, stage: label("order_stage", moved.stage) }) : t("batches.unchanged", { code: b.code }));
      await Promise.all([loadColumn(b.stage, 0), loadColumn(to, 0)]);
    } catch (err) {
      result(out, "error", describe(err));  // a step back: the API says why, on the card
    }
  }, { confirmLabel: "batches.move", id: `batch-confirm-${Number(b.id)}` }));
}

function mover(b, card) {
  const next = STAGES[STAGES.indexOf(b.stage) + 1];
  if (!mayMove() || !next) return null;
  const out = h("p", { class: "result small batch-result", hidden: true });
  const pick = options(h("select", { class: "small batch-to", "aria-label": t("batches.to_stage") }),
    STAGES.filter((s) => s !== b.stage).map((s) => [s, label("order_stage", s)]), next);
  return h("div", { class: "batch-move" }, pick,
    h("button", { type: "button", class: "small", dataset: { role: "move" }, onclick: () => move(b, pick, out, card) }, t("batches.move")),
    out);
}

function card(b) {
  const el = h("li", { class: `card batch-card${b.late ? " late" : ""}`, dataset: { batchId: b.id, code: b.code, stage: b.stage, late: b.late ? "1" : "0" } });
  fill(el,
    h("p", { class: "batch-head" }, h("strong", { class: "mono" }, b.code), b.late ? [" ", lateTag(true)] : null),
    h("p", { class: "wrap batch-supplier" }, bilingual(b.supplier, b.supplier_en) || b.supplier_code),
    h("p", { class: "muted small" }, t("batches.lines", { n: b.lines, orders: b.orders })),
    h("p", { class: "small batch-expected" }, b.stage === "delivered"
      ? t("batches.delivered_on", { day: day(b.stage_on) })
      : t("batches.expected", { day: day(b.expected_on) })),
    mover(b, el));
  return el;
}

function column(stage) {
  const c = S.columns[stage] || { items: [], total: 0 };
  return h("section", { class: "batch-column", id: `batches-${stage}`, dataset: { stage } },
    h("h2", {}, stageTag(stage), h("span", { class: "muted count" }, ` ${Number(c.total)}`)),
    c.error ? h("p", { class: "result", dataset: { kind: "error" } }, c.error) : null,
    h("ul", { class: "batch-cards" }, c.items.map(card)),
    c.items.length < c.total ? h("button", { type: "button", class: "small", dataset: { role: "more" }, onclick: () => loadColumn(stage, c.items.length) }, t("list.more")) : null);
}

function filterForm() {
  const supplier = h("input", { id: "batches-supplier", type: "search", value: S.f.supplier, maxlength: "100" });
  const late = h("input", { id: "batches-late", type: "checkbox", checked: S.f.late });
  const form = h("form", { class: "bo-filters", id: "batches-filters", role: "search" },
    h("label", {}, h("span", {}, t("order.supplier")), supplier),
    h("label", { class: "inline" }, late, h("span", {}, t("batches.late_only"))),
    h("button", { type: "submit" }, t("pool.filter")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    S.f = { supplier: supplier.value.trim(), late: late.checked };
    loadAll();
  });
  return form;
}

function render() {
  fill($("#bo-content"),
    h("section", { class: "bo-block" }, filterForm(),
      h("p", { class: "muted small" }, mayMove() ? t("batches.how_to_move") : t("batches.read_only"))),
    h("div", { class: "batch-board", id: "batches-board" }, STAGES.map((s) => h("div", { class: "batch-slot", id: `slot-${s}` }, column(s)))));
}

function redraw(stage) {
  const slot = $(`#slot-${stage}`);
  if (slot) fill(slot, column(stage));
}

async function loadColumn(stage, offset) {
  const query = { stage, limit: PAGE, offset, supplier: S.f.supplier || undefined, late: S.f.late ? true : undefined };
  const c = S.columns[stage] || { items: [], total: 0 };
  try {
    const page = await api("GET", "/batches", undefined, { query });
    S.columns[stage] = { items: offset ? c.items.concat(page.items) : page.items, total: page.total };
  } catch (err) {
    S.columns[stage] = { ...c, error: describe(err) };
  }
  redraw(stage);
}

async function loadAll() {
  document.body.dataset.loaded = "";
  await Promise.all(STAGES.map((s) => loadColumn(s, 0)));
  document.body.dataset.loaded = "1";
}

async function main() {
  S.session = await start("batches");
  if (!S.session) return;
  render();
  onLanguage(render);
  await loadAll();
}

main();

// One order's page (issue 18 item 5), /backoffice/order?id=N, from GET /orders/{id}:
// the customer and contact, the salesman, the due date and where the order stands; its
// lines, each with its own state (back-ordered, partly delivered, cancelled), its batch,
// supplier, stage and expected arrival; and every batch the lines travel in with its
// stage timeline (the day each stage was reached, the stages still ahead) and its late
// flag. Names and titles come from customers and other departments' files: text only.
import { h, $, fill } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, language, onLanguage } from "./i18n.js";
import { result } from "./notify.js";
import { start, customerLink } from "./office.js";
import { stageTag, lateTag, day } from "./order_tags.js";

// the stages a batch goes through (crm_core.order_eta.STAGES), in order
export const STAGES = ["ordered", "shipped", "customs", "inspection", "warehouse", "dispatched", "delivered"];
const S = { session: null, id: null, order: null };

function orderId() {
  const raw = new URLSearchParams(location.search).get("id") || "";
  return /^[0-9]{1,10}$/.test(raw) && Number(raw) > 0 ? Number(raw) : null;
}

function bilingual(zh, en) {
  const names = language() === "en" ? [en, zh] : [zh, en];
  return names.find(Boolean) || "";
}

function fact(key, value, attrs) {
  const empty = value === null || value === undefined || value === "" || (Array.isArray(value) && !value.length);
  return [h("dt", {}, t(key)), h("dd", attrs || {}, empty ? "—" : value)];
}

function facts(o) {
  const contact = o.contact_name ? [o.contact_name, o.contact_role ? h("span", { class: "muted" }, ` · ${o.contact_role}`) : null] : null;
  return h("section", { class: "bo-block", id: "op-facts-block" },
    h("dl", { class: "bo-stats op-facts", id: "op-facts" },
      fact("order.number", o.number, { class: "mono", id: "op-number" }),
      fact("orders.customer", customerLink(o.customer_id, o.customer_name), { id: "op-customer" }),
      fact("orderpage.contact", contact, { id: "op-contact" }),
      fact("orders.salesman", o.owner_name, { id: "op-salesman" }),
      fact("orders.status", label("order_status", o.status), { id: "op-status" }),
      fact("order.due", day(o.due_date), { id: "op-due" }),
      fact("order.stage", stageTag(o.stage), { id: "op-stage" }),
      fact("order.expected", [day(o.expected_on), o.late ? [" ", lateTag(true)] : null], { id: "op-expected" }),
      fact("orderpage.note", o.note, { class: "wrap" })));
}

function lineState(ln) {
  const text = label("order_line_state", ln.state);
  if (ln.state === "partly_delivered") return `${text} (${Number(ln.delivered_qty)}/${Number(ln.quantity)})`;
  return text;
}

function linesTable(o) {
  const rows = o.lines.map((ln) => h("tr", { dataset: { lineId: ln.id, state: ln.state, stage: ln.stage } },
    h("td", { class: "wrap" }, ln.title),
    h("td", { class: "mono" }, ln.ref || "—"),
    h("td", { class: "num" }, String(ln.quantity)),
    h("td", { class: "num" }, ln.price === null || ln.price === undefined ? "—" : String(ln.price)),
    h("td", { class: "line-state" }, h("span", { class: `tag line-${ln.state}` }, lineState(ln))),
    h("td", { class: "mono" }, ln.batch_code || "—"),
    h("td", { class: "wrap" }, ln.supplier || "—"),
    h("td", {}, stageTag(ln.stage)),
    h("td", {}, day(ln.expected_on))));
  return h("section", { class: "bo-block", id: "op-lines-block" },
    h("h2", {}, t("orderpage.lines", { n: o.lines.length })),
    h("table", { class: "grid", id: "op-lines" },
      h("thead", {}, h("tr", {}, ["orderpage.title", "orderpage.ref", "orderpage.quantity", "orderpage.price",
        "orderpage.line_state", "order.batch", "order.supplier", "order.stage", "order.expected"].map((k) => h("th", {}, t(k))))),
      h("tbody", {}, rows)));
}

/** The batch's stages in order: reached ones with their day, the current one marked,
 * the ones still ahead greyed (the expected arrival is the batch's, shown beside). */
function timeline(b) {
  const reached = Object.fromEntries((b.timeline || []).map((s) => [s.stage, s.on]));
  return h("ol", { class: "op-timeline", dataset: { batchId: b.id } }, STAGES.map((s) => h("li", {
    class: s === b.stage ? "current" : (reached[s] ? "reached" : "ahead"), dataset: { stage: s } },
  h("span", { class: "op-stage-name" }, label("order_stage", s)),
  h("span", { class: "op-stage-day muted" }, reached[s] ? day(reached[s]) : ""))));
}

function batchesBlock(o) {
  return h("section", { class: "bo-block", id: "op-batches-block" },
    h("h2", {}, t("orderpage.batches", { n: o.batches.length })),
    o.batches.length
      ? h("ul", { class: "bo-cards-plain", id: "op-batches" }, o.batches.map((b) => h("li", { class: "card op-batch", dataset: { batchId: b.id, stage: b.stage, late: b.late ? "1" : "0" } },
        h("p", {}, h("strong", { class: "mono" }, b.code), " · ", bilingual(b.supplier, b.supplier_en) || "—", " · ", stageTag(b.stage)),
        h("p", {}, `${t("order.expected")}: `, day(b.expected_on), b.late ? [" ", lateTag(true)] : null),
        timeline(b))))
      : h("p", { class: "muted", id: "op-no-batches" }, t("orderpage.no_batches")),
    h("p", {}, h("a", { href: "/backoffice/batches" }, t("orders.to_board"))));
}

function render() {
  const o = S.order;
  if (!o) return;
  fill($("#op-heading"), t("orderpage.heading_of", { number: o.number }));
  fill($("#bo-content"), facts(o), linesTable(o), batchesBlock(o),
    h("p", {}, h("a", { href: "/backoffice/orders" }, t("orderpage.back"))));
}

async function main() {
  S.session = await start("order");
  if (!S.session) return;
  S.id = orderId();
  const out = $("#bo-result");
  if (!S.id) {
    result(out, "error", t("orderpage.no_id"));
    return;
  }
  try {
    S.order = await api("GET", `/orders/${S.id}`);
  } catch (err) {
    result(out, "error", describe(err));
    return;
  }
  $("#op-heading").removeAttribute("data-i18n"); // the heading names the order (render)
  render();
  onLanguage(render);
  document.body.dataset.loaded = "1";
}

main();

// What the orders pages (the list, one order, the batches board) show the same way: an
// order's number as a link to its page, a stage as a tag, the late flag with why.
// Values go in as text (dom.h).
import { h } from "./dom.js";
import { t, label, formatDate } from "./i18n.js";

/** A link to one order's page, its number as the text. */
export function orderLink(o) {
  return h("a", { href: `/backoffice/order?id=${Number(o.id)}`, class: "order-link mono" }, o.number || `#${Number(o.id)}`);
}

/** The stage of an order (or line, or batch) as a tag. */
export function stageTag(stage) {
  return h("span", { class: "tag order-stage", dataset: { stage } }, label("order_stage", stage));
}

/** The late flag, with why in its title; nothing when on time. */
export function lateTag(late) {
  return late ? h("span", { class: "tag warn order-late", title: t("order.late_title") }, t("order.late")) : null;
}

/** A day (YYYY-MM-DD) as the language writes it; a dash when there is none. */
export function day(iso) {
  return iso ? formatDate(iso) : "—";
}

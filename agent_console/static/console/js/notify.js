// Every action shows its result or a clear error: inline next to the control that
// did it (a result line) and in the page's notice area (aria-live), as text.
import { h, $ } from "./dom.js";
import { t } from "./i18n.js";

/** Show ``text`` in the result line ``el`` (kind: ok | error | busy | info). */
export function result(el, kind, text) {
  if (!el) return;
  el.textContent = text;
  el.dataset.kind = kind;
  el.hidden = !text;
}

let seq = 0;

/** A notice at the top right; errors stay until dismissed, the rest fade. */
export function toast(kind, text) {
  const area = $("#notices");
  if (!area) return null;
  const id = `notice-${++seq}`;
  const close = h("button", { type: "button", class: "notice-close", "aria-label": t("action.dismiss"), onclick: () => item.remove() }, "×");
  const item = h("div", { class: `notice notice-${kind}`, id, role: kind === "error" ? "alert" : "status", dataset: { kind } },
    h("span", { class: "notice-text" }, text), close);
  area.append(item);
  while (area.children.length > 5) area.firstElementChild.remove();
  if (kind !== "error") setTimeout(() => item.remove(), 6000);
  return item;
}

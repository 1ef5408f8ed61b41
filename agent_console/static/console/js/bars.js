// A horizontal bar chart in plain SVG (no library, nothing fetched): one bar per item,
// its label on the left and its value on the right. Labels come from the CRM (station
// and product names) and may be hostile: they go in as Text nodes, never as markup.
// Colours and sizes are presentation attributes and CSS classes (the page's CSP allows
// no inline style).
const SVG = "http://www.w3.org/2000/svg";
const ROW = 22;
const LABEL_W = 210;
const BAR_W = 360;
const VALUE_W = 70;

function el(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function clip(text, max) {
  const s = String(text ?? "");
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * ``items``: [{label, value (number or null), tone?}]; ``max``: the value of a full bar
 * (default: the largest value); ``unit``: put after each value ("%"); ``title``: the
 * chart's accessible name. A null value draws no bar and shows "—".
 */
export function bars(items, { max, unit = "", title = "", id } = {}) {
  const top = max ?? Math.max(1, ...items.map((i) => Number(i.value) || 0));
  const height = Math.max(1, items.length) * ROW + 4;
  const svg = el("svg", { class: "bars", viewBox: `0 0 ${LABEL_W + BAR_W + VALUE_W} ${height}`,
                          width: "100%", role: "img", "aria-label": title, preserveAspectRatio: "xMinYMin meet" });
  if (id) svg.setAttribute("id", id);
  if (title) svg.append(el("title", {}, title));
  items.forEach((item, i) => {
    const y = i * ROW + 2;
    const g = el("g", { class: `bar ${item.tone || ""}`.trim(), "data-label": item.label });
    const label = el("text", { x: LABEL_W - 6, y: y + ROW / 2 + 4, "text-anchor": "end", class: "bar-label" }, clip(item.label, 26));
    label.append(el("title", {}, item.label));
    g.append(label);
    g.append(el("rect", { x: LABEL_W, y: y + 3, width: BAR_W, height: ROW - 6, class: "bar-track", rx: 3 }));
    const value = item.value === null || item.value === undefined ? null : Number(item.value);
    if (value !== null && value > 0) {
      const w = Math.max(1, Math.min(BAR_W, (value / top) * BAR_W));
      g.append(el("rect", { x: LABEL_W, y: y + 3, width: w.toFixed(1), height: ROW - 6, class: "bar-fill", rx: 3 }));
    }
    g.append(el("text", { x: LABEL_W + BAR_W + 6, y: y + ROW / 2 + 4, class: "bar-value" },
      value === null ? "—" : `${value}${unit}`));
    svg.append(g);
  });
  return svg;
}

/** The tone of an attainment: good (>= 90 %), fair (>= 75 %), poor, or none. */
export function tone(pct) {
  if (pct === null || pct === undefined) return "";
  return pct >= 90 ? "good" : pct >= 75 ? "fair" : "poor";
}

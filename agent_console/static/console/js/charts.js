// Charts drawn by chart.js, an npm package Hotline serves itself (/static/vendor/, loaded
// by the page's head as a classic deferred script, so window.Chart is set before any
// module runs; no CDN, no network at run time). Without it (not installed: a 404) the
// pages still show their tables and say the charts are unavailable. Labels (queue names,
// numbers, agents' names) are drawn on a canvas as text: never markup.
import { h } from "./dom.js";
import { t } from "./i18n.js";

const COLOURS = ["#2f6fdb", "#d9534f", "#f0ad4e", "#5cb85c", "#8e6bbf", "#5bc0de", "#777777"];
const live = new Set();

/** Whether chart.js is there. */
export function chartsAvailable() {
  return typeof window.Chart === "function";
}

/** Forget the charts drawn so far (before a page draws its new ones). */
export function clearCharts() {
  for (const chart of live) chart.destroy();
  live.clear();
}

/**
 * A chart in a <figure>: ``type`` bar or line, ``labels`` along the axis, ``series``
 * [{label, data, type?, axis?}], ``stacked``, ``horizontal``, ``percentAxis`` (a second
 * axis 0-100 % for series with axis "pct"). Without chart.js: the caption and a note.
 */
export function chart(id, caption, { type = "bar", labels, series, stacked = false, horizontal = false, percentAxis = false }) {
  const figure = h("figure", { class: "kpi-chart-box" }, h("figcaption", {}, caption));
  document.body.dataset.charts = chartsAvailable() ? "drawn" : "unavailable";
  if (!chartsAvailable()) {
    figure.append(h("p", { class: "muted kpi-no-charts", id: `${id}-none` }, t("kpi.no_charts")));
    return figure;
  }
  const canvas = h("canvas", { id, role: "img", "aria-label": caption });
  figure.append(h("div", { class: "kpi-chart" }, canvas));
  const scales = {
    x: { stacked, ticks: { autoSkip: true, maxRotation: 60 } },
    y: { stacked, beginAtZero: true },
  };
  if (percentAxis) scales.pct = { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false } };
  const config = {
    type,
    data: {
      labels: labels.map(String),
      datasets: series.map((s, i) => ({
        label: s.label, data: s.data, type: s.type || type,
        yAxisID: s.axis === "pct" ? "pct" : (horizontal ? undefined : "y"),
        backgroundColor: COLOURS[i % COLOURS.length], borderColor: COLOURS[i % COLOURS.length],
        spanGaps: true, maxBarThickness: 48,
      })),
    },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      indexAxis: horizontal ? "y" : "x", scales,
      plugins: { legend: { position: "bottom" } },
    },
  };
  // drawn once the figure is in the page (chart.js measures its box)
  queueMicrotask(() => { if (canvas.isConnected) live.add(new window.Chart(canvas, config)); });
  return figure;
}

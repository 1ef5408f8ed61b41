// Satisfaction figures (issue 17 item 4) as the console and the station page show them:
// the mean, the answers, the share of 4-5 and the distribution 1..5; the latest answers
// with the customer's comment. Comments are the customer's words: text nodes only (h()).
import { h, $, fill } from "./dom.js";
import { api } from "./api.js";
import { t, formatTime } from "./i18n.js";

/** A mean as the API gives it (one decimal), 3 shown as "3.0"; none: a dash. */
const oneDecimal = (x) => (x === null || x === undefined ? "–" : Number(x).toFixed(1));

/** "4.3 · 12 answers · 83 % satisfied" and the five counts, or "no answers yet". */
export function summary(fig) {
  if (!fig || !fig.count) return h("p", { class: "muted sc-none" }, t("scores.none"));
  const dist = (fig.distribution || []).map((n, i) =>
    h("span", { class: "sc-bin", dataset: { score: i + 1 }, title: t("scores.bin", { score: i + 1, count: n }) },
      h("b", {}, String(i + 1)), ` ${n}`));
  return h("div", { class: "sc-summary" },
    h("strong", { class: "sc-mean" }, oneDecimal(fig.mean)),
    h("span", { class: "sc-count" }, t("scores.count", { count: fig.count })),
    h("span", { class: "sc-satisfied" }, t("scores.satisfied", { pct: fig.satisfied_pct })),
    h("span", { class: "sc-dist" }, dist));
}

/** The latest answers: score, when, the ticket, the comment. */
export function recent(items) {
  if (!items || !items.length) return null;
  return h("ol", { class: "sc-recent" }, items.map((a) =>
    h("li", { dataset: { score: a.score } },
      h("b", {}, `${a.score}/5`), ` ${formatTime(a.scored_at)}`,
      a.ticket_number ? ` · ${a.ticket_number}` : "",
      a.comment ? h("q", {}, a.comment) : "")));
}

/** The console's card: the signed-in agent's own figures this month. */
export async function loadMine(box) {
  try {
    const mine = await api("GET", "/agent/scores");
    fill(box, h("h4", {}, t("scores.mine")), summary(mine), recent(mine.recent));
    box.hidden = false;
    box.dataset.loaded = "1";
  } catch {
    box.hidden = true; // a figure missing is no reason to disturb the agent's work
  }
}

/** The station page's section: the station's figures and each technician's. */
export async function loadStation(box) {
  let data;
  try {
    data = await api("GET", "/station/scores");
  } catch {
    box.hidden = true; // no station of one's own (a desk user): nothing to show here
    return;
  }
  const rows = data.technicians.map((tech) =>
    h("tr", { dataset: { technician: tech.id } },
      h("td", {}, tech.name), h("td", {}, String(tech.count)),
      h("td", {}, oneDecimal(tech.mean)),
      h("td", {}, tech.satisfied_pct === null ? "–" : `${tech.satisfied_pct} %`)));
  fill(box,
    h("h2", {}, t("scores.station")),
    summary(data.station),
    h("table", { class: "sc-techs" },
      h("thead", {}, h("tr", {}, ["scores.technician", "scores.answers", "scores.mean", "scores.satisfied_head"]
        .map((k) => h("th", {}, t(k))))),
      h("tbody", {}, rows)),
    recent(data.recent));
  box.hidden = false;
  box.dataset.loaded = "1";
}

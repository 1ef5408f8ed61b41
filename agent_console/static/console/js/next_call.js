// Preview dialling (issue 17 item 2): the agent picks a call list she may work and asks
// for its next entry; the customer's 360 record (the console's record card) and the
// reason for the call are on screen BEFORE she dials; one click or F9 dials the entry's
// number through the console's click-to-dial; the outcome form fits the list's kind
// (a score 1-5, a renewal answer, or only whether the right person was reached).
// Rules: the server hands out entries (never one another agent holds, only within the
// call hours) and says why there is none ("closed", "empty"); an entry she holds comes
// back after a reload (GET /call-lists/held). Names and reasons are data: text only.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, onLanguage, formatTime } from "./i18n.js";
import { result, toast } from "./notify.js";
import { formatPhone } from "./phone.js";

const LAST_LIST = "hotline-next-call-list"; // localStorage: the list id last worked (no data)

/** What the outcome form asks besides the outcome: a score (a satisfaction answer), a
 * reason (the customer declines the renewal). Pure. */
export function fieldsFor(outcome) {
  return { score: outcome === "scored", reason: outcome === "declined" };
}

/** The body to post for the form's values, or {error: i18n key} when one is missing. Pure. */
export function outcomeBody({ outcome, score, reason, comment }) {
  if (!outcome) return { error: "nc.need_outcome" };
  const need = fieldsFor(outcome);
  const body = { outcome };
  if (need.score) {
    const n = Number(score);
    if (!Number.isInteger(n) || n < 1 || n > 5) return { error: "nc.need_score" };
    body.score = n;
  }
  const why = String(reason || "").trim();
  if (need.reason && !why) return { error: "nc.need_reason" };
  if (why && need.reason) body.reason = why;
  const text = String(comment || "").trim();
  if (text) body.comment = text;
  return body;
}

/**
 * Wire the "Next call" card. ``preview(customerId)`` shows the customer's record card;
 * ``dial(number, customerId)`` is the console's click-to-dial; ``callWith(customerId)``
 * the linkedid of the console's call with that customer (its log form open or saved),
 * or null: the outcome of an entry dialled from here names that call, so the pop's log
 * and the outcome stay ONE record of it. Returns {next, dial} for the hot keys.
 */
export function initNextCall(session, { preview, dial, callWith = () => null }) {
  const card = $("#next-call");
  const S = { lists: [], entry: null, dialled: false };
  if (!session.can("call_lists", "update")) return { next: () => {}, dial: () => {} };
  card.hidden = false;

  function listLabel(l) {
    const due = (l.counts && l.counts.due) || 0;
    return `${l.name} · ${t("nc.due", { n: due })}`;
  }

  function renderLists() {
    const chosen = $("#nc-list").value || localStorage.getItem(LAST_LIST) || "";
    options($("#nc-list"), S.lists.map((l) => [l.id, listLabel(l)]), chosen);
    $("#nc-next").disabled = !S.lists.length;
    if (!S.lists.length) say("info", t("nc.no_lists"));
  }

  async function loadLists() {
    try {
      S.lists = (await api("GET", "/call-lists")).items;
      renderLists();
    } catch (err) {
      say("error", describe(err));
    }
  }

  function say(kind, text) {
    result($("#nc-status"), kind, text);
  }

  function renderEntry() {
    const e = S.entry;
    $("#nc-entry").hidden = !e;
    card.dataset.entryId = e ? String(e.id) : "";
    if (!e) return;
    $("#nc-customer").textContent = e.customer_name;
    const number = formatPhone(e.number);
    $("#nc-number").textContent = number.text || t("call.no_number");
    $("#nc-number").title = number.title || "";
    $("#nc-rule").textContent = label("nc.rule", e.rule);
    $("#nc-reason").textContent = e.reason;
    $("#nc-meta").textContent = [e.list_name, t("nc.attempts", { n: e.attempts }),
      e.outcome ? t("nc.last", { outcome: label("nc.outcome", e.outcome) }) : null].filter(Boolean).join(" · ");
    $("#nc-dial").disabled = !e.number;
    $("#nc-dialled").hidden = !S.dialled;
    renderOutcomes();
    renderHistory();
  }

  function picked() {
    return $("#nc-outcomes").querySelector("input:checked")?.value || "";
  }

  function renderOutcomes() {
    const e = S.entry;
    const was = picked();
    fill($("#nc-outcomes"), e.outcomes.map((o) => h("label", { class: "chip" },
      h("input", { type: "radio", name: "nc-outcome", value: o, checked: o === was, onchange: renderFields }),
      h("span", {}, label("nc.outcome", o)))));
    const score = $("#nc-scores").querySelector("input:checked")?.value || "";
    fill($("#nc-scores"), [1, 2, 3, 4, 5].map((n) => h("label", { class: "chip" },
      h("input", { type: "radio", name: "nc-score", value: String(n), checked: String(n) === score }),
      h("span", {}, t(`nc.score.${n}`)))));
    renderFields();
  }

  function renderFields() {
    const need = fieldsFor(picked());
    $("#nc-score-box").hidden = !need.score;
    $("#nc-decline-label").hidden = !need.reason;
  }

  function renderHistory() {
    const steps = (S.entry && S.entry.history) || [];
    fill($("#nc-history"), steps.map((s) => h("li", {},
      h("span", { class: "muted" }, formatTime(s.at)), " ", label("nc.outcome", s.outcome),
      s.by_name ? h("span", { class: "muted" }, ` · ${s.by_name}`) : null)));
    $("#nc-history").hidden = !steps.length;
  }

  async function show(entry) {
    S.entry = entry;
    S.dialled = false;
    $("#nc-comment").value = "";
    $("#nc-decline").value = "";
    fill($("#nc-scores"));
    fill($("#nc-outcomes"));
    result($("#nc-result"), "", "");
    if (entry && [...$("#nc-list").options].some((o) => o.value === String(entry.list_id))) {
      $("#nc-list").value = String(entry.list_id);
    }
    renderEntry();
    if (entry) await preview(entry.customer_id);
  }

  async function next() {
    const id = $("#nc-list").value;
    if (!id) return say("error", t("nc.no_lists"));
    if (S.entry) {
      // the one on screen first: its outcome, then the next (it stays hers till then)
      say("info", t("nc.finish_first"));
      return;
    }
    localStorage.setItem(LAST_LIST, id);
    say("busy", t("action.working"));
    try {
      const got = await api("POST", `/call-lists/${Number(id)}/next`);
      if (!got.entry) {
        await show(null);
        say("info", t(got.why === "closed" ? "nc.closed" : "nc.empty"));
        card.dataset.why = got.why || "";
        return;
      }
      card.dataset.why = "";
      say("", "");
      await show(got.entry);
      loadLists();
    } catch (err) {
      say("error", describe(err));
    }
  }

  async function dialEntry() {
    const e = S.entry;
    if (!e || !e.number) return;
    S.dialled = true;
    $("#nc-dialled").hidden = false;
    await dial(e.number, e.customer_id);
  }

  async function save(ev) {
    ev.preventDefault();
    const out = $("#nc-result");
    const e = S.entry;
    if (!e) return;
    const body = outcomeBody({
      outcome: picked(),
      score: $("#nc-scores").querySelector("input:checked")?.value,
      reason: $("#nc-decline").value,
      comment: $("#nc-comment").value,
    });
    if (body.error) return result(out, "error", t(body.error));
    const linkedid = S.dialled ? callWith(e.customer_id) : null;
    if (linkedid) body.call_linkedid = linkedid;
    result(out, "busy", t("action.working"));
    try {
      const saved = await api("POST", `/call-list-entries/${e.id}/outcome`, body);
      const text = t(saved.state === "open" ? "nc.saved_again" : "nc.saved",
        { name: e.customer_name, outcome: label("nc.outcome", body.outcome) });
      await show(null);
      say("ok", text);
      toast("ok", text);
      loadLists();
    } catch (err) {
      result(out, "error", describe(err));
    }
  }

  $("#nc-next").onclick = () => next();
  $("#nc-dial").onclick = () => dialEntry();
  $("#nc-outcome").addEventListener("submit", save);
  onLanguage(() => {
    renderLists();
    if (S.entry) renderEntry();
    const why = card.dataset.why;
    if (why && !S.entry) say("info", t(why === "closed" ? "nc.closed" : "nc.empty"));
  });

  (async () => {
    await loadLists();
    try {
      const held = await api("GET", "/call-lists/held");
      if (held.entry) await show(held.entry);
    } catch (err) {
      say("error", describe(err));
    }
    card.dataset.ready = "1";
  })();
  return { next, dial: dialEntry };
}

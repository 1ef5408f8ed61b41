// Call lists (issue 17 item 6): the outbound lists with their progress (done, to do,
// the outcomes so far), one list's entries with each entry's history (attempts and
// outcomes, who called), and for whoever may make lists (call_lists:create) the form
// making one from a rule or a saved customer filter, given to a team and/or agents,
// and the list's assignment changed later. The API decides who sees which list.
// Every value is put in as text (dom.h): customer and list names may be hostile.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, onLanguage } from "./i18n.js";
import { result, toast } from "./notify.js";
import { start, table, when, customerLink, loadList, phoneCell } from "./office.js";

const RULES = ["repair_followup", "delivery_followup", "renewal_due", "customer_filter"];
const DAYS = { repair_followup: 1, delivery_followup: 7, renewal_due: 30 };
const FILTER_FIELDS = ["province", "city", "category", "industry"];
const STATES = ["open", "done", "invalid-number", "do-not-call", "gone"];
const PAGE = 50;
const S = {
  session: null, items: [], whom: { agents: [], teams: [] },
  open: null, // the list whose entries are shown: {list, items, total, state}
  history: new Map(), // entry id -> its entry (with history), fetched when opened
};

const mayMake = () => S.session.can("call_lists", "create");

/** "done 3 / 10 · to do 6" and the outcomes so far, from a list's counts. Pure. */
export function progress(list) {
  const c = list.counts || {};
  const done = c.done || 0;
  const todo = c.open || 0;
  const total = Object.entries(c).filter(([k]) => k !== "due").reduce((n, [, v]) => n + v, 0);
  return { done, todo, due: c.due || 0, total, outcomes: Object.entries(list.outcome_counts || {}) };
}

function agentName(id) {
  const a = S.whom.agents.find((x) => x.id === id);
  return a ? a.display_name || a.username : `#${id}`;
}

function whoText(list) {
  const parts = [];
  if (list.team) parts.push(t("cl.team_is", { team: list.team }));
  if ((list.agent_ids || []).length) parts.push(list.agent_ids.map(agentName).join(", "));
  return parts.length ? parts.join(" · ") : t("cl.everyone");
}

function listRow(list) {
  const p = progress(list);
  const pct = p.total ? Math.round((100 * p.done) / p.total) : 0;
  return h("tr", { dataset: { listId: list.id } },
    h("td", { class: "wrap" }, h("strong", { class: "cl-name" }, list.name)),
    h("td", {}, label("nc.rule", list.rule), list.params && list.params.days !== undefined
      ? h("span", { class: "muted" }, ` · ${t("cl.days_n", { n: list.params.days })}`) : null),
    h("td", { class: "wrap cl-who" }, whoText(list)),
    h("td", { class: "cl-progress" },
      h("progress", { max: "100", value: String(pct), "aria-label": t("cl.progress") }), " ",
      h("span", { class: "cl-done", dataset: { done: p.done, todo: p.todo } }, t("cl.done_of", { done: p.done, total: p.total })),
      h("span", { class: "muted" }, ` · ${t("cl.todo_n", { n: p.todo, due: p.due })}`)),
    h("td", { class: "wrap cl-outcomes" }, p.outcomes.length
      ? p.outcomes.map(([o, n]) => h("span", { class: "tag", dataset: { outcome: o } }, `${label("nc.outcome", o)} ${n}`))
      : h("span", { class: "muted" }, "—")),
    h("td", {}, when(list.refreshed_at)),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "small", dataset: { role: "entries" }, onclick: () => openList(list.id) }, t("cl.entries"))));
}

function renderLists() {
  const rows = S.items.map(listRow);
  fill($("#cl-lists-box"), S.items.length
    ? table("cl-lists", ["cl.col.name", "cl.col.rule", "cl.col.who", "cl.col.progress", "cl.col.outcomes", "cl.col.refreshed", ""], rows)
    : h("p", { class: "muted", id: "cl-none" }, t("cl.none")));
}

async function loadLists() {
  await loadList(S, () => api("GET", "/call-lists"), () => {
    renderLists();
    if (S.open) {
      const fresh = S.items.find((l) => l.id === S.open.list.id);
      if (fresh) S.open.list = fresh;
      renderDetail();
    }
  });
}

// ---------------------------------------------------------------- one list

async function openList(id, state = S.open && S.open.list.id === id ? S.open.state : "", offset = 0) {
  const list = S.items.find((l) => l.id === id);
  if (!list) return;
  const out = $("#cl-detail-result");
  try {
    const page = await api("GET", `/call-lists/${Number(id)}/entries`, undefined,
      { query: { state: state || undefined, limit: PAGE, offset } });
    const before = offset && S.open ? S.open.items : [];
    S.open = { list, state, items: before.concat(page.items), total: page.total };
    renderDetail();
    result(out, "", "");
    $("#cl-detail").scrollIntoView({ block: "nearest" });
  } catch (err) {
    result(out, "error", describe(err));
  }
}

function entryRow(e) {
  const hist = S.history.get(e.id);
  const rows = [h("tr", { dataset: { entryId: e.id, state: e.state } },
    h("td", { class: "wrap" }, customerLink(e.customer_id, e.customer_name),
      e.do_not_call ? h("span", { class: "tag warn" }, ` ${t("cl.dnc")}`) : null),
    phoneCell("td", e.number),
    h("td", { class: "wrap" }, e.reason),
    h("td", {}, label("cl.state", e.state), e.held_by ? h("span", { class: "muted" }, ` · ${t("cl.held_by", { name: e.held_by })}`) : null),
    h("td", {}, String(e.attempts)),
    h("td", {}, e.outcome ? label("nc.outcome", e.outcome) : "—",
      e.outcome_data && e.outcome_data.score ? h("span", { class: "muted" }, ` · ${t("cl.score_n", { n: e.outcome_data.score })}`) : null),
    h("td", {}, when(e.state === "open" ? e.due_at : e.updated_at)),
    h("td", { class: "actions" }, h("button", {
      type: "button", class: "small", dataset: { role: "history" }, "aria-expanded": String(!!hist),
      onclick: () => toggleHistory(e.id),
    }, t("cl.history"))))];
  if (hist) {
    const steps = hist.history || [];
    rows.push(h("tr", { class: "cl-history-row", dataset: { historyOf: e.id } }, h("td", { colspan: "8" },
      steps.length ? h("ol", { class: "cl-history" }, steps.map((s) => h("li", { dataset: { outcome: s.outcome } },
        h("span", { class: "muted" }, when(s.at)), " ", label("nc.outcome", s.outcome),
        s.score ? ` · ${t("cl.score_n", { n: s.score })}` : null,
        s.reason ? ` · ${s.reason}` : null,
        s.comment ? h("span", { class: "cl-comment" }, ` · “${s.comment}”`) : null,
        s.by_name ? h("span", { class: "muted" }, ` · ${s.by_name}`) : null)))
        : h("p", { class: "muted" }, t("cl.no_history")))));
  }
  return rows;
}

async function toggleHistory(id) {
  if (S.history.has(id)) S.history.delete(id);
  else {
    try {
      S.history.set(id, await api("GET", `/call-list-entries/${Number(id)}`));
    } catch (err) {
      return result($("#cl-detail-result"), "error", describe(err));
    }
  }
  renderDetail();
}

function assignForm(list) {
  const out = h("span", { class: "result", hidden: true });
  const team = options(h("select", { id: "cl-assign-team" }),
    [["", t("cl.no_team")], ...S.whom.teams.map((x) => [x, x])], list.team || "");
  const agents = h("select", { id: "cl-assign-agents", multiple: true, size: "4" },
    S.whom.agents.map((a) => h("option", { value: String(a.id), selected: (list.agent_ids || []).includes(a.id) },
      a.team ? `${a.display_name} · ${a.team}` : a.display_name)));
  return h("form", { class: "form inline cl-assign", id: "cl-assign", onsubmit: async (ev) => {
    ev.preventDefault();
    result(out, "busy", t("action.working"));
    try {
      await api("PUT", `/call-lists/${Number(list.id)}/assignment`, {
        team: team.value || null, agent_ids: [...agents.selectedOptions].map((o) => Number(o.value)) });
      toast("ok", t("cl.assigned", { name: list.name }));
      await loadLists();
    } catch (err) {
      result(out, "error", describe(err));
    }
  } },
  h("label", {}, h("span", {}, t("cl.team")), team),
  h("label", {}, h("span", {}, t("cl.agents")), agents),
  h("button", { type: "submit" }, t("cl.assign")), out);
}

function renderDetail() {
  const box = $("#cl-detail");
  const o = S.open;
  box.hidden = !o;
  if (!o) return;
  const states = options(h("select", { id: "cl-state", "aria-label": t("cl.col.state"),
    onchange: (ev) => openList(o.list.id, ev.target.value) }),
  [["", t("cl.all_states")], ...STATES.map((s) => [s, label("cl.state", s)])], o.state);
  const more = o.items.length < o.total
    ? h("button", { type: "button", id: "cl-more", onclick: () => openList(o.list.id, o.state, o.items.length) }, t("cl.more")) : null;
  fill($("#cl-detail-body"),
    h("h2", { id: "cl-detail-name" }, o.list.name),
    h("p", { class: "muted" }, `${label("nc.rule", o.list.rule)} · ${whoText(o.list)}`),
    mayMake() ? assignForm(o.list) : null,
    h("div", { class: "bo-filters" }, states, h("span", { class: "muted" }, t("cl.shown", { n: o.items.length, total: o.total }))),
    table("cl-entries", ["cl.col.customer", "cl.col.number", "cl.col.reason", "cl.col.state", "cl.col.attempts", "cl.col.outcome", "cl.col.when", ""],
      o.items.flatMap(entryRow)),
    more);
}

// ---------------------------------------------------------------- a new list

function newListForm() {
  const out = h("span", { class: "result", id: "cl-new-result", hidden: true });
  const rule = options(h("select", { id: "cl-rule" }), RULES.map((r) => [r, label("nc.rule", r)]), "repair_followup");
  const days = h("input", { id: "cl-days", type: "number", min: "0", max: "3660", value: String(DAYS.repair_followup) });
  const daysLabel = h("label", { id: "cl-days-label" }, h("span", {}, t("cl.days")), days);
  const filters = FILTER_FIELDS.map((f) => h("label", {}, h("span", {}, t(`cl.filter.${f}`)),
    h("input", { id: `cl-filter-${f}`, type: "text", maxlength: "80" })));
  const vip = h("input", { id: "cl-filter-vip", type: "number", min: "0", max: "9" });
  const filterBox = h("fieldset", { id: "cl-filter", hidden: true }, h("legend", {}, t("cl.filter")), filters,
    h("label", {}, h("span", {}, t("cl.filter.vip_tier_min")), vip));
  rule.onchange = () => {
    const r = rule.value;
    filterBox.hidden = r !== "customer_filter";
    daysLabel.hidden = r === "customer_filter";
    if (r in DAYS) days.value = String(DAYS[r]);
  };
  const team = options(h("select", { id: "cl-team" }), [["", t("cl.no_team")], ...S.whom.teams.map((x) => [x, x])], "");
  const agents = h("select", { id: "cl-agents", multiple: true, size: "4" },
    S.whom.agents.map((a) => h("option", { value: String(a.id) }, a.team ? `${a.display_name} · ${a.team}` : a.display_name)));
  const name = h("input", { id: "cl-name", type: "text", maxlength: "80", required: true });
  const attempts = h("input", { id: "cl-attempts", type: "number", min: "1", max: "20", value: "3" });
  const delay = h("input", { id: "cl-delay", type: "number", min: "1", max: "10080", value: "120" });
  return h("form", { class: "form card", id: "cl-new", novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    if (!name.value.trim()) {
      name.focus();
      return result(out, "error", t("error.required", { field: t("cl.name") }));
    }
    const body = { name: name.value.trim(), rule: rule.value, max_attempts: Number(attempts.value) || 3,
      retry_delay_min: Number(delay.value) || 120, team: team.value || null,
      agent_ids: [...agents.selectedOptions].map((o) => Number(o.value)) };
    if (rule.value === "customer_filter") {
      const filter = {};
      for (const f of FILTER_FIELDS) {
        const v = $(`#cl-filter-${f}`).value.trim();
        if (v) filter[f] = v;
      }
      if (vip.value !== "") filter.vip_tier_min = Number(vip.value);
      body.params = { filter };
    } else {
      body.params = { days: Number(days.value) };
    }
    result(out, "busy", t("action.working"));
    try {
      const made = await api("POST", "/call-lists", body);
      result(out, "ok", t("cl.made", { name: made.name, n: made.built.added }));
      toast("ok", t("cl.made", { name: made.name, n: made.built.added }));
      name.value = "";
      await loadLists();
    } catch (err) {
      result(out, "error", describe(err));
    }
  } },
  h("h2", {}, t("cl.new")),
  h("label", {}, h("span", {}, t("cl.name")), name),
  h("label", {}, h("span", {}, t("cl.rule")), rule),
  daysLabel, filterBox,
  h("div", { class: "row" }, h("label", {}, h("span", {}, t("cl.attempts")), attempts),
    h("label", {}, h("span", {}, t("cl.delay")), delay)),
  h("fieldset", {}, h("legend", {}, t("cl.assign_to")),
    h("label", {}, h("span", {}, t("cl.team")), team),
    h("label", {}, h("span", {}, t("cl.agents")), agents),
    h("p", { class: "muted" }, t("cl.assign_hint"))),
  h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, t("cl.make")), out));
}

function render() {
  fill($("#bo-content"),
    h("h2", {}, t("cl.lists")),
    h("div", { id: "cl-lists-box" }),
    h("section", { id: "cl-detail", class: "card", hidden: true },
      h("p", { id: "cl-detail-result", class: "result", hidden: true }),
      h("div", { id: "cl-detail-body" })),
    mayMake() ? newListForm() : null);
  renderLists();
  renderDetail();
}

async function main() {
  S.session = await start("calllists");
  if (!S.session) return;
  if (mayMake()) {
    try {
      S.whom = await api("GET", "/call-lists/assignable");
    } catch (err) {
      result($("#bo-result"), "error", describe(err));
    }
  }
  render();
  onLanguage(() => render());
  await loadLists();
}

main();

// The IVR in the back office: the number plan (400, 800 and the legacy numbers, the
// flow each runs), what a call to a number would run, and the flows: every version,
// the steps of one, its document edited as JSON, checked by a dry run (nothing saved)
// and saved as a new version. Reading needs ivr:read; changes need ivr:create,
// ivr:update or ivr:delete (admins), which the API checks again.
import { h, $, fill, options } from "./dom.js";
import { api, describe, ApiError } from "./api.js";
import { t, label, onLanguage } from "./i18n.js";
import { result, toast } from "./notify.js";
import { start, table, confirmBox, when } from "./office.js";

const KINDS = ["400", "800", "legacy"];
const S = { session: null, numbers: [], flows: [], flow: null, versions: [], editing: null, problems: [] };

const can = (op) => S.session.can("ivr", op);
const kindLabel = (kind) => t(`ivr.kind.${kind}`);

// --- the number plan -----------------------------------------------------------------

async function loadNumbers() {
  const page = await api("GET", "/ivr/numbers", undefined, { query: { limit: 200 } });
  S.numbers = page.items;
}

function numberRow(n) {
  const row = h("tr", { dataset: { number: n.number } },
    h("td", { class: "mono" }, n.number),
    h("td", {}, kindLabel(n.kind)),
    h("td", { class: "wrap" }, n.label || ""),
    h("td", { class: "mono" }, n.flow_name),
    h("td", { class: "mono" }, n.queue || "—"),
    h("td", {}, n.active ? t("ivr.active_yes") : h("span", { class: "tag warn" }, t("ivr.active_no"))),
    h("td", { class: "actions" },
      can("update") ? h("button", { type: "button", class: "small", dataset: { role: "edit" }, onclick: () => editNumber(row, n) }, t("action.edit")) : null,
      can("delete") ? h("button", { type: "button", class: "small", dataset: { role: "remove" }, onclick: () => removeNumber(row, n) }, t("ivr.remove")) : null));
  return row;
}

function renderNumbers() {
  fill($("#ivr-numbers"),
    h("h2", {}, t("ivr.plan")),
    S.numbers.length
      ? table("ivr-plan", ["ivr.number", "ivr.kind", "ivr.number_label", "ivr.flow", "ivr.queue", "ivr.active", ""], S.numbers.map(numberRow))
      : h("p", { class: "muted" }, t("list.empty")),
    can("create") ? numberForm() : null);
}

function flowOptions(select, selected) {
  const names = [...new Set(["default", ...S.flows.map((f) => f.name)])];
  return options(select, names.map((n) => [n, n]), selected || "default");
}

/** The fields of a plan entry (new or edited): flow, kind, label, queue, active. */
function numberFields(prefix, n) {
  const f = {
    flow: flowOptions(h("select", { id: `${prefix}-flow` }), n.flow_name),
    kind: options(h("select", { id: `${prefix}-kind` }), [["", t("ivr.kind_auto")], ...KINDS.map((k) => [k, kindLabel(k)])], n.kind || ""),
    label: h("input", { id: `${prefix}-label`, type: "text", maxlength: "200", value: n.label || "" }),
    queue: h("input", { id: `${prefix}-queue`, type: "text", maxlength: "64", value: n.queue || "", placeholder: "support" }),
    active: h("input", { id: `${prefix}-active`, type: "checkbox", checked: n.active !== false }),
  };
  f.labels = [
    h("label", {}, h("span", {}, t("ivr.flow")), f.flow),
    h("label", {}, h("span", {}, t("ivr.kind")), f.kind),
    h("label", {}, h("span", {}, t("ivr.number_label")), f.label),
    h("label", {}, h("span", {}, t("ivr.queue")), f.queue),
    h("label", { class: "inline" }, f.active, h("span", {}, t("ivr.active"))),
  ];
  return f;
}

function numberForm() {
  const number = h("input", { id: "ivr-new-number", type: "text", maxlength: "64", placeholder: "400 800 1234", required: true });
  const f = numberFields("ivr-new", { flow_name: "default", active: true });
  const out = h("span", { class: "result", id: "ivr-new-result", hidden: true });
  const form = h("form", { class: "card form bo-form", id: "ivr-new-form", novalidate: true },
    h("h3", {}, t("ivr.add_number")),
    h("div", { class: "form-grid" }, h("label", {}, h("span", {}, t("ivr.number")), number), f.labels),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, t("ivr.add")), out));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!number.value.trim()) return result(out, "error", t("error.required", { field: t("ivr.number") }));
    const body = { number: number.value.trim(), flow_name: f.flow.value, label: f.label.value.trim() || null, queue: f.queue.value.trim() || null, active: f.active.checked };
    if (f.kind.value) body.kind = f.kind.value;
    result(out, "busy", t("action.working"));
    try {
      const added = await api("POST", "/ivr/numbers", body);
      toast("ok", t("ivr.number_added", { number: added.number }));
      await loadNumbers();
      renderNumbers();
    } catch (err) {
      result(out, "error", describe(err));
    }
  });
  return form;
}

function editNumber(row, n) {
  const f = numberFields("ivr-edit", n);
  const out = h("span", { class: "result", id: "ivr-edit-result", hidden: true });
  const form = h("form", { class: "form bo-form", id: "ivr-edit-form", novalidate: true },
    h("div", { class: "form-grid" }, f.labels),
    h("div", { class: "form-actions" },
      h("button", { type: "submit", class: "primary" }, t("action.save")),
      h("button", { type: "button", onclick: () => renderNumbers() }, t("action.cancel")), out));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const wanted = { flow_name: f.flow.value, label: f.label.value.trim() || null, queue: f.queue.value.trim() || null, active: f.active.checked };
    if (f.kind.value) wanted.kind = f.kind.value;
    const changes = Object.fromEntries(Object.entries(wanted).filter(([k, v]) => v !== (n[k] ?? null)));
    if (!Object.keys(changes).length) return result(out, "info", t("record.no_change"));
    result(out, "busy", t("action.working"));
    try {
      await api("PATCH", `/ivr/numbers/${encodeURIComponent(n.number)}`, changes);
      toast("ok", t("ivr.number_saved", { number: n.number }));
      await loadNumbers();
      renderNumbers();
    } catch (err) {
      result(out, "error", describe(err));
    }
  });
  const cell = h("td", { colspan: "7" }, form);
  row.replaceChildren(cell);
}

function removeNumber(row, n) {
  const box = confirmBox(t("ivr.remove_question", { number: n.number }), async () => {
    try {
      await api("DELETE", `/ivr/numbers/${encodeURIComponent(n.number)}`);
      toast("ok", t("ivr.number_removed", { number: n.number }));
      await loadNumbers();
      renderNumbers();
    } catch (err) {
      toast("error", describe(err));
    }
  }, { confirmLabel: "ivr.remove", id: "ivr-remove-confirm" });
  row.lastElementChild.append(box);
}

// --- what a call would run -------------------------------------------------------------

function renderResolve() {
  const input = h("input", { id: "ivr-resolve-number", type: "text", maxlength: "64", placeholder: "4008001234" });
  const out = h("p", { id: "ivr-resolve-result", class: "result", hidden: true });
  const form = h("form", { class: "form inline bo-form", id: "ivr-resolve-form", novalidate: true },
    h("label", {}, h("span", {}, t("ivr.resolve_number")), input),
    h("button", { type: "submit" }, t("ivr.resolve_go")));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!input.value.trim()) return;
    result(out, "busy", t("action.working"));
    try {
      const r = await api("GET", "/ivr/resolve", undefined, { query: { did: input.value.trim() } });
      result(out, "ok", t("ivr.resolved", {
        number: r.number, kind: kindLabel(r.kind), label: r.label || "—",
        flow: r.runs_flow, version: r.runs_version, queue: r.queue || "—",
      }));
    } catch (err) {
      result(out, "error", describe(err));
    }
  });
  fill($("#ivr-resolve"), h("h2", {}, t("ivr.resolve")), h("p", { class: "muted" }, t("ivr.resolve_hint")), form, out);
}

// --- flows -----------------------------------------------------------------------------

async function loadFlows() {
  S.flows = (await api("GET", "/ivr/flows")).items;
}

function renderFlows() {
  const rows = S.flows.map((f) => h("tr", { dataset: { flow: f.name } },
    h("td", { class: "mono" }, f.name),
    h("td", {}, f.builtin ? t("ivr.builtin") : String(f.version)),
    h("td", { class: "num" }, String(f.numbers ?? 0)),
    h("td", { class: "wrap" }, f.comment || ""),
    h("td", {}, when(f.created_at)),
    h("td", {}, h("button", { type: "button", class: "small", dataset: { role: "open" }, onclick: () => openFlow(f.name) }, t("ivr.open")))));
  fill($("#ivr-flows"), h("h2", {}, t("ivr.flows")),
    table("ivr-flow-list", ["ivr.flow", "ivr.version", "ivr.numbers_using", "ivr.comment", "ivr.saved_at", ""], rows));
}

async function openFlow(name, version) {
  try {
    const path = version === undefined ? `/ivr/flows/${encodeURIComponent(name)}` : `/ivr/flows/${encodeURIComponent(name)}/versions/${Number(version)}`;
    const [flow, versions] = await Promise.all([
      api("GET", path),
      api("GET", `/ivr/flows/${encodeURIComponent(name)}/versions`).then((r) => r.items).catch(() => []),
    ]);
    S.flow = flow;
    S.versions = versions;
    S.problems = [];
    S.editing = JSON.stringify(flow.document, null, 2);
    renderEditor();
    $("#ivr-editor").scrollIntoView({ block: "start" });
  } catch (err) {
    toast("error", describe(err));
  }
}

/** Where each step may go: "next → x", "1 → y"... */
function targets(step) {
  const out = [];
  for (const key of ["next", "then", "else", "default", "on_error"]) if (typeof step[key] === "string") out.push(`${t(`ivr.goes.${key}`)} → ${step[key]}`);
  if (step.choices && typeof step.choices === "object") for (const [key, to] of Object.entries(step.choices)) out.push(`${key} → ${to}`);
  return out.join(" · ");
}

function stepWhat(step) {
  const parts = [];
  if (step.prompt) parts.push(`♪ ${step.prompt}`);
  if (step.condition) parts.push(t("ivr.if", { condition: step.condition }));
  if (step.action) parts.push(t("ivr.action", { action: step.action }));
  if (step.queue) parts.push(`${t("ivr.queue")}: ${step.queue}`);
  if (step.skill) parts.push(`${t("ivr.skill")}: ${step.skill}`);
  if (step.priority !== undefined && step.priority !== null) parts.push(`${t("ivr.priority")}: ${step.priority}`);
  if (step.store) parts.push(`→ $${step.store}`);
  if (step.kind && step.type === "handoff") parts.push(label("ivr_handoff", step.kind));
  return parts.join(" · ");
}

function stepsTable(doc) {
  const steps = doc && typeof doc.steps === "object" && doc.steps ? Object.entries(doc.steps) : [];
  const faulty = new Set(S.problems.map((p) => p.step).filter(Boolean));
  return table("ivr-steps", ["ivr.step", "ivr.step_type", "ivr.step_what", "ivr.step_to"],
    steps.map(([id, step]) => h("tr", { dataset: { step: id }, class: faulty.has(id) ? "bo-faulty" : null },
      h("td", { class: "mono" }, id === doc.start ? `▶ ${id}` : id),
      h("td", {}, label("ivr_step", step && step.type)),
      h("td", { class: "wrap" }, step ? stepWhat(step) : ""),
      h("td", { class: "wrap mono small" }, step ? targets(step) : ""))));
}

/** The problems of a refused or checked flow, each with the step it is about. */
function problemsList() {
  if (!S.problems.length) return null;
  return h("ul", { class: "bo-problems", id: "ivr-problems" }, S.problems.map((p) => h("li", { dataset: { step: p.step || "" } },
    p.step ? h("strong", { class: "mono" }, p.step) : null, p.step ? " — " : null, p.message)));
}

function stepOf(field) {
  const m = /^document\.steps\.(.+)$/.exec(field || "");
  return m ? m[1] : null;
}

/** The edited document, to be checked or saved as flow ``name`` (its own name and
 * version fields follow: the store numbers versions), or null when it is no JSON. */
function parsed(out, name) {
  try {
    const doc = JSON.parse($("#ivr-document").value);
    if (doc && typeof doc === "object" && !Array.isArray(doc)) {
      doc.flow = name;
      delete doc.version;
    }
    return doc;
  } catch (err) {
    result(out, "error", t("ivr.not_json", { detail: String(err.message || err) }));
    return null;
  }
}

async function dryRun(out) {
  const name = $("#ivr-save-name").value.trim() || S.flow.name;
  const doc = parsed(out, name);
  if (doc === null) return;
  result(out, "busy", t("action.working"));
  try {
    const check = await api("POST", `/ivr/flows/${encodeURIComponent(name)}/validate`, { document: doc });
    S.problems = check.problems.map((message) => ({ message, step: (/^step '([^']+)'/.exec(message) || [])[1] || null }));
    rerenderChecks(doc);
    if (check.valid) result(out, "ok", t("ivr.valid", { version: check.version }));
    else result(out, "error", t("ivr.invalid", { n: check.problems.length }));
  } catch (err) {
    result(out, "error", describe(err));
  }
}

async function save(out) {
  const name = $("#ivr-save-name").value.trim() || S.flow.name;
  const doc = parsed(out, name);
  if (doc === null) return;
  const newest = S.flows.find((f) => f.name === name);
  const body = { document: doc, comment: $("#ivr-comment").value.trim() || null };
  if (newest && !newest.builtin) body.base_version = newest.version;
  result(out, "busy", t("action.working"));
  try {
    const saved = await api("PUT", `/ivr/flows/${encodeURIComponent(name)}`, body);
    toast("ok", t("ivr.saved", { name: saved.name, version: saved.version }));
    await loadFlows();
    renderFlows();
    renderNumbers();
    await openFlow(saved.name);
    result($("#ivr-editor-result"), "ok", t("ivr.saved", { name: saved.name, version: saved.version }));
  } catch (err) {
    if (err instanceof ApiError && err.status === 422 && Array.isArray(err.body.details)) {
      S.problems = err.body.details.map((d) => ({ message: d.message, step: stepOf(d.field) }));
      rerenderChecks(doc);
      result(out, "error", t("ivr.refused", { n: S.problems.length }));
    } else {
      result(out, "error", describe(err));
    }
  }
}

function rerenderChecks(doc) {
  fill($("#ivr-checks"), problemsList());
  fill($("#ivr-steps-wrap"), stepsTable(doc));
}

function renderEditor() {
  const box = $("#ivr-editor");
  if (!S.flow) return fill(box);
  const f = S.flow;
  const editable = can("update");
  const out = h("span", { class: "result", id: "ivr-editor-result", hidden: true });
  const versionPick = S.versions.length > 1
    ? options(h("select", { id: "ivr-version", onchange: (ev) => openFlow(f.name, ev.target.value) }),
      S.versions.map((v) => [v.version, t("ivr.version_of", { version: v.version, when: when(v.created_at) })]), f.version)
    : null;
  const textarea = h("textarea", { id: "ivr-document", rows: "22", spellcheck: "false", class: "mono", readonly: !editable, "aria-label": t("ivr.document") });
  textarea.value = S.editing;
  textarea.addEventListener("input", () => { S.editing = textarea.value; });
  fill(box,
    h("h2", { id: "ivr-editor-title" }, t("ivr.editor_title", { name: f.name, version: f.builtin ? t("ivr.builtin") : f.version })),
    h("div", { class: "form-actions" }, versionPick ? h("label", { class: "inline" }, h("span", {}, t("ivr.version")), versionPick) : null,
      f.comment ? h("span", { class: "muted" }, f.comment) : null),
    h("div", { id: "ivr-steps-wrap" }, stepsTable(f.document)),
    h("details", { class: "bo-json", open: editable },
      h("summary", {}, t("ivr.document")),
      textarea),
    h("div", { id: "ivr-checks" }, problemsList()),
    h("div", { class: "form-actions bo-form" },
      h("button", { type: "button", id: "ivr-check", onclick: () => dryRun(out) }, t("ivr.check")),
      editable ? h("label", { class: "inline" }, h("span", {}, t("ivr.save_as")), h("input", { id: "ivr-save-name", type: "text", maxlength: "64", value: f.name, class: "mono short" })) : h("input", { id: "ivr-save-name", type: "hidden", value: f.name }),
      editable ? h("input", { id: "ivr-comment", type: "text", maxlength: "2000", placeholder: t("ivr.comment_hint"), "aria-label": t("ivr.comment") }) : null,
      editable ? h("button", { type: "button", class: "primary", id: "ivr-save", onclick: () => save(out) }, t("ivr.save")) : null,
      out),
    editable ? trialPanel() : null);
}

// --- a trial call -------------------------------------------------------------------

/** "1, , 202611250001#, hangup" -> ["1", null, "202611250001#", "hangup"] (as `hotline ivr try`). */
function answers(text) {
  if (!text.trim()) return [];
  return text.split(",").map((item) => {
    const key = item.trim();
    return ["", "timeout", "t"].includes(key.toLowerCase()) ? null : key;
  });
}

function trialPanel() {
  const f = S.flow;
  const running = S.numbers.find((n) => n.flow_name === f.name) || S.numbers[0];
  const did = h("input", { id: "ivr-try-did", type: "text", maxlength: "64", value: running ? running.number : "" });
  const caller = h("input", { id: "ivr-try-caller", type: "text", maxlength: "64", placeholder: "13800138000" });
  const keys = h("input", { id: "ivr-try-keys", type: "text", maxlength: "400", placeholder: "1, 0, timeout, hangup" });
  const at = h("input", { id: "ivr-try-at", type: "datetime-local" });
  const lang = options(h("select", { id: "ivr-try-lang" }), [["", t("ivr.try_lang_flow")], ["zh", "中文"], ["en", "English"]], "");
  const useDraft = h("input", { id: "ivr-try-draft", type: "checkbox", checked: true });
  const out = h("span", { class: "result", id: "ivr-try-result", hidden: true });
  const shown = h("div", { id: "ivr-try-walk" });
  const form = h("form", { class: "form bo-form", id: "ivr-try-form", novalidate: true },
    h("h3", {}, t("ivr.try")),
    h("p", { class: "muted small" }, t("ivr.try_hint")),
    h("div", { class: "form-grid" },
      h("label", {}, h("span", {}, t("ivr.resolve_number")), did),
      h("label", {}, h("span", {}, t("ivr.try_caller")), caller),
      h("label", {}, h("span", {}, t("ivr.try_keys")), keys),
      h("label", {}, h("span", {}, t("ivr.try_at")), at),
      h("label", {}, h("span", {}, t("ivr.try_lang")), lang)),
    h("label", { class: "inline" }, useDraft, h("span", {}, t("ivr.try_draft"))),
    h("div", { class: "form-actions" }, h("button", { type: "submit", id: "ivr-try-go" }, t("ivr.try_go")), out),
    shown);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!did.value.trim()) return result(out, "error", t("error.required", { field: t("ivr.resolve_number") }));
    const body = { did: did.value.trim(), caller: caller.value.trim(), keys: answers(keys.value) };
    if (at.value) body.now = at.value;
    if (lang.value) body.lang = lang.value;
    if (useDraft.checked) {
      const name = $("#ivr-save-name").value.trim() || f.name;
      const doc = parsed(out, name);
      if (doc === null) return;
      body.draft = { name, document: doc };
    }
    result(out, "busy", t("action.working"));
    fill(shown);
    try {
      const walk = await api("POST", "/ivr/try", body);
      const r = walk.result;
      result(out, "ok", t("ivr.try_done", {
        ended: label("ivr_ended", r.ended), queue: r.queue || "—", priority: r.priority ?? "—", skill: r.skill || "—",
        agent: r.preferred_agent || "—", flow: r.flow || "—",
      }));
      fill(shown, h("ol", { class: "bo-trace mono", id: "ivr-try-trace" }, walk.trace.map((line) => h("li", {}, line))));
    } catch (err) {
      if (err instanceof ApiError && err.status === 422 && Array.isArray(err.body.details) && useDraft.checked) {
        S.problems = err.body.details.map((d) => ({ message: d.message, step: stepOf(d.field) }));
        rerenderChecks(body.draft.document);
        result(out, "error", t("ivr.refused", { n: S.problems.length }));
      } else {
        result(out, "error", describe(err));
      }
    }
  });
  return h("div", { class: "card", id: "ivr-try" }, form);
}

function renderAll() {
  renderNumbers();
  renderResolve();
  renderFlows();
  renderEditor();
}

async function main() {
  S.session = await start("ivr");
  if (!S.session) return;
  fill($("#bo-content"),
    h("section", { id: "ivr-numbers", class: "bo-block" }),
    h("section", { id: "ivr-resolve", class: "bo-block" }),
    h("section", { id: "ivr-flows", class: "bo-block" }),
    h("section", { id: "ivr-editor", class: "bo-block" }));
  try {
    await Promise.all([loadNumbers(), loadFlows()]);
  } catch (err) {
    result($("#bo-result"), "error", describe(err));
    return;
  }
  renderAll();
  onLanguage(renderAll);
  document.body.dataset.loaded = "1";
}

main();

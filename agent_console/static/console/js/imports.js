// Importing a file: a CSV or Excel file of customers (with their phones, a contact, an
// asset), of contacts and assets, of the service network, of supplier batches' stage
// updates or of customers' orders, uploaded to POST /imports, imported in the
// background; the page polls the job (GET /imports/{id}) and shows its progress, then
// what was created and every rejected row, with the error report to download. The
// job's id stays in the address (?job=), so a reload or a shared link finds it again.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, onLanguage, language } from "./i18n.js";
import { result } from "./notify.js";
import { start, table, users, userName, IMPORT_KINDS } from "./office.js";

const POLL_MS = 500;
const CREATED = ["customers", "contacts", "phones", "assets"];
const S = { session: null, owners: [], job: null, timer: null };

// A problem, note or job error of the importer in the page's language: its code through
// the i18n files (imports.msg.<code>), the English text the API sent for an unknown code
// (an older job, a newer server). An owner of null is the shared pool.
function said(code, params, english) {
  const key = `imports.msg.${code}`;
  if (!code || t(key) === key) return english ?? "";
  const vars = { ...(params || {}) };
  if ("owner" in vars && (vars.owner === null || vars.owner === undefined)) vars.owner = t("imports.pool");
  return t(key, vars);
}

function noteText(note) {
  const text = said(note.code, note.params, note.message);
  const sheet = note.params && note.params.sheet;
  return sheet && note.code && note.code.startsWith("note_column") ? `${sheet}: ${text}` : text;
}

function jobUrl(id) {
  return id ? `/backoffice/imports?job=${encodeURIComponent(id)}` : "/backoffice/imports";
}

/** What the session may import (the API checks again, crm_core.import_rights). */
function kinds() {
  return IMPORT_KINDS.filter((k) => k.allowed(S.session)).map((k) => k.name);
}

function renderForm() {
  const file = h("input", { id: "import-file", type: "file", accept: ".csv,.txt,.xlsx,.xlsm", required: true });
  const allowed = kinds();
  // customers (the default), the service network's stations or technicians, or the
  // supplier batches' stage updates: shown when there is a choice
  const kind = allowed.length > 1
    ? options(h("select", { id: "import-kind" }), allowed.map((k) => [k, t(`imports.kind.${k}`)]), allowed[0])
    : null;
  const dry = h("input", { id: "import-dry-run", type: "checkbox" });
  const owner = S.owners.length
    ? options(h("select", { id: "import-owner" }), [["", t("imports.owner_pool")], ...S.owners.map((u) => [u.username, userName(u)])], "")
    : null;
  const out = h("span", { class: "result", id: "import-form-result", hidden: true });
  const running = S.job && S.job.state === "running";
  const form = h("form", { class: "form bo-form", id: "import-form", novalidate: true },
    kind ? h("label", {}, h("span", {}, t("imports.kind")), kind) : null,
    h("label", {}, h("span", {}, t("imports.file")), file),
    h("p", { class: "muted small" }, t("imports.file_hint")),
    owner ? h("label", {}, h("span", {}, t("imports.owner")), owner) : null,
    h("label", { class: "inline" }, dry, h("span", {}, t("imports.dry_run"))),
    h("div", { class: "form-actions" },
      h("button", { type: "submit", class: "primary", id: "import-go", disabled: running }, t("imports.go")), out));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const chosen = file.files && file.files[0];
    if (!chosen) return result(out, "error", t("imports.need_file"));
    result(out, "busy", t("imports.uploading"));
    try {
      const job = await api("POST", "/imports", chosen, { query: { filename: chosen.name, dry_run: dry.checked, owner: owner ? owner.value : "", kind: kind ? kind.value : allowed[0] } });
      result(out, "", "");
      follow(job);
    } catch (err) {
      result(out, "error", describe(err));
    }
  });
  fill($("#import-upload"), h("h2", {}, t("imports.upload")), form);
}

function progressBlock(job) {
  const pct = job.percent;
  const bar = h("progress", { id: "import-progress", max: "100" });
  if (pct !== null && pct !== undefined) bar.value = pct;  // no value: indeterminate
  let text;
  if (job.state === "running" && job.total === null) text = t("imports.reading");
  else text = t("imports.rows_done", { done: job.done, total: job.total ?? 0, percent: pct ?? 0 });
  return h("div", { class: "bo-progress" }, bar, h("span", { id: "import-progress-text", dataset: { percent: pct ?? "" } }, text));
}

// what the import counted: a customers' import its customers, contacts, phones and
// assets; the other kinds their own (orders, lines, batches moved...)
function countedKinds(created) {
  const given = Object.keys(created);
  return given.length ? given : CREATED;
}

function countedLabel(kind) {
  const key = `imports.created.${kind}`;
  return t(key) === key ? kind : t(key);
}

function stats(resultOf) {
  const created = resultOf.created || {};
  return h("dl", { class: "bo-stats", id: "import-stats" },
    h("dt", {}, t("imports.rows")), h("dd", { dataset: { stat: "rows" } }, String(resultOf.rows ?? 0)),
    countedKinds(created).map((k) => [h("dt", {}, countedLabel(k)), h("dd", { dataset: { stat: k } }, String(created[k] ?? 0))]),
    h("dt", {}, t("imports.duplicates")), h("dd", { dataset: { stat: "duplicates" } }, String(resultOf.duplicates ?? 0)),
    h("dt", {}, t("imports.errors")), h("dd", { dataset: { stat: "errors" } }, String(resultOf.errors ?? 0)));
}

function reportLinks(job) {
  const base = `/api/v1/imports/${encodeURIComponent(job.id)}/report`;
  const lang = language();
  return h("div", { class: "bo-links", id: "import-report" },
    h("span", {}, t("imports.report", { n: job.issues_total })),
    h("a", { class: "button", id: "import-report-csv", href: `${base}?format=csv&lang=${lang}`, download: "" }, t("imports.report_csv")),
    h("a", { class: "button", id: "import-report-xlsx", href: `${base}?format=xlsx&lang=${lang}`, download: "" }, t("imports.report_xlsx")));
}

function issues(job) {
  if (!job.issues_preview.length) return null;
  return [
    h("h3", {}, t("imports.rejected")),
    table("import-issues", ["imports.sheet", "imports.row", "imports.column", "imports.value", "imports.problem"],
      job.issues_preview.map((i) => h("tr", { dataset: { row: i.row, kind: i.kind } },
        h("td", {}, i.sheet), h("td", { class: "num" }, String(i.row)), h("td", {}, i.column),
        h("td", { class: "wrap" }, i.value), h("td", { class: "wrap", dataset: { code: i.code || "" } }, said(i.code, i.params, i.message))))),
    job.issues_total > job.issues_preview.length ? h("p", { class: "muted small" }, t("imports.more_in_report", { n: job.issues_total - job.issues_preview.length })) : null,
  ];
}

function renderJob() {
  const box = $("#import-job");
  const job = S.job;
  if (!job) return fill(box);
  const head = h("h2", {}, t(job.dry_run ? "imports.job_dry" : "imports.job", { name: job.filename }));
  const state = h("p", { class: "result", id: "import-state", dataset: { kind: { done: "ok", running: "busy" }[job.state] || "error", state: job.state } },
    t(`imports.state.${job.state}`));
  const parts = [head, progressBlock(job), state];
  if (job.state === "done") {
    parts.push(h("p", {}, t(job.dry_run ? "imports.would_create" : "imports.created_heading")), stats(job.result || {}));
    if (job.issues_total) parts.push(reportLinks(job));
    parts.push(issues(job));
    const result = job.result || {};
    const notes = result.note_items || (result.notes || []).map((message) => ({ message }));
    if (notes.length) parts.push(h("details", { class: "muted small", id: "import-notes" }, h("summary", {}, t("imports.notes")), h("ul", {}, notes.map((n) => h("li", { dataset: { code: n.code || "" } }, noteText(n))))));
  } else if (job.error) {
    parts.push(h("p", { class: "result", dataset: { kind: "error" }, id: "import-error" }, said(job.error_code, job.error_params, job.error)));
  }
  fill(box, parts);
}

async function poll() {
  S.timer = null;
  try {
    S.job = await api("GET", `/imports/${encodeURIComponent(S.job.id)}`);
  } catch (err) {
    result($("#bo-result"), "error", describe(err));
    return;
  }
  renderJob();
  if (S.job.state === "running") S.timer = setTimeout(poll, POLL_MS);
  else $("#import-go").disabled = false;
}

function follow(job) {
  if (S.timer) clearTimeout(S.timer);
  S.job = job;
  history.replaceState(null, "", jobUrl(job.id));
  renderJob();
  $("#import-go").disabled = job.state === "running";
  if (job.state === "running") S.timer = setTimeout(poll, POLL_MS);
}

function render() {
  renderForm();
  renderJob();
}

async function main() {
  S.session = await start("imports");
  if (!S.session) return;
  fill($("#bo-content"),
    h("section", { class: "bo-block", id: "import-upload" }),
    h("section", { class: "bo-block", id: "import-job" }));
  if (S.session.can("users", "read")) S.owners = (await users().catch(() => []));
  onLanguage(render);
  render();
  document.body.dataset.loaded = "1";
  const id = new URLSearchParams(location.search).get("job");
  if (id && /^[0-9a-f]{32}$/.test(id)) {
    try {
      follow(await api("GET", `/imports/${id}`));
    } catch (err) {
      result($("#bo-result"), "error", describe(err));
    }
  }
}

main();

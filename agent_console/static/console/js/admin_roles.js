// Roles and their grants: for each module and operation, the data scope a role
// grants (own, team, region, all) or none. The matrix on screen is what is sent
// (PUT replaces the role's whole set); the server checks every entry, keeps the
// admin role's rights and audits the change. A changed grant applies from each of
// the role's users' next action.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label } from "./i18n.js";
import { result, toast } from "./notify.js";

const ROLE_NAME = /^[a-z][a-z0-9_-]{1,39}$/; // as the server checks it (crm_core.roles)
const R = { roles: [], modules: [], operations: [], scopes: [], selected: null };

/** The role's name for people: the built-in roles are translated, others shown as named. */
export function roleLabel(role) {
  return role ? label("role", role.name) : "";
}

export const allRoles = () => R.roles;

export async function loadRoles() {
  const data = await api("GET", "/roles");
  R.roles = data.items || [];
  R.modules = data.modules || [];
  R.operations = data.operations || [];
  R.scopes = data.scopes || [];
  if (!R.roles.some((r) => r.id === R.selected)) {
    const first = R.roles.find((r) => !r.is_admin) || R.roles[0];
    R.selected = first ? first.id : null;
  }
  return R.roles;
}

function grantsTable(role) {
  const cell = (module, operation) => {
    const current = role.grants[`${module}:${operation}`] || "";
    const select = options(h("select", {
      dataset: { module, operation },
      "aria-label": `${label("module", module)} · ${label("operation", operation)}`,
      class: current ? "granted" : "",
    }), [["", t("admin.no_grant")], ...R.scopes.map((s) => [s, label("scope", s)])], current);
    select.addEventListener("change", () => { select.className = select.value ? "granted" : ""; });
    return h("td", {}, select);
  };
  return h("table", { class: "grid grants", id: "grants-table" },
    h("thead", {}, h("tr", {}, h("th", {}, t("admin.module")),
      R.operations.map((op) => h("th", {}, label("operation", op))))),
    h("tbody", {}, R.modules.map((m) => h("tr", { dataset: { module: m } },
      h("th", { scope: "row" }, label("module", m)), R.operations.map((op) => cell(m, op))))));
}

function chosenGrants(table) {
  const grants = {};
  for (const select of table.querySelectorAll("select")) {
    if (select.value) grants[`${select.dataset.module}:${select.dataset.operation}`] = select.value;
  }
  return grants;
}

// The default roles' descriptions were seeded in English: the page says them in its own
// language (role_description.<name>); a custom role's description is the admin's text.
const DEFAULT_ROLES = ["agent", "manager", "supervisor", "hotline_supervisor", "admin"];

function roleDescription(role) {
  if (DEFAULT_ROLES.includes(role.name)) return t(`role_description.${role.name}`);
  return role.description || "";
}

async function save(role, description, table, out) {
  result(out, "busy", t("action.working"));
  try {
    const text = description.value.trim();
    // only a changed field is stored (a default role's translated text is not saved back)
    if (text !== roleDescription(role).trim()) await api("PATCH", `/roles/${role.id}`, { description: text || null });
    await api("PUT", `/roles/${role.id}/grants`, { grants: chosenGrants(table) });
    await loadRoles();
    renderRoles();
    const done = t("admin.grants_saved", { role: roleLabel(role) });
    result($("#role-result"), "ok", done);
    toast("ok", done);
  } catch (err) {
    result(out, "error", describe(err));
  }
}

async function remove(role, out) {
  result(out, "busy", t("action.working"));
  try {
    await api("DELETE", `/roles/${role.id}`);
    R.selected = null;
    await loadRoles();
    renderRoles();
    toast("ok", t("admin.role_deleted", { role: roleLabel(role) }));
  } catch (err) {
    result(out, "error", describe(err));
  }
}

function detail(role) {
  const head = h("div", { class: "role-head" },
    h("h2", { id: "role-title" }, roleLabel(role)),
    h("code", { class: "muted" }, role.name),
    role.builtin ? h("span", { class: "tag" }, t("admin.builtin")) : null,
    h("span", { class: "muted" }, t("admin.role_users", { n: role.users })));
  if (role.is_admin) return [head, h("p", { id: "role-admin-note" }, t("admin.admin_role_note"))];
  const out = h("span", { class: "result", id: "role-result", hidden: true });
  const description = h("input", { id: "role-description", type: "text", maxlength: "200", value: roleDescription(role) });
  const table = grantsTable(role);
  return [head,
    h("label", { class: "form" }, h("span", { class: "muted" }, t("admin.description")), description),
    h("p", { class: "muted small" }, t("admin.grants_hint")),
    table,
    h("div", { class: "form-actions" },
      h("button", { type: "button", id: "grants-save", class: "primary", onclick: () => save(role, description, table, out) }, t("admin.save_grants")),
      role.builtin || role.users ? null
        : h("button", { type: "button", id: "role-delete", class: "danger", onclick: () => remove(role, out) }, t("admin.delete_role")),
      out)];
}

export function renderRoles() {
  fill($("#roles-list"), R.roles.map((role) => h("li", {},
    h("button", {
      type: "button", class: "role-item", "aria-pressed": role.id === R.selected ? "true" : "false",
      dataset: { roleId: role.id, role: role.name },
      onclick: () => { R.selected = role.id; renderRoles(); },
    }, h("span", { class: "role-name" }, roleLabel(role)), h("span", { class: "count" }, String(role.users))))));
  const role = R.roles.find((r) => r.id === R.selected);
  fill($("#role-detail"), role ? detail(role) : h("p", { class: "muted" }, t("admin.no_role")));
  const copy = $("#role-new-copy");
  const kept = copy.value;
  options(copy, [["", t("admin.copy_none")], ...R.roles.filter((r) => !r.is_admin).map((r) => [r.id, roleLabel(r)])], kept);
}

async function createRole(ev) {
  ev.preventDefault();
  const out = $("#role-new-result");
  const name = $("#role-new-name").value.trim();
  if (!name) return result(out, "error", t("error.required", { field: t("admin.role_name") }));
  if (!ROLE_NAME.test(name)) return result(out, "error", t("admin.role_name_rule"));
  const from = R.roles.find((r) => String(r.id) === $("#role-new-copy").value);
  const body = { name, grants: from ? { ...from.grants } : {} };
  const description = $("#role-new-description").value.trim();
  if (description) body.description = description;
  result(out, "busy", t("action.working"));
  try {
    const made = await api("POST", "/roles", body);
    R.selected = made.id;
    $("#role-new-form").reset();
    await loadRoles();
    renderRoles();
    result(out, "ok", t("admin.role_created", { role: roleLabel(made) }));
  } catch (err) {
    result(out, "error", describe(err));
  }
}

export function initRoles() {
  $("#role-new-form").addEventListener("submit", createRole);
}

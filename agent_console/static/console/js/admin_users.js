// Users: who may sign in, with which role, in which team and region (the data
// scopes "team" and "region"), answering calls on which phone (agent interface).
// A form sends only what changed; deactivating keeps the user's records and can be
// undone. The server refuses what would leave no active administrator.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label } from "./i18n.js";
import { result, toast } from "./notify.js";
import { allRoles, roleLabel } from "./admin_roles.js";

const PAGE = 200;
const LANGS = ["zh-CN", "en"];
const FIELDS = ["display_name", "role", "team", "region", "agent_interface", "agent_name", "language"];
const U = { items: [], total: 0 };

export async function loadUsers({ more = false } = {}) {
  const offset = more ? U.items.length : 0;
  const active = $("#users-inactive").checked ? undefined : true;
  const page = await api("GET", "/users", undefined, { query: { limit: PAGE, offset, active } });
  U.items = more ? U.items.concat(page.items) : page.items;
  U.total = page.total;
}

function roleOf(name) {
  return allRoles().find((r) => r.name === name) || (name ? { name } : null);
}

async function setActive(user, active) {
  try {
    if (active) await api("PATCH", `/users/${user.id}`, { active: true });
    else await api("DELETE", `/users/${user.id}`);
    toast("ok", t(active ? "admin.user_reactivated" : "admin.user_deactivated", { name: user.display_name || user.username }));
    await refresh();
  } catch (err) {
    toast("error", describe(err));
  }
}

function row(u) {
  return h("tr", { dataset: { userId: u.id, username: u.username }, class: u.active ? "" : "inactive" },
    h("td", { class: "mono" }, u.username),
    h("td", {}, u.display_name || ""),
    h("td", { class: "user-role" }, roleLabel(roleOf(u.role)) || "—"),
    h("td", {}, u.team || ""),
    h("td", {}, u.region || ""),
    h("td", { class: "mono" }, u.agent_interface || ""),
    h("td", {}, label("language", u.language)),
    h("td", {}, h("span", { class: u.active ? "tag ok" : "tag warn" }, t(u.active ? "admin.active" : "admin.inactive"))),
    h("td", { class: "actions" },
      h("button", { type: "button", class: "small user-edit", onclick: () => openForm(u) }, t("action.edit")),
      u.active
        ? h("button", { type: "button", class: "small user-deactivate", onclick: () => setActive(u, false) }, t("admin.deactivate"))
        : h("button", { type: "button", class: "small user-reactivate", onclick: () => setActive(u, true) }, t("admin.reactivate"))));
}

function datalist(id, values) {
  fill($(`#${id}`), [...new Set(values.filter(Boolean))].sort().map((v) => h("option", { value: v })));
}

export function renderUsers() {
  fill($("#users-table tbody"), U.items.map(row));
  $("#users-summary").textContent = t("admin.users_count", { n: U.total });
  $("#users-more").hidden = U.items.length >= U.total;
  datalist("teams", U.items.map((u) => u.team));
  datalist("regions", U.items.map((u) => u.region));
}

function field(key, control) {
  return h("label", {}, h("span", {}, t(`admin.${key}`)), control);
}

function openForm(user) {
  const form = $("#user-form");
  const editing = Boolean(user);
  const u = user || { language: "zh-CN", role: "agent" };
  const inputs = {
    display_name: h("input", { id: "user-display_name", type: "text", maxlength: "200", value: u.display_name || "" }),
    role: options(h("select", { id: "user-role" }), allRoles().map((r) => [r.name, roleLabel(r)]), u.role || ""),
    team: h("input", { id: "user-team", type: "text", maxlength: "64", list: "teams", value: u.team || "" }),
    region: h("input", { id: "user-region", type: "text", maxlength: "64", list: "regions", value: u.region || "" }),
    agent_interface: h("input", { id: "user-agent_interface", type: "text", maxlength: "100", placeholder: "PJSIP/1001", value: u.agent_interface || "" }),
    agent_name: h("input", { id: "user-agent_name", type: "text", maxlength: "100", value: u.agent_name || "" }),
    language: options(h("select", { id: "user-language" }), LANGS.map((l) => [l, label("language", l)]), u.language),
  };
  const username = h("input", { id: "user-username", type: "text", maxlength: "64", autocomplete: "off", value: u.username || "", disabled: editing });
  const password = h("input", { id: "user-password", type: "password", autocomplete: "new-password", minlength: "8" });
  const out = h("span", { class: "result", id: "user-result", hidden: true });
  fill(form,
    h("h3", {}, editing ? t("admin.edit_user", { name: u.display_name || u.username }) : t("admin.new_user")),
    h("div", { class: "form-grid" },
      field("username", username),
      FIELDS.map((key) => field(key, inputs[key])),
      field(editing ? "new_password" : "password", password)),
    h("div", { class: "form-actions" },
      h("button", { type: "submit", class: "primary", id: "user-save" }, t("action.save")),
      h("button", { type: "button", onclick: () => { form.hidden = true; } }, t("action.cancel")), out));
  form.onsubmit = (ev) => {
    ev.preventDefault();
    submit(u, editing, { username, password, inputs, out });
  };
  form.hidden = false;
  (editing ? inputs.display_name : username).focus();
}

async function submit(u, editing, { username, password, inputs, out }) {
  const body = {};
  for (const key of FIELDS) {
    const value = inputs[key].value.trim();
    if (!editing || value !== String(u[key] ?? "")) body[key] = value === "" ? null : value;
  }
  if (password.value) {
    if (password.value.length < 8) return result(out, "error", t("admin.password_short"));
    body.password = password.value;
  }
  if (!editing) {
    body.username = username.value.trim();
    for (const key of ["username", "display_name"]) {
      if (!body[key]) return result(out, "error", t("error.required", { field: t(`admin.${key}`) }));
    }
    for (const key of Object.keys(body)) if (body[key] === null) delete body[key];
  }
  if (!Object.keys(body).length) return result(out, "info", t("record.no_change"));
  result(out, "busy", t("action.working"));
  try {
    const saved = editing ? await api("PATCH", `/users/${u.id}`, body) : await api("POST", "/users", body);
    $("#user-form").hidden = true;
    toast("ok", t(editing ? "admin.user_saved" : "admin.user_created", { name: saved.display_name || saved.username }));
    await refresh();
  } catch (err) {
    result(out, "error", describe(err));
  }
}

async function refresh() {
  try {
    await loadUsers();
    renderUsers();
  } catch (err) {
    result($("#admin-result"), "error", describe(err));
  }
}

export function initUsers() {
  $("#user-new").addEventListener("click", () => openForm(null));
  $("#users-inactive").addEventListener("change", refresh);
  $("#users-more").addEventListener("click", async () => {
    try {
      await loadUsers({ more: true });
      renderUsers();
    } catch (err) {
      result($("#admin-result"), "error", describe(err));
    }
  });
}

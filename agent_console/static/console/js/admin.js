// The administration page (admins only; the server sends anyone else home): the
// users tab and the roles-and-grants tab. Everything shown is text; the API decides
// and audits every change.
import { $, $$ } from "./dom.js";
import { describe } from "./api.js";
import { onLanguage } from "./i18n.js";
import { boot } from "./session.js";
import { result } from "./notify.js";
import { initRoles, loadRoles, renderRoles } from "./admin_roles.js";
import { initUsers, loadUsers, renderUsers } from "./admin_users.js";

function showTab(name) {
  for (const tab of $$("[role=tab]")) {
    const on = tab.id === `tab-${name}`;
    tab.setAttribute("aria-selected", on ? "true" : "false");
    $(`#${tab.getAttribute("aria-controls")}`).hidden = !on;
  }
  history.replaceState(null, "", name === "users" ? "/admin" : `/admin?tab=${name}`);
}

async function main() {
  const out = $("#admin-result");
  try {
    await boot();
    await loadRoles(); // the users' role names are labelled from it
    await loadUsers();
  } catch (err) {
    result(out, "error", describe(err));
    return;
  }
  initUsers();
  initRoles();
  renderUsers();
  renderRoles();
  onLanguage(() => {
    renderUsers();
    renderRoles();
  });
  $("#tab-users").addEventListener("click", () => showTab("users"));
  $("#tab-roles").addEventListener("click", () => showTab("roles"));
  showTab(new URLSearchParams(location.search).get("tab") === "roles" ? "roles" : "users");
  document.body.dataset.loaded = "1";
}

main();

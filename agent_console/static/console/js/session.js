// What every signed-in page shares: the session (user, grants, CSRF token), the
// language of the user, the top bar (navigation, language switch, sign-out).
import { api, setCsrf, describe } from "./api.js";
import { $, fill, h } from "./dom.js";
import { setLanguage, language, t, normalize, guess, prefetch, onLanguage, formatTime } from "./i18n.js";
import { toast } from "./notify.js";

const FAILED_SEEN = "hotline-failed-sign-ins-seen"; // sessionStorage: dismissed in this tab

export class Session {
  constructor(data) {
    this.user = data.user;
    this.grants = data.grants || [];
  }

  /** The scope the user has for module/operation ("own", "team", "region", "all",
   * "station", "technician") or null. */
  scope(module, operation) {
    if (this.user.is_admin) return "all";
    const hit = this.grants.find((g) => (g.module === module || g.module === "*") && (g.operation === operation || g.operation === "*"));
    return hit ? hit.scope : null;
  }

  can(module, operation) {
    return this.scope(module, operation) !== null;
  }
}

async function switchLanguage() {
  const next = language() === "zh-CN" ? "en" : "zh-CN";
  await setLanguage(next);
  try {
    await api("PATCH", "/me", { language: next });
    toast("ok", t("lang.saved"));
  } catch (err) {
    toast("error", `${t("lang.not_saved")} ${describe(err)}`);
  }
}

async function signOut() {
  try {
    await api("DELETE", "/session", undefined, { allow401: true });
  } catch (err) {
    if (err.status !== 401) {
      toast("error", describe(err));
      return;
    }
  }
  setCsrf(null);
  location.assign("/login");
}

/** Failed sign-ins to this account since its owner last signed in (the server tells
 * once, at the sign-in after them): one line under the top bar, on every page of the
 * session, until dismissed. */
function showFailedSignIns(told) {
  if (!told || !told.count) return;
  const seen = `${told.count}@${told.last_at}`;
  if (sessionStorage.getItem(FAILED_SEEN) === seen) return;
  const text = h("span", { class: "security-text" });
  const say = () => fill(text, t("security.failed_sign_ins", {
    count: told.count, when: formatTime(told.last_at), address: told.last_address }));
  say();
  onLanguage(say);
  const line = h("p", { id: "failed-sign-ins", class: "security-notice", role: "alert" }, text,
    h("button", { type: "button", class: "link", "data-i18n": "action.dismiss", onclick: () => {
      sessionStorage.setItem(FAILED_SEEN, seen);
      line.remove();
    } }, t("action.dismiss")));
  const bar = $(".topbar");
  if (bar) bar.after(line);
  else document.body.prepend(line);
}

/** The pages this user may open that the page's own bar does not link: the live calls
 * (whoever reads calls) and the administration (admins). */
function addNavLinks(session) {
  const nav = $(".topbar .nav");
  if (!nav) return;
  const link = (href, key) => {
    if (!nav.querySelector(`a[href="${href}"]`)) nav.append(h("a", { href, "data-i18n": key }, t(key)));
  };
  if (session.can("calls", "read")) link("/live", "nav.live");
  if (session.user.is_admin) link("/admin", "nav.admin");
}

/** Load the session, apply the user's language, wire the top bar; returns the Session. */
export async function boot() {
  prefetch(guess()); // usually the user's language: fetched while the session loads
  const data = await api("GET", "/session");
  setCsrf(data.csrf_token);
  const session = new Session(data);
  await setLanguage(normalize(session.user.language) || "zh-CN");
  addNavLinks(session);
  const name = $("#user-name");
  if (name) fill(name, session.user.display_name || session.user.username);
  $("#lang-switch")?.addEventListener("click", () => switchLanguage());
  $("#sign-out")?.addEventListener("click", () => signOut());
  showFailedSignIns(data.failed_sign_ins);
  document.body.dataset.ready = "1";
  return session;
}

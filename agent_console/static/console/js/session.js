// What every signed-in page shares: the session (user, grants, CSRF token), the
// language of the user, the top bar (navigation, language switch, sign-out).
import { api, setCsrf, describe } from "./api.js";
import { $, fill } from "./dom.js";
import { setLanguage, language, t, normalize, guess, prefetch } from "./i18n.js";
import { toast } from "./notify.js";

export class Session {
  constructor(data) {
    this.user = data.user;
    this.grants = data.grants || [];
  }

  /** The scope the user has for module/operation ("own", "team", "region", "all") or null. */
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

/** Load the session, apply the user's language, wire the top bar; returns the Session. */
export async function boot() {
  prefetch(guess()); // usually the user's language: fetched while the session loads
  const data = await api("GET", "/session");
  setCsrf(data.csrf_token);
  const session = new Session(data);
  await setLanguage(normalize(session.user.language) || "zh-CN");
  const name = $("#user-name");
  if (name) fill(name, session.user.display_name || session.user.username);
  $("#lang-switch")?.addEventListener("click", () => switchLanguage());
  $("#sign-out")?.addEventListener("click", () => signOut());
  document.body.dataset.ready = "1";
  return session;
}

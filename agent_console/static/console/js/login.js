// Sign-in: POST /api/v1/session. Errors say what happened (wrong password,
// locked for a while, the server unreachable) without saying which part was wrong.
import { api, describe } from "./api.js";
import { $ } from "./dom.js";
import { setLanguage, language, guess, t } from "./i18n.js";
import { result } from "./notify.js";

function nextPage() {
  const next = new URLSearchParams(location.search).get("next") || "";
  // only a page of this console: never another site
  if (/^\/(console|live|wallboard|admin|records)(\/|\?|$)/.test(next)) return next;
  return "/"; // the server sends each user on to their home page (agents: the console)
}

async function signIn(ev) {
  ev.preventDefault();
  const out = $("#login-result");
  const username = $("#username").value.trim();
  const password = $("#password").value;
  if (!username || !password) {
    result(out, "error", t("login.missing"));
    (username ? $("#password") : $("#username")).focus();
    return;
  }
  const button = $("#login-submit");
  button.disabled = true;
  result(out, "busy", t("action.working"));
  try {
    const data = await api("POST", "/session", { username, password }, { allow401: true });
    result(out, "ok", t("login.welcome", { name: data.user.display_name || data.user.username }));
    location.assign(nextPage());
  } catch (err) {
    $("#password").value = "";
    $("#password").focus();
    if (err.status === 401) result(out, "error", t("login.wrong"));
    else if (err.status === 429) {
      // "throttled": this account from this address; "rate-limited": this address
      const seconds = Math.max(1, Math.ceil(Number(err.retryAfter) || 60));
      const wait = seconds < 60 ? t("login.wait_seconds", { seconds })
        : t("login.wait_minutes", { minutes: Math.ceil(seconds / 60) });
      result(out, "error", t(err.code === "rate-limited" ? "login.rate_limited" : "login.locked", { wait }));
    } else result(out, "error", describe(err));
  } finally {
    button.disabled = false;
  }
}

async function main() {
  await setLanguage(guess());
  $("#lang-switch").addEventListener("click", () => setLanguage(language() === "zh-CN" ? "en" : "zh-CN"));
  $("#login-form").addEventListener("submit", signIn);
  document.body.dataset.ready = "1";
}

main();

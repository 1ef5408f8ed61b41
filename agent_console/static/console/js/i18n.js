// One dictionary per language (i18n/en.json, i18n/zh-CN.json, same keys; a test
// checks that every key used here exists in both). Texts are plain strings with
// {name} placeholders, filled as text: nothing here is markup.

export const LANGUAGES = ["zh-CN", "en"];
const cache = new Map();
let lang = "en";
let dict = {};
const listeners = new Set();

export function normalize(value) {
  if (typeof value !== "string") return null;
  if (value.toLowerCase().startsWith("zh")) return "zh-CN";
  if (value.toLowerCase().startsWith("en")) return "en";
  return null;
}

/** The language before sign-in: the last one chosen on this browser, else the browser's. */
export function guess() {
  return normalize(localStorage.getItem("hotline.lang")) || normalize(navigator.language) || "zh-CN";
}

function load(code) {
  // the promise is cached: a prefetch and the real use share one request
  if (!cache.has(code)) {
    const pending = fetch(`/static/console/i18n/${code}.json`, { credentials: "same-origin" }).then((resp) => {
      if (!resp.ok) throw new Error(`dictionary ${code}: HTTP ${resp.status}`);
      return resp.json();
    });
    pending.catch(() => cache.delete(code));
    cache.set(code, pending);
  }
  return cache.get(code);
}

/** Start loading a dictionary now (the one this browser used last, while the session loads). */
export function prefetch(code) {
  load(normalize(code) || "en").catch(() => {});
}

export async function setLanguage(code) {
  const wanted = normalize(code) || "en";
  dict = await load(wanted);
  lang = wanted;
  localStorage.setItem("hotline.lang", lang);
  document.documentElement.lang = lang;
  apply(document);
  for (const fn of listeners) fn(lang);
  return lang;
}

export const language = () => lang;
export const onLanguage = (fn) => listeners.add(fn);

/** The text of ``key`` with {placeholders} from ``vars``; the key itself if missing. */
export function t(key, vars) {
  const text = dict[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (m, name) => (name in vars ? String(vars[name] ?? "") : m));
}

/** A label for a value of a vocabulary (disposition.repair, state.ready...): the value itself if unknown. */
export function label(group, value) {
  if (value === null || value === undefined || value === "") return "";
  const key = `${group}.${value}`;
  return key in dict ? dict[key] : String(value);
}

/** Translate the static labels under ``root``. */
export function apply(root) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of root.querySelectorAll("[data-i18n-title]")) el.title = t(el.dataset.i18nTitle);
  for (const el of root.querySelectorAll("[data-i18n-aria]")) el.setAttribute("aria-label", t(el.dataset.i18nAria));
  const title = document.querySelector("title[data-i18n]");
  if (title) document.title = t(title.dataset.i18n);
}

export function formatTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  // 24-hour times in both languages (a call center's clock; no AM/PM on a Chinese page)
  return d.toLocaleString(lang, { month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
}

export function formatClock(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleTimeString(lang, { hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
}

export function formatDate(iso) {
  if (!iso) return "";
  const d = new Date(iso.length === 10 ? `${iso}T00:00:00` : iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleDateString(lang, { year: "numeric", month: "2-digit", day: "2-digit" });
}

export function formatSeconds(s) {
  if (s === null || s === undefined || s === "") return "";
  const n = Math.max(0, Math.round(Number(s)));
  return `${Math.floor(n / 60)}:${String(n % 60).padStart(2, "0")}`;
}

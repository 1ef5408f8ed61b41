// The REST API (/api/v1): JSON in and out, the session cookie, and the CSRF token
// (from GET/POST /session, kept in this module's memory only: never in storage, a
// cookie or the page) sent back as X-CSRF-Token on every write.
import { t } from "./i18n.js";

const WRITES = new Set(["POST", "PUT", "PATCH", "DELETE"]);
let csrf = null;

export function setCsrf(token) {
  csrf = typeof token === "string" ? token : null;
}

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code || "";
    this.body = body || {};
  }
}

function signInAgain() {
  const next = encodeURIComponent(location.pathname + location.search);
  location.assign(`/login?next=${next}`);
}

/** Call the API; resolves to the JSON body (null for 204), rejects with ApiError. */
export async function api(method, path, body, { query, allow401 = false } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body instanceof Blob) {
    headers["Content-Type"] = "application/octet-stream"; // a file, sent as it is (uploads)
    init.body = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (WRITES.has(method) && csrf) headers["X-CSRF-Token"] = csrf;
  let url = `/api/v1${path}`;
  if (query) {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
    const qs = params.toString();
    if (qs) url += `?${qs}`;
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, "network", String(err && err.message ? err.message : err));
  }
  let data = null;
  if (resp.status !== 204 && (resp.headers.get("Content-Type") || "").includes("json")) {
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
  }
  if (!resp.ok) {
    if (resp.status === 401 && !allow401) signInAgain();
    const err = new ApiError(resp.status, data && data.error, data && data.message, data);
    err.retryAfter = resp.headers.get("Retry-After");
    throw err;
  }
  return data;
}

const KNOWN = new Set([
  "network", "unauthenticated", "forbidden", "csrf", "not_found", "not-found", "agent-busy",
  "agent_busy", "conflict", "duplicate", "validation", "rate-limited", "locked", "pbx-unreachable",
  "pbx_unreachable", "sign_in_failed", "target-busy", "no-call", "not-an-agent", "no-account-manager", "no-phone",
  "not-keyable", "no-such-call", "not-your-call", "customer-mismatch", "move_not_allowed",
  "move-not-allowed",
]);

/** A message for people, in the page's language, from any error. */
export function describe(err) {
  if (!(err instanceof ApiError)) return t("error.unexpected", { detail: String(err && err.message || err) });
  const code = String(err.code || "").replace(/_/g, "-");
  let head;
  if (KNOWN.has(err.code) || KNOWN.has(code)) head = t(`error.${code}`);
  else head = t(`error.http.${err.status}`);
  if (head.startsWith("error.")) head = t("error.http", { status: err.status });
  const field = err.body && (err.body.field || (err.body.details && err.body.details[0] && err.body.details[0].field));
  const detail = err.message && err.message !== err.code ? err.message : "";
  const parts = [head];
  if (field) parts.push(t("error.field", { field }));
  const same = (a, b) => a.toLowerCase().replace(/[.\s]+$/, "") === b.toLowerCase().replace(/[.\s]+$/, "");
  if (detail && err.status !== 0 && !same(detail, head)) parts.push(detail);
  return parts.join(" — ");
}

// The supervisor's controls on the live page (issue 16 item 4): listen / whisper / barge
// on each call an agent is talking on, pause (with a reason) or sign out each agent of
// the supervisor's scope. Each click shows its result, or why it failed (the server's
// code in words, then its own message), in #supervise-result, as the console does.
// A user without the supervise grant sees none of it (GET /supervise/agents is a 403).
// Kept apart from live.js: the rows of "calls in progress" are live.js's; this module
// only adds a cell of buttons to the rows it renders (a MutationObserver), so neither
// knows the other's internals. Text from the server is rendered with textContent.
import { api, setCsrf, ApiError } from "./console/js/api.js";

const T = {
  en: {
    agentsTitle: "Agents", agent: "Agent", state: "State", call: "Call", actions: "Supervise",
    listen: "Listen", whisper: "Whisper", barge: "Barge", pause: "Pause", signOut: "Sign out",
    reason: "Reason", none: "no agent in your scope",
    "state.signed-out": "signed out", "state.ready": "ready", "state.paused": "paused",
    "state.wrap-up": "wrap-up", "state.ringing": "ringing", "state.busy": "on a call",
    "r.break": "break", "r.lunch": "lunch", "r.training": "training", "r.meeting": "meeting",
    "r.coaching": "coaching", "r.other": "other",
    ok_spy: (b) => `Your phone ${b.phone} is ringing: answer it to ${b.mode === "listen" ? "listen to" : b.mode === "whisper" ? "whisper to" : "barge into"} ${b.agent}'s call (keys 4 / 5 / 6: listen / whisper / barge).`,
    ok_state: (b) => (b.action === "pause" ? `${b.agent}: pause asked of the phone system.` : `${b.agent}: sign-out asked of the phone system.`),
    noPhoneHint: "You have no phone on the phone system: listening needs one.",
    "error.no-such-call": "That call is on no agent's phone any more",
    "error.not-talking": "The agent has not answered that call yet",
    "error.no-phone": "You have no phone to listen with",
    "error.not-signed-in": "That agent is not signed in",
    "error.forbidden": "Not allowed",
    "error.validation": "Check the input",
    "error.not_found": "No such agent",
    "error.pbx-unreachable": "The phone system cannot be reached",
    "error.pbx-refused": "The phone system refused",
    "error.network": "No connection to the server",
    "error.http": "The server answered",
  },
  "zh-CN": {
    agentsTitle: "坐席", agent: "坐席", state: "状态", call: "通话", actions: "班长操作",
    listen: "监听", whisper: "耳语", barge: "强插", pause: "置忙", signOut: "签出",
    reason: "原因", none: "您的范围内没有坐席",
    "state.signed-out": "已签出", "state.ready": "空闲", "state.paused": "置忙",
    "state.wrap-up": "话后处理", "state.ringing": "振铃", "state.busy": "通话中",
    "r.break": "休息", "r.lunch": "午餐", "r.training": "培训", "r.meeting": "会议",
    "r.coaching": "辅导", "r.other": "其他",
    ok_spy: (b) => `您的话机 ${b.phone} 正在振铃:接听后即可${b.mode === "listen" ? "监听" : b.mode === "whisper" ? "耳语" : "强插"} ${b.agent} 的通话(按键 4 / 5 / 6:监听 / 耳语 / 强插)。`,
    ok_state: (b) => (b.action === "pause" ? `${b.agent}:已请求交换机置忙。` : `${b.agent}:已请求交换机签出。`),
    noPhoneHint: "您在交换机上没有话机:监听需要话机。",
    "error.no-such-call": "该通话已不在任何坐席的话机上",
    "error.not-talking": "坐席尚未接听该通话",
    "error.no-phone": "您没有可用于监听的话机",
    "error.not-signed-in": "该坐席未签入",
    "error.forbidden": "无权操作",
    "error.validation": "请检查输入",
    "error.not_found": "没有该坐席",
    "error.pbx-unreachable": "无法连接交换机",
    "error.pbx-refused": "交换机拒绝了操作",
    "error.network": "无法连接服务器",
    "error.http": "服务器返回",
  },
};
const REASONS = ["break", "lunch", "training", "meeting", "coaching", "other"];
const MODES = ["listen", "whisper", "barge"];

const lang = () => (document.documentElement.lang === "zh-CN" ? "zh-CN" : "en");
const t = (k) => T[lang()][k] ?? T.en[k] ?? k;
let board = null; // the last GET /supervise/agents

function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  if (text !== undefined) e.textContent = text;
  return e;
}

function say(kind, text) {
  const out = document.getElementById("supervise-result");
  out.className = "supervise-result " + kind;
  out.dataset.kind = kind;
  out.textContent = text;
}

function describe(err) {
  if (!(err instanceof ApiError)) return String(err && err.message || err);
  const head = T[lang()]["error." + err.code] || `${t("error.http")} ${err.status}`;
  const detail = err.message && err.message !== err.code ? err.message : "";
  return detail ? `${head} — ${detail}` : head;
}

async function act(button, path, body, ok) {
  button.disabled = true;
  try {
    const answer = await api("POST", path, body);
    say("ok", t(ok)(answer));
    refresh();
  } catch (err) {
    say("error", describe(err));
  } finally {
    button.disabled = false;
  }
}

function spyCell(linkedid) {
  const td = el("td", { class: "supervise" });
  for (const mode of MODES) {
    const b = el("button", { type: "button", class: "spy-" + mode, dataset: { mode } }, t(mode));
    if (mode !== "listen" && !board.act) b.disabled = true;
    b.addEventListener("click", () => act(b, `/supervise/calls/${encodeURIComponent(linkedid)}`, { mode }, "ok_spy"));
    td.append(b);
  }
  return td;
}

// the live table's rows are live.js's: each talking call gets a cell of buttons
function decorateCalls() {
  if (!board) return;
  const head = document.querySelector("#live thead tr");
  if (head && !head.querySelector("th.supervise")) head.append(el("th", { class: "supervise" }, t("actions")));
  for (const tr of document.querySelectorAll("#live tbody tr[data-linkedid]")) {
    if (tr.querySelector("td.supervise")) continue;
    const talking = tr.querySelector("td.state-talking");
    tr.append(talking ? spyCell(tr.dataset.linkedid) : el("td", { class: "supervise" }));
  }
}

const chosen = new Map(); // agent id -> the pause reason the supervisor picked

function agentRow(a) {
  const tr = el("tr", { dataset: { agentId: String(a.id), interface: a.interface } });
  tr.append(el("td", {}, a.name));
  const state = t("state." + a.state) + (a.state === "paused" && a.reason ? ` (${a.reason})` : "");
  tr.append(el("td", { class: "agent-state" }, state));
  tr.append(el("td", {}, a.call ? a.call.caller || a.call.linkedid : ""));
  const td = el("td", { class: "supervise" });
  if (board.act) {
    const reason = el("select", { class: "pause-reason", "aria-label": t("reason") });
    for (const r of REASONS) reason.append(el("option", { value: r }, t("r." + r)));
    // the board is drawn anew every few seconds: the reason she picked must survive it
    if (chosen.has(a.id)) reason.value = chosen.get(a.id);
    reason.addEventListener("change", () => chosen.set(a.id, reason.value));
    const pause = el("button", { type: "button", class: "agent-pause" }, t("pause"));
    pause.addEventListener("click", () => act(pause, `/supervise/agents/${a.id}/state`, { action: "pause", reason: reason.value }, "ok_state"));
    const out = el("button", { type: "button", class: "agent-sign-out" }, t("signOut"));
    out.addEventListener("click", () => act(out, `/supervise/agents/${a.id}/state`, { action: "sign-out", reason: reason.value }, "ok_state"));
    td.append(reason, pause, out);
  }
  tr.append(td);
  return tr;
}

function renderAgents() {
  const section = document.getElementById("supervise");
  if (!board) { section.hidden = true; return; }
  section.hidden = false;
  for (const e of section.querySelectorAll("[data-s18n]")) e.textContent = t(e.dataset.s18n);
  document.getElementById("supervise-phone").textContent = board.phone ? "" : t("noPhoneHint");
  const body = section.querySelector("tbody");
  body.replaceChildren();
  for (const a of board.agents) body.append(agentRow(a));
  if (!board.agents.length) {
    const tr = el("tr");
    const td = el("td", { class: "empty" }, t("none"));
    td.colSpan = 4; tr.append(td); body.append(tr);
  }
}

function relabel() {
  renderAgents();
  const head = document.querySelector("#live thead th.supervise");
  if (head) head.textContent = t("actions");
  for (const b of document.querySelectorAll("#live td.supervise button")) b.textContent = t(b.dataset.mode);
}

async function refresh() {
  try {
    board = await api("GET", "/supervise/agents");
  } catch (err) {
    if (err instanceof ApiError && err.status === 403) { board = null; renderAgents(); return; }
    return; // offline: the next refresh brings it
  }
  renderAgents();
  decorateCalls();
}

async function start() {
  try {
    const session = await api("GET", "/session");
    setCsrf(session.csrf_token);
  } catch (_) { return; } // signed out: live.js sends the page to sign-in
  await refresh();
  const rows = document.querySelector("#live tbody");
  new MutationObserver(decorateCalls).observe(rows, { childList: true });
  new MutationObserver(relabel).observe(document.documentElement, { attributes: true, attributeFilter: ["lang"] });
  setInterval(refresh, 3000);
}

start();

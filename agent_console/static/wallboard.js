// The wallboard. Every frame from the server is whole; between frames the page only
// counts on the clocks (time in state, longest wait) from the frame's "now". Caller
// numbers come from the phone network: rendered as text, never as HTML. ?tv=1: the TV
// mode (no controls; sized from the viewport in wallboard.css).
import { formatPhone } from "./console/js/phone.js";
import { queueWords } from "./console/js/words.js";

const T = {
  en: { title: "Hotline — wallboard", connected: "live", disconnected: "disconnected", live: "Live calls",
        tvMode: "TV mode", lang: "中文", queues: "Queues today", numbers: "Numbers dialled today",
        waitingTitle: "Callers waiting", agents: "Agents", formulas: "How the figures are counted",
        queue: "Queue", caller: "Caller", did: "Number dialled", waited: "Waiting for",
        waitingNow: "waiting now", longest: "longest wait", offered: "offered", answered: "answered",
        abandoned: "abandoned", sl: "SL", sl2: "SL2", asa: "ASA", aht: "AHT", shortAb: "short abandons",
        none: "nobody waiting", noAgents: "no agents to show", noTeam: "no team", answeredN: "answered", occupancy: "occupancy",
        "state.ready": "ready", "state.ringing": "ringing", "state.talking": "talking",
        "state.wrap-up": "wrap-up", "state.paused": "paused", "state.signed-out": "signed out",
        "kind.400": "400 number", "kind.800": "800 number", "kind.legacy": "legacy line",
        "kind.unknown": "not in the number plan", forbidden: "The wallboard needs the reports right.",
        "queue.support": "Support", "queue.vip": "VIP line", "queue.sales": "Sales", "queue.service": "Service" },
  "zh-CN": { title: "热线 — 实时看板", connected: "在线", disconnected: "未连接", live: "实时通话",
        tvMode: "大屏模式", lang: "English", queues: "今日各队列", numbers: "今日各号码",
        waitingTitle: "排队来电", agents: "坐席", formulas: "指标口径",
        queue: "队列", caller: "主叫号码", did: "拨打号码", waited: "已等待",
        waitingNow: "正在排队", longest: "最长等待", offered: "进线", answered: "接听",
        abandoned: "放弃", sl: "服务水平", sl2: "服务水平2", asa: "平均应答", aht: "平均处理", shortAb: "短时放弃",
        none: "无人等待", noAgents: "无可显示的坐席", noTeam: "未分组", answeredN: "接听", occupancy: "占用率",
        "state.ready": "就绪", "state.ringing": "振铃", "state.talking": "通话中",
        "state.wrap-up": "话后整理", "state.paused": "暂停", "state.signed-out": "未签入",
        "kind.400": "400 热线", "kind.800": "800 热线", "kind.legacy": "原部门热线",
        "kind.unknown": "未登记号码", forbidden: "实时看板需要报表权限。",
        "queue.support": "技术支持", "queue.vip": "VIP 专线", "queue.sales": "销售", "queue.service": "售后服务" },
};
const params = new URLSearchParams(location.search);
const tv = params.get("tv") === "1";
let lang = params.get("lang") || localStorage.getItem("hotline.lang") ||
  (navigator.language.startsWith("zh") ? "zh-CN" : "en");
if (!T[lang]) lang = "zh-CN";
const t = (k) => (T[lang][k] ?? k);
let frame = null;
const agentRows = new Map(); // agent -> row: whole in a "full" frame, else the changed ones
let teams = []; // per team: in full frames only
let skew = 0; // server clock - this clock, ms (time in state counts on the server's)

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function queueName(q) {
  const w = queueWords(q);
  return w ? (w.key ? t(w.key) : w.raw) : q || "";
}
const serverNow = () => Date.now() + skew;
function since(iso) { return iso ? Math.max(0, Math.floor((serverNow() - Date.parse(iso)) / 1000)) : 0; }
function mmss(s) {
  if (s === null || s === undefined) return "—";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const two = (n) => String(n).padStart(2, "0");
  return h ? `${h}:${two(m)}:${two(r)}` : `${m}:${two(r)}`;
}
const pct = (v) => (v === null || v === undefined ? "—" : `${v.toFixed(1)}%`);
function slClass(v, rules) {
  if (v === null || v === undefined) return "";
  return v >= rules.sl_target ? "good" : v < rules.sl_warn ? "bad" : "warn";
}
function waitClass(s, rules) { return s >= rules.wait_alert_s ? "bad" : s >= rules.wait_warn_s ? "warn" : "good"; }
function fig(name, value, cls, key) {
  const d = el("div", "fig " + (cls || ""));
  const b = el("b", "", value);
  if (key) b.dataset.fig = key;
  d.append(b, el("span", "", t(name)));
  return d;
}

function queueTile(q) {
  const rules = q.rules || frame.defaults;
  const longest = q.oldest_since ? since(q.oldest_since) : 0;
  const tile = el("div", "tile " + (slClass(q.sl, rules) || ""));
  tile.dataset.queue = q.queue;
  tile.append(el("h3", "", queueName(q.queue)));
  const figs = el("div", "figs");
  figs.append(fig("waitingNow", q.waiting, "", "waiting"),
              fig("longest", mmss(longest), waitClass(longest, rules), "longest"),
              fig("offered", q.offered, "", "offered"), fig("answered", q.answered, "", "answered"),
              fig("abandoned", q.abandoned, q.abandoned ? "warn" : "", "abandoned"),
              fig("sl", pct(q.sl), slClass(q.sl, rules), "sl"),
              fig("sl2", pct(q.sl2), slClass(q.sl2, rules), "sl2"),
              fig("asa", mmss(q.asa_s), "", "asa"));
  tile.appendChild(figs);
  const formula = el("div", "formula", frame.formulas.sl[lang].replaceAll("{t}", rules.sl_s));
  formula.dataset.formula = "sl";
  tile.append(formula, el("div", "sub", `${t("shortAb")} (< ${rules.short_abandon_s} s): ${q.short_abandoned}`));
  return tile;
}

function numberTile(n) {
  const tile = el("div", "tile");
  tile.dataset.number = n.number;
  const p = formatPhone(n.number);
  const title = el("h3", "", p.text);
  title.title = p.title || "";
  tile.append(title, el("div", "sub", [t("kind." + n.kind), n.label].filter(Boolean).join(" · ")));
  const figs = el("div", "figs");
  figs.append(fig("waitingNow", n.waiting, "", "waiting"), fig("offered", n.offered, "", "offered"),
              fig("answered", n.answered, "", "answered"), fig("sl", pct(n.sl), "", "sl"));
  tile.appendChild(figs);
  return tile;
}

function agentCard(a) {
  const card = el("div", "agent " + a.state);
  card.dataset.agent = a.agent;
  card.dataset.state = a.state;
  const time = el("span", "time", a.since ? mmss(since(a.since)) : "");
  if (a.since) time.dataset.since = a.since;
  card.append(time, el("div", "name", a.name));
  const state = t("state." + a.state) + (a.state === "paused" && a.reason ? ` · ${a.reason}` : "");
  card.append(el("div", "state", state));
  card.append(el("div", "sub", `${t("answeredN")} ${a.answered ?? 0} · ${t("occupancy")} ${pct(a.occupancy)}`));
  return card;
}

function render() {
  document.documentElement.lang = lang;
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  document.getElementById("lang").textContent = t("lang");
  document.title = t("title");
  if (!frame) return;
  document.getElementById("queues").replaceChildren(...frame.queues.map(queueTile));
  document.getElementById("numbers").replaceChildren(...frame.numbers.map(numberTile));
  const agents = document.getElementById("agents");
  agents.replaceChildren(...frame.agents.filter((a) => a.state !== "signed-out" || !tv).map(agentCard));
  if (!agents.children.length) agents.appendChild(el("div", "empty", t("noAgents")));
  document.getElementById("teams").replaceChildren(...teams.map((tm) => {
    const chip = el("span", "team", `${tm.team || t("noTeam")} · ${t("answeredN")} ${tm.answered ?? 0}` +
                                    ` · ${t("occupancy")} ${pct(tm.occupancy)}`);
    chip.dataset.team = tm.team;
    return chip;
  }));
  const body = document.querySelector("#waiting tbody");
  body.replaceChildren();
  for (const w of frame.waiting) {
    const tr = el("tr");
    tr.dataset.linkedid = w.linkedid;
    const p = formatPhone(w.caller), d = formatPhone(w.did);
    const wait = el("td", "", mmss(since(w.since)));
    wait.dataset.since = w.since;
    tr.append(el("td", "", queueName(w.queue)), el("td", "phone", p.text), el("td", "", d.text), wait);
    body.appendChild(tr);
  }
  if (!frame.waiting.length) {
    const tr = el("tr"), td = el("td", "empty", t("none"));
    td.colSpan = 4; tr.appendChild(td); body.appendChild(tr);
  }
  document.getElementById("waiting-count").textContent = String(frame.waiting.length);
  const list = document.getElementById("formulas");
  const sl = frame.defaults.sl_s, short = frame.defaults.short_abandon_s;
  list.replaceChildren(...Object.values(frame.formulas).map(
    (f) => el("li", "", f[lang].replaceAll("{t}", sl).replaceAll("{s}", short))));
}

// between frames: the clocks move on
function tick() {
  document.getElementById("clock").textContent =
    new Date(serverNow()).toLocaleTimeString(lang, { hourCycle: "h23" });
  for (const e of document.querySelectorAll("[data-since]")) e.textContent = mmss(since(e.dataset.since));
  if (!frame) return;
  for (const q of frame.queues) {
    const b = document.querySelector(`.tile[data-queue="${CSS.escape(q.queue)}"] [data-fig=longest]`);
    if (b) b.textContent = mmss(q.oldest_since ? since(q.oldest_since) : 0);
  }
}

function setStatus(on) {
  const s = document.getElementById("status");
  s.className = "status " + (on ? "on" : "off");
  s.dataset.i18n = on ? "connected" : "disconnected";
  s.textContent = t(s.dataset.i18n);
}

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/wallboard");
  ws.onopen = () => setStatus(true);
  ws.onclose = () => {
    setStatus(false);
    fetch("/api/calls", { credentials: "same-origin" })
      .then((r) => (r.status === 401 ? location.assign("/login?next=" + encodeURIComponent(location.pathname + location.search))
                                      : setTimeout(connect, 1000)))
      .catch(() => setTimeout(connect, 1000));
  };
  ws.onmessage = (m) => {
    const f = JSON.parse(m.data);
    if (f.v !== 1 || f.type !== "board") return;
    skew = Date.parse(f.now) - Date.now();
    if (f.full) { agentRows.clear(); teams = f.teams || []; }
    for (const a of f.full ? f.agents : f.agents_changed || []) agentRows.set(a.agent, a);
    f.agents = [...agentRows.values()].sort((a, b) => a.agent.localeCompare(b.agent));
    frame = f;
    document.body.dataset.frames = String(Number(document.body.dataset.frames || 0) + 1);
    render();
  };
}

if (tv) document.body.classList.add("tv");
document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "en" ? "zh-CN" : "en";
  localStorage.setItem("hotline.lang", lang);
  render();
});
render();
connect();
setInterval(tick, 1000);

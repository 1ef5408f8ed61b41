// Live calls page. Caller names come from the phone network and are hostile:
// everything is rendered with textContent, never innerHTML. Numbers, outcomes and
// times are shown as on the console (console/js/phone.js, words.js): 138 0013 8000
// with the E.164 form on hover, a queue timeout as such, 24-hour times.
import { formatPhone } from "./console/js/phone.js";
import { outcomeKey, endedByKey, queueWords } from "./console/js/words.js";

const T = {
  en: { title: "Hotline — live calls", connected: "live", disconnected: "disconnected",
        inProgress: "Calls in progress", latest: "Latest logged calls", since: "Since",
        caller: "Caller", name: "Name", did: "Number dialled", state: "State", queue: "Queue",
        agent: "Agent", ended: "Ended", customer: "Customer", wait: "Wait s", talk: "Talk s",
        outcome: "Outcome", hangupBy: "Ended by", lang: "中文",
        ivr: "in IVR", queued: "waiting", ringing: "ringing", talking: "talking",
        dialling: "dialling out", answered: "answered", abandoned: "abandoned",
        "no-answer": "no answer", failed: "failed",
        "ivr-only": "IVR only", transferred: "transferred", caller_: "caller", agent_: "agent",
        transfer_: "transfer", customer_: "customer", system_: "system", unknown: "unknown",
        outbound: "outbound", waitingTitle: "Waiting per queue",
        callers: "Callers waiting", callbacks: "Callbacks keeping their place", total: "Total",
        none: "nobody waiting", records: "Records",
        "outcome.answered": "answered", "outcome.abandoned": "caller hung up while waiting",
        "outcome.no-answer": "no answer", "outcome.queue-timeout": "queue timed out",
        "outcome.customer-no-answer": "customer did not answer", "outcome.failed": "failed",
        "outcome.not-placed": "could not be placed", "outcome.ivr-only": "IVR only",
        "outcome.transferred": "transferred", "ended_by.caller": "caller",
        "ended_by.agent": "agent", "ended_by.customer": "customer", "ended_by.transfer": "transfer",
        "ended_by.system": "phone system", "ended_by.queue": "queue time limit",
        "queue.support": "Support", "queue.vip": "VIP line", "queue.sales": "Sales",
        "queue.service": "Service" },
  "zh-CN": { title: "热线 — 实时通话", connected: "在线", disconnected: "未连接",
        inProgress: "进行中的通话", latest: "最近记录的通话", since: "开始",
        caller: "主叫号码", name: "姓名", did: "拨打号码", state: "状态", queue: "队列",
        agent: "坐席", ended: "结束", customer: "客户", wait: "等待(秒)", talk: "通话(秒)",
        outcome: "结果", hangupBy: "挂断方", lang: "English",
        ivr: "语音导航", queued: "排队中", ringing: "振铃", talking: "通话中",
        dialling: "外呼中", answered: "已接听", abandoned: "放弃", "no-answer": "无人接听",
        failed: "失败",
        "ivr-only": "仅语音导航", transferred: "已转接", caller_: "主叫", agent_: "坐席",
        transfer_: "转接", customer_: "客户", system_: "系统", unknown: "未知",
        outbound: "外呼", waitingTitle: "各队列等待",
        callers: "排队来电", callbacks: "回拨(保留排队位置)", total: "合计",
        none: "无人等待", records: "客户档案",
        "outcome.answered": "已接听", "outcome.abandoned": "来电方等待中挂断",
        "outcome.no-answer": "无人接听", "outcome.queue-timeout": "排队超时",
        "outcome.customer-no-answer": "客户未接听", "outcome.failed": "失败",
        "outcome.not-placed": "未能呼出", "outcome.ivr-only": "仅语音导航",
        "outcome.transferred": "已转接", "ended_by.caller": "来电方", "ended_by.agent": "坐席",
        "ended_by.customer": "客户", "ended_by.transfer": "转接", "ended_by.system": "交换机",
        "ended_by.queue": "队列超时", "queue.support": "技术支持", "queue.vip": "VIP 专线",
        "queue.sales": "销售", "queue.service": "售后服务" },
};
let lang = localStorage.getItem("hotline.lang") || (navigator.language.startsWith("zh") ? "zh-CN" : "en");
const t = (k) => (T[lang][k] ?? k);
const live = new Map();
let latest = [];
// callbacks per queue come from the server (the database); callers waiting are counted
// here from the live calls, so that part moves with every event
let callbacks = {};

function applyLang() {
  document.documentElement.lang = lang;
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  document.getElementById("lang").textContent = t("lang");
  document.title = t("title");
  render();
}

function cell(tr, text, cls, title) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (cls) td.className = cls;
  if (title) td.title = title;
  tr.appendChild(td);
}
// a queue by its name in the page's language (words.js); one the page has no name for
// shows as set up
function queueName(q) {
  const w = queueWords(q);
  return w ? (w.key ? t(w.key) : w.raw) : q || "";
}
function phoneCell(tr, number) {
  const p = formatPhone(number);
  cell(tr, p.text, "phone", p.title);
}
// the page's language, 24-hour (not the browser's locale: no AM/PM on the Chinese page)
const hhmmss = (iso) => (iso ? new Date(iso).toLocaleTimeString(lang, { hourCycle: "h23" }) : "");

function renderWaiting() {
  const callers = {};
  for (const c of live.values()) {
    if (c.queue && (c.state === "queued" || c.state === "ringing")) callers[c.queue] = (callers[c.queue] || 0) + 1;
  }
  const queues = [...new Set([...Object.keys(callers), ...Object.keys(callbacks)])].sort();
  const body = document.querySelector("#waiting tbody");
  body.replaceChildren();
  for (const q of queues) {
    const a = callers[q] || 0, b = callbacks[q] || 0;
    if (!a && !b) continue;
    const tr = document.createElement("tr");
    tr.dataset.queue = q;
    cell(tr, queueName(q)); cell(tr, String(a)); cell(tr, String(b)); cell(tr, String(a + b));
    body.appendChild(tr);
  }
  if (!body.children.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 4; td.className = "empty"; td.textContent = t("none");
    tr.appendChild(td); body.appendChild(tr);
  }
}

function setCallbacks(waiting) {
  callbacks = {};
  for (const [q, w] of Object.entries(waiting || {})) if (w.callbacks) callbacks[q] = w.callbacks;
}

async function refreshCallbacks() {
  try {
    const r = await fetch("/api/calls", { credentials: "same-origin" });
    if (r.status === 401) return toLogin();
    if (r.ok) { setCallbacks((await r.json()).waiting); renderWaiting(); }
  } catch (_) { /* offline: the next snapshot brings it */ }
}

function render() {
  renderWaiting();
  const lb = document.querySelector("#live tbody");
  lb.replaceChildren();
  for (const c of live.values()) {
    const tr = document.createElement("tr");
    tr.dataset.linkedid = c.linkedid;
    cell(tr, hhmmss(c.started_at)); phoneCell(tr, c.caller); cell(tr, c.caller_name);
    phoneCell(tr, c.did); cell(tr, t(c.state), "state-" + c.state); cell(tr, queueName(c.queue)); cell(tr, c.agent);
    lb.appendChild(tr);
  }
  document.getElementById("live-count").textContent = String(live.size);
  const hb = document.querySelector("#latest tbody");
  hb.replaceChildren();
  for (const s of latest) {
    const tr = document.createElement("tr");
    tr.dataset.linkedid = s.linkedid;
    cell(tr, hhmmss(s.ended_at)); phoneCell(tr, s.caller); cell(tr, s.caller_name);
    cell(tr, s.customer_name); phoneCell(tr, s.did); cell(tr, (s.queues || []).map(queueName).filter(Boolean).join(", "));
    cell(tr, s.agent); cell(tr, s.wait_s); cell(tr, s.talk_s);
    // an outbound call (click-to-dial, callback) says so next to its outcome
    // what happened, in words: an unanswered inbound call is the queue's time limit,
    // never "no answer, ended by system" (which reads as an agent's fault)
    const said = t(outcomeKey(s));
    const outcome = s.direction === "outbound" ? said + " · " + t("outbound") : said;
    const endedBy = endedByKey(s);
    cell(tr, outcome, "outcome-" + s.outcome); cell(tr, endedBy ? t(endedBy) : "");
    hb.appendChild(tr);
  }
}

function onEvent(e) {
  // an attended transfer's target ringing or missing the consult says nothing of the caller
  if (e.consult && e.type !== "CallAnswered") return;
  const c = live.get(e.linkedid);
  switch (e.type) {
    case "CallStarted":
      // an outbound call is in no queue: "dialling" until the customer answers
      live.set(e.linkedid, { linkedid: e.linkedid, caller: e.caller, caller_name: e.caller_name,
                             did: e.did, state: e.direction === "outbound" ? "dialling" : "ivr",
                             direction: e.direction, started_at: e.at });
      break;
    case "CallQueued": if (c) { c.state = "queued"; c.queue = e.queue; } break;
    // an agent's own outbound call stays "dialling" until its CallAnswered (the customer's)
    case "AgentRinging": if (c) { if (e.direction !== "outbound") c.state = "ringing"; c.agent = e.agent; } break;
    case "AgentRingNoAnswer": if (c) { c.state = "queued"; c.agent = ""; } break;
    case "CallAnswered": if (c) { c.state = "talking"; c.agent = e.agent; } break;
    case "CallEnded":
      live.delete(e.summary.linkedid);
      // an event replayed over the snapshot may name a call the snapshot already has
      latest = [e.summary, ...latest.filter((s) => s.linkedid !== e.summary.linkedid)].slice(0, 20);
      break;
    default: return;
  }
  render();
}

// signed out (or the session ended): back to sign-in, then here again
function toLogin() { location.assign("/login?next=" + encodeURIComponent("/live")); }

function connect() {
  const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws");
  const status = document.getElementById("status");
  ws.onopen = () => { status.className = "status on"; status.dataset.i18n = "connected"; status.textContent = t("connected"); };
  ws.onclose = () => {
    status.className = "status off"; status.dataset.i18n = "disconnected"; status.textContent = t("disconnected");
    // a refused socket does not say why: ask the API whether the session still holds
    fetch("/api/calls", { credentials: "same-origin" })
      .then((r) => (r.status === 401 ? toLogin() : setTimeout(connect, 1000)))
      .catch(() => setTimeout(connect, 1000));
  };
  ws.onmessage = (m) => {
    const f = JSON.parse(m.data);
    if (f.v !== 1) return;
    if (f.type === "snapshot") {
      live.clear();
      for (const c of f.live || []) live.set(c.linkedid, c);
      latest = f.latest || [];
      setCallbacks(f.waiting);
      render();
    } else if (f.type === "event") {
      onEvent(f.event);
    }
  };
}

document.getElementById("lang").addEventListener("click", () => {
  lang = lang === "en" ? "zh-CN" : "en";
  localStorage.setItem("hotline.lang", lang);
  applyLang();
});
applyLang();
connect();
setInterval(refreshCallbacks, 5000);

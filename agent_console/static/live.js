// Live calls page. Caller names come from the phone network and are hostile:
// everything is rendered with textContent, never innerHTML.
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
        none: "nobody waiting", records: "Records" },
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
        none: "无人等待", records: "客户档案" },
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

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text ?? "";
  if (cls) td.className = cls;
  tr.appendChild(td);
}
const hhmmss = (iso) => (iso ? new Date(iso).toLocaleTimeString() : "");

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
    cell(tr, q); cell(tr, String(a)); cell(tr, String(b)); cell(tr, String(a + b));
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
    cell(tr, hhmmss(c.started_at)); cell(tr, c.caller); cell(tr, c.caller_name);
    cell(tr, c.did); cell(tr, t(c.state), "state-" + c.state); cell(tr, c.queue); cell(tr, c.agent);
    lb.appendChild(tr);
  }
  document.getElementById("live-count").textContent = String(live.size);
  const hb = document.querySelector("#latest tbody");
  hb.replaceChildren();
  for (const s of latest) {
    const tr = document.createElement("tr");
    tr.dataset.linkedid = s.linkedid;
    cell(tr, hhmmss(s.ended_at)); cell(tr, s.caller); cell(tr, s.caller_name);
    cell(tr, s.customer_name); cell(tr, s.did); cell(tr, (s.queues || []).join(", "));
    cell(tr, s.agent); cell(tr, s.wait_s); cell(tr, s.talk_s);
    // an outbound call (click-to-dial, callback) says so next to its outcome
    const outcome = s.direction === "outbound" ? t(s.outcome) + " · " + t("outbound") : t(s.outcome);
    cell(tr, outcome, "outcome-" + s.outcome); cell(tr, s.hangup_by ? t(s.hangup_by + "_") : "");
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

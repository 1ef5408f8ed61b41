// The agent console: the state bar (what the PBX believes), the screen pop of the
// ringing call (before the agent answers), the call controls, and the call log
// with a ticket, an opportunity or a callback made from the pop in one click.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, onLanguage, formatClock, formatSeconds } from "./i18n.js";
import { boot } from "./session.js";
import { result, toast } from "./notify.js";
import { connect } from "./socket.js";
import { install as installHotkeys, typing } from "./hotkeys.js";
import { cleanNotes, firstBlank, untouched } from "./notes.js";
import { quickCreateForm } from "./quick_create.js";
import * as V from "./caller_verify.js";
import { loadMine as loadMyScores } from "./scores.js";
import { initSearch } from "./search.js";
import * as R from "./render.js";
import * as W from "./words.js";
import { formatPhone, phoneText } from "./phone.js";
import { initNextCall } from "./next_call.js";

export const DISPOSITIONS = ["inquiry", "repair", "complaint", "order-status", "sales-lead", "other"];
export const PAUSE_REASONS = ["break", "lunch", "training", "meeting", "other"];
const TRANSFER_KINDS = ["agent", "queue", "account-manager", "number"];
const PRIORITIES = ["normal", "high", "urgent", "low"];
const CONTRACT_STATES = new Set(["signed-out", "ready", "paused", "wrap-up", "ringing", "busy"]);

// The log form belongs to the call it was opened for, whatever pops next (issue 14
// item 1): a new call pops in the call and record cards, but while the agent is filling
// the form in it stays with its call, and the new call's form waits in "Calls not logged
// yet". Everything the form saves (the log, a ticket, an opportunity, a callback) is
// addressed from the form's own entry, never from whatever is on screen.
const S = {
  session: null,
  agent: { interface: null, name: null },
  state: { state: "unknown", paused: false, reason: "", queues: [], wrapup_until: null },
  pending: null, // the state change asked for and not yet seen from the PBX
  unconfirmed: null, // {action} the console gave up waiting for (said so): taken back once seen
  call: null, // the call on screen: {linkedid, caller, caller_name, did, queue, ivr, at, status, timeline: []}
  record: null, // the record card: the on-screen call's record (known / unknown / restricted) or a 360 view picked by hand
  form: blankForm(), // what the log form is for (see blankForm)
  loggedCalls: new Map(), // customer id -> the linkedid of the call last logged with them (callWith)
  drafts: new Map(), // key (the linkedid) -> the form of another call, kept for later
  targets: null,
  ticketForce: null, // {customer, asset}: told of its open repair, the agent may open a second
};

/** A log form's entry: its call (null: logged by hand), that call's record, the customer
 * the log goes to ({id, name}), and what the agent chose and typed while it was put aside;
 * ``suggested``: the disposition the caller's IVR choice points to (preselected, not the
 * agent's choice: the form is not "in use" for it); ``template``: the note template put
 * in the notes (untouched while they equal it). */
function blankForm() {
  return { key: null, call: null, record: null, customer: null, disposition: null, suggested: null, template: null, contact: null, notes: "" };
}

/** The disposition the log is saved with: the agent's choice, else the IVR's suggestion. */
function dispositionOf(f) {
  return f.disposition || f.suggested;
}

// ---------------------------------------------------------------- state bar

/** The state to show for a "state" frame: the contract's words, or the PBX device state mapped. */
export function displayState(frame) {
  if (CONTRACT_STATES.has(frame.state)) return frame.state;
  if (frame.paused) return "paused";
  switch (frame.state) {
    case "available": return "ready";
    case "ringing": return "ringing";
    case "busy": case "on-hold": return "busy";
    case "unavailable": return "signed-out";
    default: return "unknown";
  }
}

let wrapupTimer = null;

function renderState() {
  const st = S.state;
  // one state in words (words.js): never a raw reason, never "Paused" and "Wrap-up" at once
  const words = W.stateWords(st);
  const el = $("#agent-state");
  el.dataset.state = words.pill;
  el.textContent = t(words.key, words.vars.reason ? { reason: t(words.vars.reason) } : undefined);
  el.title = words.hint;
  // the queues she takes callers from, by name; her personal queue is her presence, and
  // signed out she takes none (a queue the PBX still lists her in is no work of hers)
  const queues = st.state === "signed-out" ? [] : (st.queues || []).map(W.queueWords).filter(Boolean);
  fill($("#agent-queues"), queues.map((q) => h("span", { class: "tag", dataset: { queue: q.raw }, title: q.raw }, q.key ? t(q.key) : q.raw)));
  $("#agent-queues").title = queues.length ? t("state.queues") : "";
  // what makes sense from here (the PBX still decides): signed out -> only sign in
  const out = st.state === "signed-out";
  $("#btn-queue-in").disabled = !out && st.state !== "unknown";
  for (const id of ["#btn-ready", "#btn-pause", "#btn-queue-out"]) $(id).disabled = out;
  // the button of the state she is in is on, and only that one
  const active = W.activeButton(st);
  $("#btn-ready").setAttribute("aria-pressed", String(active === "ready"));
  $("#btn-pause").setAttribute("aria-pressed", String(active === "pause"));
  renderWrapup(words.countdown);
}

function renderWrapup(countdown) {
  clearInterval(wrapupTimer);
  const box = $("#wrapup");
  const until = countdown && S.state.wrapup_until ? Date.parse(S.state.wrapup_until) : NaN;
  if (Number.isNaN(until)) {
    box.hidden = true;
    return;
  }
  const tick = () => {
    const left = Math.max(0, Math.round((until - Date.now()) / 1000));
    $("#wrapup-left").textContent = formatSeconds(left);
    box.hidden = false;
    if (left <= 0) {
      clearInterval(wrapupTimer);
      setTimeout(refreshState, 1000); // the PBX ends it; ask what it believes now
    }
  };
  tick();
  wrapupTimer = setInterval(tick, 1000);
}

async function refreshState() {
  try {
    const st = await api("GET", "/agent/state");
    S.state = { ...S.state, ...st, queues: st.queues || [] };
    renderState();
    settlePending();
    followCall(st.call, true);
  } catch (err) {
    result($("#state-result"), "error", describe(err));
  }
}

/** The PBX now reports the state asked for: say so, and take back a "not confirmed"
 * said earlier about it (the PBX may confirm after the console stopped waiting). */
function settlePending() {
  const p = S.pending || S.unconfirmed;
  if (!p || !W.confirms(p.action, S.state)) return;
  if (S.pending) clearTimeout(S.pending.timer);
  S.pending = null;
  S.unconfirmed = null;
  const out = $("#state-result");
  const words = W.stateWords(S.state);
  const text = t("state.confirmed", { state: t(words.key, words.vars.reason ? { reason: t(words.vars.reason) } : undefined) });
  result(out, "ok", text);
  setTimeout(() => { if (out.textContent === text) result(out, "", ""); }, 8000);
}

async function changeState(action) {
  const body = { action };
  if (action === "pause") body.reason = $("#pause-reason").value || "break";
  const out = $("#state-result");
  S.unconfirmed = null;
  result(out, "busy", t("state.asking", { action: label("state_action", action) }));
  try {
    await api("POST", "/agent/state", body);
    if (S.pending) clearTimeout(S.pending.timer);
    S.pending = {
      action,
      timer: setTimeout(() => {
        if (S.pending && S.pending.action === action) {
          result(out, "error", t("state.not_confirmed", { action: label("state_action", action) }));
          S.unconfirmed = { action };
          S.pending = null;
          refreshState();
        }
      }, 8000),
    };
    result(out, "busy", t("state.sent", { action: label("state_action", action) }));
    settlePending();
  } catch (err) {
    result(out, "error", describe(err));
    toast("error", describe(err));
  }
}

// ---------------------------------------------------------------- frames

function onFrame(frame) {
  switch (frame.type) {
    case "hello":
      S.agent = { interface: frame.interface, name: frame.agent };
      $("#agent-who").textContent = t("console.extension", { ext: extension(frame.interface) });
      refreshState();
      break;
    case "state": {
      // the whole view of the agent as the PBX reports it (queues, pause, wrap-up...)
      const next = { ...S.state, state: displayState(frame), paused: !!frame.paused, reason: frame.reason || "" };
      if (Array.isArray(frame.queues)) next.queues = frame.queues;
      if ("wrapup_until" in frame) next.wrapup_until = frame.wrapup_until;
      else if (next.state !== "wrap-up") next.wrapup_until = null;
      S.state = next;
      renderState();
      settlePending();
      if ("call" in frame) followCall(frame.call, false);
      break;
    }
    case "wrapup":
      S.state = { ...S.state, state: "wrap-up", wrapup_until: frame.until };
      renderState();
      break;
    case "wrapup-end":
      S.state = { ...S.state, wrapup_until: null };
      renderState();
      refreshState();
      break;
    case "pop": onPop(frame); break;
    case "answered": callStep(frame.linkedid, "talking", frame.at); break;
    case "missed": callStep(frame.linkedid, "missed", frame.at); break;
    case "ended": callStep(frame.linkedid, endOf(frame), frame.at); break;
    case "resync": refreshState(); break;
    default: break; // a newer frame type: ignored
  }
}

/** The PBX's view of the agent's call (a state frame, GET /agent/state): a pop replayed on
 * reconnect for a call answered meanwhile shows as talking; after a reconnect (``snapshot``)
 * a call the PBX no longer has, whose "ended" frame was missed, shows as ended. */
function followCall(call, snapshot) {
  if (!S.call) return;
  if (call && call.linkedid === S.call.linkedid) {
    if (call.state === "talking" && S.call.status === "ringing") callStep(call.linkedid, "talking", call.since);
  } else if (snapshot && S.call.status === "talking") {
    callStep(S.call.linkedid, "ended");
  }
}

function extension(iface) {
  const m = /^[A-Za-z]+\/(\d+)/.exec(iface || "");
  return m ? m[1] : iface || "";
}

function onPop(frame) {
  const call = frame.call || {};
  const known = knownCall(call.linkedid);
  if (known) {
    ringsAgain(known);
    return;
  }
  const at = call.at || new Date().toISOString();
  const next = { ...blankForm(), call: { ...call, status: "ringing", timeline: [{ what: "ringing", at }] } };
  next.record = frame.record || { known: false, phone: call.caller };
  next.customer = customerOf(next.record);
  next.suggested = DISPOSITIONS.includes(call.suggested_disposition) ? call.suggested_disposition : null;
  S.call = next.call;
  S.record = next.record;
  if (formInUse()) {
    // the agent is filling in the form of another call: it stays with that call, and
    // this call's form waits in the list (nothing typed there moves to this call)
    S.drafts.set(formKey(next), next);
    toast("info", t("log.new_call_waits", { caller: callerText(next.call) }));
    renderDrafts();
    renderLogCall();
  } else {
    showForm(next);
  }
  renderCall();
  renderRecord();
  // an unknown caller: the agent types the company's name first (unless typing elsewhere)
  if (S.form === next && !next.record.known && !typing(document.activeElement)) $("#qc-name")?.focus();
  document.title = `${t("call.status.ringing")} · ${call.caller_name || phoneText(call.caller)}`;
}

/** The same call again (a reconnect's replay, or the queue ringing her once more after a
 * miss): keep what the agent typed, wherever its form is. */
function ringsAgain(call) {
  if (call.status === "missed") {
    call.status = "ringing";
    call.timeline.push({ what: "ringing", at: new Date().toISOString() });
  }
  if (S.call !== call) {
    S.call = call;
    S.record = recordOf(call);
    renderRecord();
    renderLogCall();
  }
  renderCall();
}

/** The call of that linkedid the console knows: on screen, in the form, or in the list. */
function knownCall(linkedid) {
  if (!linkedid) return null;
  for (const c of [S.call, S.form.call, ...[...S.drafts.values()].map((d) => d.call)]) {
    if (c && c.linkedid === linkedid) return c;
  }
  return null;
}

function recordOf(call) {
  if (S.form.call === call) return S.form.record;
  const kept = S.drafts.get(call.linkedid);
  return kept ? kept.record : S.record;
}

function customerOf(record) {
  return record && record.known && !record.restricted && record.customer
    ? { id: record.customer.id, name: record.customer.name } : null;
}

function callerText(call) {
  return (call && (call.caller_name || phoneText(call.caller))) || t("call.no_number");
}

/** What the end of a call was for this agent, in words (words.js): the caller hung up
 * while it rang, the queue timed out, a colleague took it... or just "ended". */
function endOf(frame) {
  const call = knownCall(frame.linkedid);
  return W.endStatus(frame, { answered: !!(call && call.answered_at), me: S.agent.interface });
}

function callStep(linkedid, status, at) {
  const call = knownCall(linkedid);
  if (!call) return;
  if (W.callOver(call.status)) return; // the end is said once
  call.status = status;
  call.timeline.push({ what: status, at: at || new Date().toISOString() });
  if (status === "talking") call.answered_at = at || new Date().toISOString();
  if (call === S.call) {
    renderCall();
    document.title = t("console.title");
  }
  if (call === S.form.call) renderLogOffer();
  // hang-up of the call the form is for: the log is next, keys 1-6 work at once
  if (status === "ended" && call.answered_at && sameCall(S.form.call, call) && !call.logged) focusDisposition();
}

// ---------------------------------------------------------------- the call card

let clockTimer = null;

function renderCall() {
  const call = S.call;
  $("#call-idle").hidden = !!call;
  $("#call-card").hidden = !call;
  clearInterval(clockTimer);
  if (!call) return;
  const status = $("#call-status");
  status.dataset.status = call.status;
  status.textContent = label("call.status", call.status);
  const number = formatPhone(call.caller);
  $("#call-number").textContent = number.text || t("call.no_number");
  $("#call-number").title = number.title;
  $("#call-name").textContent = call.caller_name || "";
  // an outbound call (the agent's click-to-dial, a callback) has no DID: it says so instead
  const did = $("#call-did");
  did.textContent = call.did ? t("call.to_did", { did: call.did })
    : call.direction === "outbound" ? t("direction.outbound") : "";
  did.title = !call.did && call.direction === "outbound" ? t("direction.outbound_title") : "";
  did.dataset.direction = call.direction || "inbound";
  $("#call-queue").textContent = call.queue ? t("call.in_queue", { queue: call.queue }) : "";
  const ivr = R.ivrPath(call.ivr);
  fill($("#call-ivr"), ivr.length ? [h("span", { class: "muted" }, t("ivr.label")), ...ivr] : []);
  $("#call-ivr").hidden = !ivr.length;
  fill($("#call-timeline"), call.timeline.map((step) => h("li", { dataset: { step: step.what } },
    h("span", { class: "muted" }, formatClock(step.at)), " ", label("call.status", step.what))));
  const live = call.status === "ringing" || call.status === "talking";
  $("#btn-hangup").disabled = !live;
  $("#btn-transfer").disabled = call.status !== "talking";
  const tick = () => {
    const since = Date.parse(call.answered_at || call.at || "");
    $("#call-clock").textContent = Number.isNaN(since) || !live
      ? "" : formatSeconds((Date.now() - since) / 1000);
  };
  tick();
  if (live) clockTimer = setInterval(tick, 1000);
  renderLogOffer();
}

/** A call that ended unanswered needs no log: the form gives way to a line saying so and
 * a button to log it all the same (words.js logOffered). What the agent already chose or
 * typed keeps the form on screen. It is the FORM's call that counts (the form stays with
 * its call, whatever is on screen). */
function renderLogOffer() {
  const typed = !!($("#log-notes").value.trim() || S.form.disposition);
  const offered = typed || W.logOffered(S.form.call);
  $("#log-form").hidden = !offered;
  $("#log-offer").hidden = offered;
}

function askForLog() {
  if (S.form.call) S.form.call.logAsked = true;
  renderLogOffer();
  $("#log-dispositions input")?.focus();
}

// ---------------------------------------------------------------- the record card

function renderRecord() {
  const card = $("#record-card");
  const rec = S.record;
  card.hidden = !rec;
  if (!rec) return;
  if (rec.restricted) fill(card, restrictedView(rec));
  else if (rec.known === false || rec.found === false) fill(card, unknownView(rec));
  else fill(card, knownView(rec));
}

function ownerText(owner) {
  return owner && owner.display_name ? owner.display_name : t("customer.no_owner");
}

function knownView(rec) {
  const c = rec.customer || {};
  const assets = rec.assets || [];
  const byId = new Map(assets.map((a) => [a.id, a]));
  const tickets = rec.open_tickets || [];
  const items = rec.interactions || [];
  const calls = rec.calls || [];
  const orders = rec.open_orders || [];
  const head = h("div", { class: "customer-head" },
    h("div", { class: "customer-title" },
      h("h2", { id: "customer-name" }, c.name || ""),
      R.vipBadge(c.vip_tier),
      c.status ? h("span", { class: "tag" }, label("customer_status", c.status)) : null,
      h("a", { href: `/records/${Number(c.id)}`, target: "_blank", rel: "noopener", class: "small-link" }, t("customer.open_record"))),
    h("dl", { class: "facts" },
      h("dt", {}, t("customer.owner")), h("dd", { id: "customer-owner" }, ownerText(rec.owner)),
      h("dt", {}, t("customer.contact")), h("dd", { id: "customer-contact" }, rec.contact
        ? [rec.contact.name || "", rec.contact.role ? h("span", { class: "muted" }, ` · ${rec.contact.role}`) : null]
        : h("span", { class: "muted" }, t("customer.no_contact"))),
      h("dt", {}, t("customer.where")), h("dd", {}, [c.province, c.city].filter(Boolean).join(" · ") || "—"),
      h("dt", {}, t("customer.category")), h("dd", {}, [c.category, c.industry].filter(Boolean).join(" · ") || "—")),
    // a number of this record dials with its customer: the server checks it is theirs
    rec.phones && rec.phones.length ? R.phonesList(rec.phones, (number) => dialNumber(number, c.id)) : null);
  return [
    head,
    R.section(t("pop.assets"), assets.length, R.assetsTable(assets), { id: "pop-assets" }),
    R.section(t("pop.open_tickets"), tickets.length, R.ticketsTable(tickets, byId), { id: "pop-tickets" }),
    // "where is my order?" answered from the pop (issue 18): only for callers who have some
    orders.length ? R.section(t("pop.open_orders"), orders.length, R.ordersTable(orders), { id: "pop-orders" }) : null,
    R.section(t("pop.interactions"), items.length, R.interactionsList(items.slice(0, 5)), { id: "pop-interactions" }),
    calls.length ? R.section(t("pop.calls"), calls.length, R.callsTable(calls), { id: "pop-calls" }) : null,
  ];
}

function restrictedView(rec) {
  return h("div", { class: "restricted", id: "pop-restricted" },
    h("h2", {}, t("pop.restricted_title")),
    h("p", {}, t("pop.restricted_owner", { owner: ownerText(rec.owner) })),
    h("button", { type: "button", onclick: () => openTransfer("account-manager") }, t("transfer.to_manager")));
}

function unknownView(rec) {
  const forCall = S.call; // the call this card is for: what is created or picked here is its customer
  const form = quickCreateForm(rec, forCall, {
    onCreated: async (id) => {
      await useCustomer(id, forCall);
      // the next step is the call's log: the disposition, when that form is this call's
      // (the focus was in the quick-create, gone with it)
      if (sameCall(S.form.call, forCall)) focusDisposition();
    },
    onUse: (id) => useCustomer(id, forCall),
  });
  const candidates = rec.candidates || [];
  return [
    h("div", { class: "unknown-head" },
      h("h2", { id: "pop-unknown" }, t("pop.unknown")),
      h("p", { class: "muted" }, t("pop.unknown_hint", { phone: phoneText(rec.phone) }))),
    candidates.length ? R.section(t("pop.candidates"), candidates.length, h("ul", { class: "candidates" }, candidates.map((cand) =>
      h("li", {}, h("span", {}, cand.name || ""), candidateOwner(cand) ? h("span", { class: "muted" }, ` · ${t("customer.owner")}: ${candidateOwner(cand)}`) : null,
        h("button", { type: "button", class: "small", onclick: () => useCustomer(cand.id, forCall) }, t("search.use"))))), { id: "pop-candidates" }) : null,
    form,
  ];
}

function candidateOwner(cand) {
  if (cand.owner && typeof cand.owner === "object") return cand.owner.display_name || "";
  return cand.owner_name || (typeof cand.owner === "string" ? cand.owner : "");
}

/** Take customer ``id`` as the record of a call's log (picked by hand, created, or a
 * duplicate): ``forCall`` is the call whose record card offered it; without it, the log
 * form's call (the search). Only that call's form changes, wherever it is. */
export async function useCustomer(id, forCall) {
  try {
    const view = await api("GET", `/customers/${Number(id)}/360`);
    const record = { ...view, known: true };
    const entry = !forCall || sameCall(forCall, S.form.call) ? S.form : S.drafts.get(forCall.linkedid);
    if (entry) {
      entry.record = record;
      entry.customer = customerOf(record);
    }
    // the record card shows it when it is about that call (or about no call at all)
    const card = entry ? entry.call : forCall;
    if (!S.call || sameCall(card, S.call)) S.record = record;
    renderRecord();
    if (entry === S.form) {
      renderLogForm();
      prefillForms();
    }
    renderDrafts();
    $("#call-idle").hidden = true;
    toast("info", t("search.used", { name: view.customer ? view.customer.name : "" }));
  } catch (err) {
    toast("error", describe(err));
  }
}

/** The record card of a call-list entry's customer, before the agent dials it (preview
 * dialling): a live call keeps its card, and no log form changes (the form stays with
 * its call; the dialled call pops as any outbound call does). */
async function previewRecord(id) {
  try {
    const view = await api("GET", `/customers/${Number(id)}/360`);
    if (isLive(S.call)) return;
    S.call = null;
    renderCall();
    S.record = { ...view, known: true };
    renderRecord();
    $("#call-idle").hidden = true;
  } catch (err) {
    toast("error", describe(err));
  }
}

let nextCall = { next: () => {}, dial: () => {} };

function sameCall(a, b) {
  return !!a && !!b && a.linkedid === b.linkedid;
}

// ---------------------------------------------------------------- the call log

const WORK_FORMS = "#log-form, #ticket-form, #opportunity-form, #callback-form";

function renderLogForm() {
  const f = S.form;
  const rec = f.record || {};
  const contacts = rec.contacts || [];
  const chosen = f.contact !== null ? f.contact : rec.contact ? rec.contact.id : "";
  options($("#log-contact"), [["", t("log.no_contact")], ...contacts.map((c) => [c.id, c.role ? `${c.name} · ${c.role}` : c.name])], chosen);
  $("#log-customer").textContent = f.customer ? f.customer.name : t("log.no_customer");
  $("#log-customer").dataset.customerId = f.customer ? String(f.customer.id) : "";
  fill($("#log-dispositions"), DISPOSITIONS.map((d, i) => h("label", { class: "chip" },
    h("input", { type: "radio", name: "disposition", value: d, onchange: () => pickDisposition(d) }),
    h("span", {}, label("disposition", d)), h("kbd", { class: "hint" }, String(i + 1)))));
  for (const id of ["open-ticket", "open-opportunity"]) $(`#${id}`).disabled = !f.customer;
  renderDisposition();
  renderLogCall();
}

/** The chips' state (chosen, or suggested by the IVR), the suggestion's line and the
 * note template, without drawing the chips again (the focus stays on its chip). */
function renderDisposition() {
  const f = S.form;
  const picked = dispositionOf(f);
  for (const input of $("#log-dispositions").querySelectorAll("input")) {
    input.checked = input.value === picked;
    input.closest(".chip").dataset.suggested = String(!f.disposition && f.suggested === input.value);
  }
  const hint = $("#log-suggested");
  hint.textContent = !f.disposition && f.suggested ? t("log.suggested", { disposition: label("disposition", f.suggested) }) : "";
  hint.hidden = !hint.textContent;
  syncTemplate();
}

/** The agent picks a disposition (a chip, a key 1-6, a ticket or opportunity made). */
function pickDisposition(d, form = S.form) {
  form.disposition = d;
  if (S.form === form) renderDisposition();
}

/** The notes hold the template of the form's disposition while nothing is typed in them
 * (empty, or the template put there before, in another disposition or language). */
function syncTemplate() {
  const f = S.form;
  const notes = $("#log-notes");
  const d = dispositionOf(f);
  if (!untouched(notes.value, f.template)) return;
  const template = d ? t(`note_template.${d}`) : "";
  if (notes.value === template) return;
  notes.value = template;
  f.template = template || null;
  notes.setSelectionRange(firstBlank(template), firstBlank(template));
}

/** The notes as the agent wrote them: an untouched template, or its lines left as they
 * were, are not notes. */
function typedNotes(f = S.form) {
  return cleanNotes($("#log-notes").value, f.template);
}

/** Focus the disposition chips (the chosen one, else the first) so keys 1-6 pick at once,
 * unless the agent is typing somewhere (then nothing moves). */
function focusDisposition() {
  if (typing(document.activeElement)) return;
  const chips = $("#log-dispositions");
  const target = chips.querySelector("input:checked") || chips.querySelector("input");
  if (!target) return;
  target.focus();
  target.closest(".card")?.scrollIntoView({ block: "nearest" });
}

/** The notes, the caret at the template's first blank while it is untouched. */
function focusNotes() {
  $("#log-notes").focus();
  caretToBlank();
}

function caretToBlank() {
  const notes = $("#log-notes");
  if (S.form.template && notes.value === S.form.template) {
    const at = firstBlank(S.form.template);
    notes.setSelectionRange(at, at);
  }
}

/** Which call the form is for, and a warning when that is not the call on screen. */
function renderLogCall() {
  const f = S.form;
  $("#log-form").dataset.linkedid = f.call ? f.call.linkedid : "";
  $("#log-call").textContent = f.call
    ? t("log.for_call", { caller: callerText(f.call), time: formatClock(f.call.at) })
    : f.customer ? t("log.by_hand") : "";
  const other = detached() ? S.call : null;
  const warn = $("#log-detached");
  warn.textContent = other ? t("log.not_on_screen", { caller: callerText(other) }) : "";
  warn.hidden = !other;
  renderLogOffer();
}

/** The log form is for another call than the one on screen. */
function detached() {
  return !!S.call && !sameCall(S.form.call, S.call);
}

/** The agent is filling the form in: a disposition chosen, notes typed, or the focus in
 * one of the call's forms (a saved form left as it was is done with). */
function formInUse() {
  const f = S.form;
  if (typedNotes(f) || f.disposition) return true;
  if (f.call && f.call.logged) return false;
  const active = document.activeElement;
  return !!(active && active.closest && active.closest(WORK_FORMS));
}

/** Make ``entry`` the log form's, as it was left. */
function showForm(entry) {
  S.form = entry;
  $("#log-notes").value = entry.notes || "";
  renderLogForm(); // an empty form gets its disposition's note template
  prefillForms();
}

let byHand = 0;

function formKey(entry) {
  if (!entry.key) entry.key = entry.call ? entry.call.linkedid : `by-hand-${++byHand}`;
  return entry.key;
}

/** Save the call log; ``correct`` (true only from the button offered after a
 * ``customer-mismatch``) moves the call to the chosen customer, which the server audits.
 * What is saved is the form's own call and customer, read once before anything waits. */
/** The linkedid of the call with ``customerId`` whose log form is open (on screen or
 * waiting) or was saved last, or null (a call list's outcome names it: one record). */
function callWith(customerId) {
  const forms = [S.form, ...S.drafts.values()];
  const open = forms.find((f) => f.call && f.call.linkedid && f.customer && f.customer.id === customerId);
  return open ? open.call.linkedid : S.loggedCalls.get(customerId) || null;
}

async function saveLog(correct) {
  const out = $("#log-result");
  const form = S.form;
  if (!form.customer) {
    result(out, "error", t("log.need_customer"));
    return;
  }
  const disposition = dispositionOf(form);
  if (!disposition) {
    result(out, "error", t("log.need_disposition"));
    $("#log-dispositions input")?.focus();
    return;
  }
  const notes = typedNotes(form); // template lines left as they were are dropped
  const contact = $("#log-contact").value;
  const customer = form.customer;
  result(out, "busy", t("action.working"));
  try {
    let saved;
    if (form.call && form.call.linkedid) {
      const body = { customer_id: customer.id, disposition, notes };
      if (contact) body.contact_id = Number(contact);
      if (correct === true) body.correct_customer = true;
      saved = await api("POST", `/calls/${encodeURIComponent(form.call.linkedid)}/log`, body);
    } else {
      // no call from the PBX (a call taken on another phone): log it by hand
      const body = { kind: "call", content: notes, disposition };
      if (contact) body.contact_id = Number(contact);
      saved = await api("POST", `/customers/${customer.id}/interactions`, body);
    }
    if (form.call) form.call.logged = true;
    if (form.call && form.call.linkedid) S.loggedCalls.set(customer.id, form.call.linkedid);
    S.drafts.delete(formKey(form));
    if (S.form === form) doneWith(form);
    renderDrafts();
    refreshRecord(form);
    result(out, "ok", t("log.saved", { id: saved && saved.id ? saved.id : "" }));
    toast("ok", t("log.saved", { id: saved && saved.id ? saved.id : "" }));
  } catch (err) {
    if (err.code === "customer-mismatch" && correct !== true) {
      offerCorrection(out, customer.name);
      return;
    }
    result(out, "error", describe(err));
    toast("error", describe(err));
  }
}

/** The form's call is logged: the form goes to the call on screen when that one waits for
 * its log, else it is left empty for its call. */
function doneWith(form) {
  const active = document.activeElement;
  if (active && active.closest && active.closest(WORK_FORMS)) active.blur();
  const waiting = detached() ? S.drafts.get(S.call.linkedid) : null;
  if (waiting) {
    S.drafts.delete(S.call.linkedid);
    showForm(waiting);
    S.record = waiting.record;
    renderRecord();
    return;
  }
  form.notes = "";
  form.disposition = null;
  form.suggested = null;
  form.template = null;
  $("#log-notes").value = "";
  renderLogForm();
}

/** The call is filed under another customer: say so, and offer to move it (an explicit,
 * audited correction) rather than doing it silently. */
function offerCorrection(out, name) {
  result(out, "error", t("log.filed_elsewhere"));
  out.append(" ", h("button", { type: "button", class: "small", id: "log-correct", onclick: () => saveLog(true) },
    t("log.move_call", { name })));
}

/** The 360 view of a form's customer again (a log or a ticket was added). */
async function refreshRecord(form = S.form) {
  const id = form.customer && form.customer.id;
  if (!id) return;
  try {
    const view = await api("GET", `/customers/${id}/360`);
    if (!view.customer || view.customer.id !== id) return;
    if (form.customer && form.customer.id === id) {
      form.record = { ...view, known: true, contact: form.record && form.record.contact };
    }
    if (S.record && S.record.customer && S.record.customer.id === id && !S.record.restricted) {
      S.record = { ...view, known: true, contact: S.record.contact };
      renderRecord();
    }
  } catch {
    // the card keeps what it showed; the save itself was confirmed
  }
}

/** Put the form aside in the list when it holds something unsaved, or when its call is
 * still live (the agent turns to another call's form for a moment). */
function keepForm() {
  const f = S.form;
  f.notes = $("#log-notes").value;
  f.contact = $("#log-contact").value;
  const typed = !!(typedNotes(f) || f.disposition);
  const live = !!f.call && !f.call.logged && isLive(f.call);
  if (!typed && !live) return;
  S.drafts.set(formKey(f), f);
  if (typed) toast("info", t("drafts.kept", { caller: f.call ? callerText(f.call) : f.customer ? f.customer.name : "" }));
}

function isLive(call) {
  return !!call && (call.status === "ringing" || call.status === "talking");
}

function renderDrafts() {
  const list = $("#drafts-list");
  fill(list, [...S.drafts.entries()].map(([key, d]) => h("li", { dataset: { linkedid: d.call ? d.call.linkedid : "" } },
    h("span", {}, d.call ? callerText(d.call) : d.customer ? d.customer.name : ""), " ",
    d.call && d.customer && d.customer.name !== callerText(d.call) ? h("span", { class: "muted" }, `${d.customer.name} `) : null,
    h("span", { class: "muted" }, d.call ? formatClock(d.call.at) : ""), " ",
    h("button", { type: "button", class: "small", onclick: () => restoreDraft(key) }, t("drafts.open")))));
  $("#drafts").hidden = S.drafts.size === 0;
}

/** Open a kept form; the call card follows it unless another call is live on screen. */
function restoreDraft(key) {
  const d = S.drafts.get(key);
  if (!d) return;
  keepForm();
  S.drafts.delete(key);
  showForm(d);
  if (!isLive(S.call) || sameCall(S.call, d.call)) {
    if (d.call) S.call = d.call;
    S.record = d.record;
  }
  renderCall();
  renderRecord();
  renderLogCall();
  renderDrafts();
}

// ---------------------------------------------------------------- ticket, opportunity, callback

function toggle(formId) {
  for (const id of ["ticket-form", "opportunity-form", "callback-form"]) {
    const f = $(`#${id}`);
    f.hidden = id === formId ? !f.hidden : true;
  }
  const f = $(`#${formId}`);
  if (!f.hidden) f.querySelector("select, input, textarea")?.focus();
}

function prefillForms() {
  const rec = S.form.record || {};
  const assets = rec.assets || [];
  options($("#ticket-asset"), [["", t("ticket.no_asset")], ...assets.map((a) => [a.id, `${a.model || ""} · ${a.serial_number || ""}`])], assets.length === 1 ? assets[0].id : "");
  options($("#ticket-priority"), PRIORITIES.map((p) => [p, label("priority", p)]), "normal");
  $("#ticket-problem").value = "";
  V.labels();
  V.reset(S.form.call && S.form.call.caller);
  $("#opportunity-title").value = "";
  $("#opportunity-amount").value = "";
  $("#opportunity-owner").textContent = rec.owner ? t("opportunity.for_owner", { owner: ownerText(rec.owner) }) : t("opportunity.no_owner");
  $("#callback-phone").value = (S.form.call && S.form.call.caller) || rec.phone || "";
  $("#callback-note").value = "";
  for (const id of ["ticket-result", "opportunity-result", "callback-result", "log-result"]) result($(`#${id}`), "", "");
  S.ticketForce = null;
}

async function createTicket(ev) {
  ev.preventDefault();
  const out = $("#ticket-result");
  const form = S.form; // the ticket is for the form's call and customer
  if (!form.customer) return result(out, "error", t("log.need_customer"));
  const problem = $("#ticket-problem").value.trim();
  if (!problem) {
    $("#ticket-problem").focus();
    return result(out, "error", t("error.required", { field: t("ticket.problem") }));
  }
  const kind = V.body(); // a complaint carries how the caller was verified
  if (kind.error) {
    $(kind.error).focus();
    return result(out, "error", t("error.required", { field: kind.field }));
  }
  const body = { problem, priority: $("#ticket-priority").value || "normal", ...kind };
  if (form.call && form.call.linkedid) body.call_linkedid = form.call.linkedid; // the call it came from
  const asset = $("#ticket-asset").value;
  if (asset) body.asset_id = Number(asset);
  // the API refuses a second open repair of one device (409 naming the open ticket); told
  // so, the agent who presses "Create" again for the same device means it: force it
  const force = S.ticketForce;
  if (asset && force && force.customer === form.customer.id && force.asset === asset) body.force = true;
  const contact = $("#log-contact").value;
  if (contact) body.contact_id = Number(contact);
  result(out, "busy", t("action.working"));
  try {
    const ticket = await api("POST", `/customers/${form.customer.id}/tickets`, body);
    S.ticketForce = null;
    result(out, "ok", t("ticket.created", { number: ticket.number || ticket.id }));
    toast("ok", t("ticket.created", { number: ticket.number || ticket.id }));
    if (ticket.caller_flagged) toast("error", t("verify.flagged", { number: ticket.number || ticket.id }));
    V.reset(form.call && form.call.caller);
    if (!form.disposition) pickDisposition(kind.category === "complaint" ? "complaint" : "repair", form);
    refreshRecord(form);
  } catch (err) {
    const refused = V.refusal(err);
    if (refused) return result(out, "error", refused);
    const open = err.status === 409 && err.body && err.body.existing_ticket;
    if (!open) return result(out, "error", describe(err));
    S.ticketForce = { customer: form.customer.id, asset };
    result(out, "error", t("ticket.duplicate", { number: String(open.number || open.id) }));
  }
}

async function createOpportunity(ev) {
  ev.preventDefault();
  const out = $("#opportunity-result");
  const form = S.form;
  if (!form.customer) return result(out, "error", t("log.need_customer"));
  const title = $("#opportunity-title").value.trim();
  if (!title) {
    $("#opportunity-title").focus();
    return result(out, "error", t("error.required", { field: t("opportunity.title") }));
  }
  const body = { title };
  const amount = $("#opportunity-amount").value;
  if (amount !== "") body.amount = amount;
  result(out, "busy", t("action.working"));
  try {
    const opp = await api("POST", `/customers/${form.customer.id}/opportunities`, body);
    result(out, "ok", t("opportunity.created", { title: opp.title || title }));
    toast("ok", t("opportunity.created", { title: opp.title || title }));
    if (!form.disposition) pickDisposition("sales-lead", form);
  } catch (err) {
    result(out, "error", describe(err));
  }
}

async function createCallback(ev) {
  ev.preventDefault();
  const out = $("#callback-result");
  const phone = $("#callback-phone").value.trim();
  if (!phone) {
    $("#callback-phone").focus();
    return result(out, "error", t("error.required", { field: t("callback.phone") }));
  }
  const body = { phone };
  if (S.form.customer) body.customer_id = S.form.customer.id;
  const at = $("#callback-at").value;
  if (at) {
    const when = new Date(at);
    if (Number.isNaN(when.getTime())) return result(out, "error", t("error.required", { field: t("callback.at") }));
    body.at = when.toISOString();
  }
  const note = $("#callback-note").value.trim();
  if (note) body.note = note;
  result(out, "busy", t("action.working"));
  try {
    const row = await api("POST", "/callbacks", body);
    if (row && row.created === false) {
      // one pending callback per number and queue: the first keeps its place in line
      result(out, "info", t("callback.exists", { phone: phoneText(phone) }));
      return;
    }
    result(out, "ok", t("callback.created", { phone: phoneText(phone) }));
    toast("ok", t("callback.created", { phone: phoneText(phone) }));
  } catch (err) {
    result(out, "error", describe(err));
  }
}

// ---------------------------------------------------------------- call controls

async function hangup() {
  const out = $("#call-result");
  if (!S.call || !["ringing", "talking"].includes(S.call.status)) {
    result(out, "error", t("call.no_live_call"));
    toast("error", t("call.no_live_call"));
    return;
  }
  result(out, "busy", t("action.working"));
  try {
    await api("POST", `/calls/${encodeURIComponent(S.call.linkedid)}/hangup`);
    result(out, "ok", t("call.hangup_sent"));
  } catch (err) {
    result(out, "error", describe(err));
    toast("error", describe(err));
  }
}

/** Dial ``number``; ``customerId`` only when the number is that customer's (a number of
 * the record on screen): the number dialled decides whose call it is, never the record
 * that happens to be on screen (issue 14 item 2). */
async function dialNumber(number, customerId) {
  const out = $("#dial-result");
  const value = String(number || "").trim();
  if (!value) {
    $("#dial-number").focus();
    return result(out, "error", t("error.required", { field: t("dial.number") }));
  }
  const body = { number: value };
  if (customerId) body.customer_id = Number(customerId);
  result(out, "busy", t("dial.dialling", { number: value }));
  try {
    await api("POST", "/calls/dial", body);
    result(out, "ok", t("dial.sent", { number: value }));
    toast("ok", t("dial.sent", { number: value }));
  } catch (err) {
    result(out, "error", describe(err));
    toast("error", describe(err));
  }
}

async function loadTargets() {
  try {
    S.targets = await api("GET", "/agent/transfer-targets");
  } catch (err) {
    S.targets = { agents: [], queues: [] };
    result($("#transfer-result"), "error", describe(err));
  }
}

function fillTransferTargets() {
  const kind = $("#transfer-kind").value;
  const pick = $("#transfer-pick");
  $("#transfer-number-label").hidden = kind !== "number";
  $("#transfer-pick-label").hidden = kind === "number";
  const targets = S.targets || { agents: [], queues: [] };
  if (kind === "agent") {
    const mine = S.agent.interface;
    options(pick, targets.agents.filter((a) => a.interface !== mine).map((a) => [a.interface, `${a.name || a.interface} · ${label("state", a.state) || ""}`]));
  } else if (kind === "queue") {
    options(pick, targets.queues.map((q) => [q, q]));
    pick.onchange = keyableMode;
  } else if (kind === "account-manager") {
    // the customer's id; empty: the account manager of whoever is calling (restricted pop)
    // the call being transferred is the one on screen: its record card's customer
    const rec = S.record || {};
    const owner = rec.owner;
    const value = customerOf(rec) ? String(rec.customer.id) : "";
    options(pick, owner ? [[value, ownerText(owner)]] : []);
  }
}

// An attended transfer keys its destination on the keypad (0-9 * #): a queue named with
// letters can only be reached blind, so "attended" is offered only where it can work.
function keyableMode() {
  const kind = $("#transfer-kind").value;
  const value = $("#transfer-pick").value || "";
  const attended = $("#transfer-form").querySelector("input[name=mode][value=attended]");
  const keyable = kind !== "queue" || /^[0-9*#]+$/.test(value);
  attended.disabled = !keyable;
  attended.title = keyable ? "" : t("transfer.attended_not_keyable");
  if (!keyable && attended.checked) {
    $("#transfer-form").querySelector("input[name=mode][value=blind]").checked = true;
  }
}

async function openTransfer(kind) {
  const dlg = $("#transfer-dialog");
  result($("#transfer-result"), "", "");
  if (!S.call || S.call.status !== "talking") {
    toast("error", t("call.no_talking_call"));
    result($("#call-result"), "error", t("call.no_talking_call"));
    return;
  }
  options($("#transfer-kind"), TRANSFER_KINDS.map((k) => [k, label("transfer_kind", k)]), kind || "agent");
  if (!dlg.open) dlg.showModal();
  await loadTargets();
  fillTransferTargets();
  keyableMode();
  $("#transfer-kind").focus();
}

async function transfer(ev) {
  ev.preventDefault();
  const out = $("#transfer-result");
  if (!S.call) return result(out, "error", t("call.no_talking_call"));
  const kind = $("#transfer-kind").value;
  const pick = $("#transfer-pick");
  const value = kind === "number" ? $("#transfer-number").value.trim() : pick.value;
  const chosen = kind === "number" ? !!value : pick.selectedIndex >= 0 && pick.options.length > 0;
  if (!chosen) return result(out, "error", t("transfer.need_target"));
  const mode = $("#transfer-form").querySelector("input[name=mode]:checked")?.value || "blind";
  result(out, "busy", t("action.working"));
  try {
    await api("POST", `/calls/${encodeURIComponent(S.call.linkedid)}/transfer`, { mode, target: { kind, value } });
    const text = t("transfer.sent", { mode: label("transfer_mode", mode), target: kind === "number" ? value : pick.selectedOptions[0]?.textContent || value });
    result(out, "ok", text);
    result($("#call-result"), "ok", text);
    toast("ok", text);
    setTimeout(() => $("#transfer-dialog").close(), 600);
  } catch (err) {
    result(out, "error", describe(err));
  }
}

// ---------------------------------------------------------------- start

function wire() {
  options($("#pause-reason"), PAUSE_REASONS.map((r) => [r, label("pause_reason", r)]), $("#pause-reason").value || "break");
  $("#btn-queue-in").onclick = () => changeState("sign-in");
  $("#btn-ready").onclick = () => changeState("ready");
  $("#btn-pause").onclick = () => changeState("pause");
  $("#btn-queue-out").onclick = () => changeState("sign-out");
  $("#btn-hangup").onclick = () => hangup();
  $("#btn-transfer").onclick = () => openTransfer();
  $("#log-ask").onclick = () => askForLog();
  $("#log-form").addEventListener("submit", (ev) => { ev.preventDefault(); saveLog(); });
  $("#log-form").addEventListener("keydown", (ev) => {
    // on the disposition chips (where the focus is at hang-up): 1-6 pick one and go on
    // to the notes, Enter takes the one chosen (the IVR's) and goes on to the notes
    if (ev.target.name !== "disposition" || ev.altKey || ev.ctrlKey || ev.metaKey) return;
    if (/^[1-6]$/.test(ev.key)) {
      ev.preventDefault();
      pickDisposition(DISPOSITIONS[Number(ev.key) - 1]);
      focusNotes();
    } else if (ev.key === "Enter") {
      ev.preventDefault();
      if (!dispositionOf(S.form)) pickDisposition(ev.target.value);
      focusNotes();
    }
  });
  $("#open-ticket").onclick = () => toggle("ticket-form");
  $("#open-opportunity").onclick = () => toggle("opportunity-form");
  $("#open-callback").onclick = () => toggle("callback-form");
  $("#ticket-form").addEventListener("submit", createTicket);
  $("#opportunity-form").addEventListener("submit", createOpportunity);
  $("#callback-form").addEventListener("submit", createCallback);
  // a typed number: no customer sent, the number finds its own (or the quick-create)
  $("#dial-form").addEventListener("submit", (ev) => { ev.preventDefault(); dialNumber($("#dial-number").value); });
  $("#log-contact").addEventListener("change", () => { S.form.contact = $("#log-contact").value; });
  $("#transfer-form").addEventListener("submit", transfer);
  $("#transfer-kind").addEventListener("change", () => { fillTransferTargets(); keyableMode(); });
  $("#transfer-cancel").onclick = () => $("#transfer-dialog").close();
  installHotkeys({
    ready: () => changeState("ready"),
    pause: () => changeState("pause"),
    save: () => saveLog(),
    transfer: () => openTransfer(),
    hangup: () => hangup(),
    search: () => $("#search").focus(),
    next_call: () => nextCall.next(),
    dial_next: () => nextCall.dial(),
  });
  onLanguage(() => {
    // everything written from code follows the language too (the socket's "live"...)
    const ws = $("#ws-status");
    if (ws.dataset.state) ws.textContent = label("ws", ws.dataset.state);
    if (S.agent.interface) $("#agent-who").textContent = t("console.extension", { ext: extension(S.agent.interface) });
    options($("#pause-reason"), PAUSE_REASONS.map((r) => [r, label("pause_reason", r)]), $("#pause-reason").value);
    renderState();
    renderCall();
    renderRecord();
    renderLogForm();
    renderDrafts();
    if (S.form.record) prefillFormsLabels();
    else V.labels();
    loadMyScores($("#my-scores"));
  });
}

function prefillFormsLabels() {
  // the selects' texts follow the language; what the agent typed stays
  const rec = S.form.record || {};
  const assets = rec.assets || [];
  const asset = $("#ticket-asset").value;
  options($("#ticket-asset"), [["", t("ticket.no_asset")], ...assets.map((a) => [a.id, `${a.model || ""} · ${a.serial_number || ""}`])], asset);
  const prio = $("#ticket-priority").value || "normal";
  options($("#ticket-priority"), PRIORITIES.map((p) => [p, label("priority", p)]), prio);
  V.labels();
  $("#opportunity-owner").textContent = rec.owner ? t("opportunity.for_owner", { owner: ownerText(rec.owner) }) : t("opportunity.no_owner");
}

async function main() {
  try {
    S.session = await boot();
  } catch (err) {
    toast("error", describe(err));
    return;
  }
  wire();
  V.wire();
  loadMyScores($("#my-scores"));
  nextCall = initNextCall(S.session, { preview: previewRecord, dial: dialNumber, callWith });
  renderState();
  renderCall();
  renderLogForm();
  prefillForms();
  initSearch({ onUse: (id) => useCustomer(id) });
  let closedInRow = 0;
  connect({
    onFrame,
    onStatus: (status) => {
      const el = $("#ws-status");
      el.dataset.state = status;
      el.textContent = label("ws", status);
      if (status === "open") closedInRow = 0;
      // the socket keeps being refused: is the session over? (401 -> back to sign-in)
      if (status === "closed" && ++closedInRow % 3 === 0) api("GET", "/session").catch(() => {});
    },
  });
}

main();

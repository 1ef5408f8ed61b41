// What the console says about the agent and the calls, in words a person reads
// (issue 14 items 4 and 5). Pure: every function takes plain data and answers
// dictionary KEYS (and values for their placeholders), never text, so the pages (and
// the live page, with its own dictionary) translate them; nothing here reads the DOM.
//
// Rules:
// - the state bar shows ONE state: the PBX's pause reasons of Hotline itself never
//   show raw ("wrap-up" is the wrap-up, "hotline-callback" is a member held for a
//   callback), a reason the console does not know shows as a plain pause (the raw
//   text only as a hint), and the wrap-up countdown only while the state IS wrap-up;
// - an agent's personal queue (agent-<extension>) is her presence, not a queue she
//   takes callers from: never listed; known queues have names, others show as set up;
// - an outcome says what happened: an inbound call nobody answered before the queue's
//   time limit is a queue timeout (not "no answer, ended by system", which reads as an
//   agent's fault), an outbound one the customer did not answer; a caller who hung up
//   while the agent's phone rang abandoned the call.

export const OWN_PAUSE_REASONS = ["break", "lunch", "training", "meeting", "other"];
const WRAPUP_REASON = "wrap-up"; // agent_console.agent_state.WRAPUP_REASON
const CALLBACK_REASON = "hotline-callback"; // ivr.callbacks.RESERVE_REASON
const PERSONAL_QUEUE = /^agent-[A-Za-z0-9_]+$/; // telephony.personal_queues
export const KNOWN_QUEUES = ["support", "vip", "sales", "service"];

/**
 * The state bar's one state for an agent view ``{state, paused, reason, wrapup_until}``:
 * ``{pill, key, vars, countdown, hint}``: ``pill`` the state for styling, ``key`` the
 * dictionary key of the words (``vars.reason``: a key too, for "Paused: {reason}"),
 * ``countdown`` whether the wrap-up countdown goes with it, ``hint`` a raw reason the
 * console has no words for (a title, never the words).
 */
export function stateWords(view) {
  const v = view || {};
  const state = v.state || "unknown";
  const reason = String(v.reason || "").trim();
  const wrapping = typeof v.wrapup_until === "string" && !Number.isNaN(Date.parse(v.wrapup_until));
  if (state === "wrap-up") return { pill: "wrap-up", key: "state.wrap-up", vars: {}, countdown: wrapping, hint: "" };
  if (state !== "paused") return { pill: state, key: `state.${state}`, vars: {}, countdown: false, hint: "" };
  const r = reason.toLowerCase();
  // a wrap-up pause left over (no wrap-up of ours runs): still the wrap-up, ending
  if (r === WRAPUP_REASON) return { pill: "wrap-up", key: "state.wrap-up", vars: {}, countdown: false, hint: "" };
  if (r === CALLBACK_REASON) return { pill: "paused", key: "state.held_for_callback", vars: {}, countdown: false, hint: "" };
  if (OWN_PAUSE_REASONS.includes(r)) return { pill: "paused", key: "state.paused_for", vars: { reason: `pause_reason.${r}` }, countdown: false, hint: "" };
  return { pill: "paused", key: "state.paused", vars: {}, countdown: false, hint: reason };
}

/** Whether the state asked for (``action``) is what the PBX now reports. */
export function confirms(action, view) {
  const v = view || {};
  switch (action) {
    case "ready": return v.state === "ready";
    case "pause": return !!v.paused || v.state === "paused";
    case "sign-out": return v.state === "signed-out";
    case "sign-in": return !!v.state && v.state !== "signed-out" && v.state !== "unknown";
    default: return false;
  }
}

/** The state-bar button that is on for a state (null: none is). */
export function activeButton(view) {
  const w = stateWords(view);
  if (w.pill === "ready") return "ready";
  if (w.pill === "paused" && w.key !== "state.held_for_callback") return "pause";
  return null;
}

/** A queue as people name it: ``{key, raw}`` (key null: shown as set up), or null for a
 * personal queue, which is no queue callers wait in. */
export function queueWords(name) {
  const q = String(name || "");
  if (!q || PERSONAL_QUEUE.test(q)) return null;
  return { key: KNOWN_QUEUES.includes(q.toLowerCase()) ? `queue.${q.toLowerCase()}` : null, raw: q };
}

/** The dictionary key of a logged call's outcome ``{outcome, direction}``. */
export function outcomeKey(call) {
  const c = call || {};
  const outbound = c.direction === "outbound";
  switch (c.outcome) {
    case "no-answer": return outbound ? "outcome.customer-no-answer" : "outcome.queue-timeout";
    case "failed": return outbound ? "outcome.not-placed" : "outcome.failed";
    case "answered": case "abandoned": case "ivr-only": case "transferred": return `outcome.${c.outcome}`;
    default: return c.outcome ? `outcome.${c.outcome}` : "";
  }
}

/** The dictionary key of who ended a logged call (``hangup_by``), or "" when nobody says:
 * the system ending an unanswered inbound call is the queue's time limit. */
export function endedByKey(call) {
  const c = call || {};
  if (!c.hangup_by) return "";
  if (c.hangup_by === "system" && c.outcome === "no-answer" && c.direction !== "outbound") return "ended_by.queue";
  return `ended_by.${c.hangup_by}`;
}

/**
 * The call card's status once the call is over, from the ``ended`` frame (``outcome``,
 * ``agent_interface``) and what this console saw (``answered``: this agent talked on it;
 * ``me``: this agent's interface): ended | abandoned | queue-timeout | customer-no-answer
 * | taken-elsewhere | failed.
 */
export function endStatus(frame, { answered, me } = {}) {
  const f = frame || {};
  if (answered) return "ended";
  const outbound = f.direction === "outbound";
  switch (f.outcome) {
    case "abandoned": return "abandoned";
    case "no-answer": return outbound ? "customer-no-answer" : "queue-timeout";
    case "failed": return "failed";
    case "answered": case "transferred":
      return f.agent_interface && me && f.agent_interface !== me ? "taken-elsewhere" : "ended";
    default: return "ended";
  }
}

/** The call-card statuses of a call that is over (``missed`` is not: the queue may ring
 * the agent again). */
export const OVER = ["ended", "abandoned", "queue-timeout", "customer-no-answer", "taken-elsewhere", "failed"];

export function callOver(status) {
  return OVER.includes(status);
}

/** Whether a call's log form is offered without being asked: while it rings or talks,
 * and for a call that was answered; a call that ended unanswered needs nothing logged
 * (the agent may still ask for the form). No call (logged by hand): yes. */
export function logOffered(call) {
  if (!call) return true;
  if (call.logAsked || call.answered_at) return true;
  return call.status === "ringing" || call.status === "talking";
}

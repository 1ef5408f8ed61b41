// The 360 page's one timeline (issue 14 item 8): a customer's calls and interactions
// newest first, each call with the logs written about it (the interactions whose
// ``call_linkedid`` is that call's) under it, so a call and what the agent noted about
// it read as one event. Pure: plain data in, plain data out.
//
// Rules:
// - both lists come in pages, newest first; while one of them has older items not
//   loaded yet, nothing older than its oldest loaded item is shown (it is ``held``):
//   the timeline never shows a gap as if nothing had happened there;
// - an interaction about a call not loaded (yet) stands on its own, marked as a call;
// - a call's logs read in the order they were written; an entry without a time goes last.

function time(iso) {
  const t = Date.parse(iso || "");
  return Number.isNaN(t) ? -Infinity : t;
}

function callTime(c) {
  return c.ended_at || c.started_at || null;
}

/**
 * ``{entries, held}`` for loaded ``calls`` and ``interactions``; ``more``:
 * ``{calls, interactions}`` whether either list has older items still to load.
 * An entry is ``{kind: "call", at, call, logs}`` or ``{kind: "interaction", at, item}``.
 */
export function buildTimeline(calls, interactions, more = {}) {
  const byCall = new Map();
  for (const c of calls || []) {
    if (c && c.linkedid && !byCall.has(c.linkedid)) byCall.set(c.linkedid, { kind: "call", at: callTime(c), call: c, logs: [] });
  }
  const entries = [...byCall.values()];
  for (const it of interactions || []) {
    const host = it && it.call_linkedid ? byCall.get(it.call_linkedid) : null;
    if (host) host.logs.push(it);
    else if (it) entries.push({ kind: "interaction", at: it.occurred_at || null, item: it });
  }
  for (const e of byCall.values()) e.logs.sort((a, b) => time(a.occurred_at) - time(b.occurred_at) || a.id - b.id);
  let cutoff = -Infinity;
  const last = (list, at) => (list && list.length ? time(at(list[list.length - 1])) : -Infinity);
  if (more.calls) cutoff = Math.max(cutoff, last(calls, callTime));
  if (more.interactions) cutoff = Math.max(cutoff, last(interactions, (it) => it.occurred_at));
  const shown = entries.filter((e) => time(e.at) >= cutoff);
  // newest first; at the same moment a call comes before a note about something else
  shown.sort((a, b) => time(b.at) - time(a.at) || (a.kind === b.kind ? 0 : a.kind === "call" ? -1 : 1));
  return { entries: shown, held: entries.length - shown.length };
}

// Note templates of the call log, one per disposition and language (i18n key
// note_template.<disposition>): a few "Label: " lines the agent fills in. A template is
// put in the notes only while they are empty (or still hold an untouched template), so
// nothing the agent typed is ever replaced; the lines left as they were are dropped when
// the log is saved, so an unused template never ends up in the record.
// Pure functions: no DOM, no state.

/** The lines of a template, trimmed, without empty ones. */
function labels(template) {
  return String(template || "").split("\n").map((line) => line.trim()).filter(Boolean);
}

/** Whether ``notes`` are empty or exactly the template put there (nothing typed). */
export function untouched(notes, template) {
  const text = String(notes || "");
  return text.trim() === "" || (!!template && text === template);
}

/** The notes to save: the template's lines the agent left as they were dropped, the
 * rest kept as typed (trimmed at both ends). */
export function cleanNotes(notes, template) {
  const unused = new Set(labels(template));
  if (!unused.size) return String(notes || "").trim();
  return String(notes || "").split("\n").filter((line) => !unused.has(line.trim())).join("\n").trim();
}

/** Where the caret goes in a fresh template: the end of its first line (after "Label: "). */
export function firstBlank(template) {
  const text = String(template || "");
  const end = text.indexOf("\n");
  return end < 0 ? text.length : end;
}

// Keyboard: F2 ready, F3 pause, F4 or Ctrl+S save the call log, F6 transfer,
// F7 next call of a call list, F8 hang up, F9 dial the call list's entry, "/" search. Function keys work everywhere (also while typing in
// the notes); "/" only when the focus is not in a text field.

/** The action a key press asks for, or null. Pure: takes {key, ctrlKey, metaKey, altKey, target}. */
export function actionFor(ev) {
  if (ev.altKey) return null;
  const key = ev.key;
  if ((ev.ctrlKey || ev.metaKey) && (key === "s" || key === "S")) return "save";
  if (ev.ctrlKey || ev.metaKey) return null;
  switch (key) {
    case "F2": return "ready";
    case "F3": return "pause";
    case "F4": return "save";
    case "F6": return "transfer";
    case "F7": return "next_call";
    case "F8": return "hangup";
    case "F9": return "dial_next";
    case "/": return typing(ev.target) ? null : "search";
    default: return null;
  }
}

/** Whether ``target`` is a field the agent types in (text, a list, an editable area). */
export function typing(target) {
  if (!target || !target.tagName) return false;
  const tag = target.tagName.toLowerCase();
  if (tag === "textarea" || tag === "select" || target.isContentEditable) return true;
  if (tag !== "input") return false;
  return !["button", "checkbox", "radio", "submit", "reset"].includes((target.type || "").toLowerCase());
}

/** Listen for the hot keys; ``handlers`` maps action -> function (missing: key left to the browser). */
export function install(handlers) {
  document.addEventListener("keydown", (ev) => {
    const action = actionFor(ev);
    if (!action || !handlers[action]) return;
    ev.preventDefault();
    ev.stopPropagation();
    handlers[action](ev);
  }, true);
}

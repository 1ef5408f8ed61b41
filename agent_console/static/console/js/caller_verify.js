// Complaint caller verification in the console's ticket form (issue 17 item 5): a
// complaint is opened only once the agent states how the caller was verified - the
// number on record (the server checks the call's own number), the last four characters
// of one of the customer's serial numbers (the server checks; the answer is never shown
// back), or "not verified" with a reason (the ticket is then flagged).
import { $, options } from "./dom.js";
import { t } from "./i18n.js";

export const KINDS = ["repair", "complaint"];
export const METHODS = ["number", "question", "not_verified"];

/** The kind and method selects in the current language, keeping what was chosen. */
export function labels() {
  options($("#ticket-kind"), KINDS.map((k) => [k, t(`ticket.kind.${k}`)]), $("#ticket-kind").value || "repair");
  options($("#verify-method"), METHODS.map((m) => [m, t(`verify.method.${m}`)]), $("#verify-method").value || "number");
}

/** Show the fields the chosen kind and method need. */
export function show() {
  const complaint = $("#ticket-kind").value === "complaint";
  $("#ticket-verify").hidden = !complaint;
  const method = $("#verify-method").value;
  $("#verify-number-label").hidden = method !== "number";
  $("#verify-answer-label").hidden = method !== "question";
  $("#verify-reason-label").hidden = method !== "not_verified";
}

/** A new form: a repair, the caller's number as the phone gave it. */
export function reset(callerNumber) {
  $("#ticket-kind").value = "repair";
  $("#verify-method").value = "number";
  $("#verify-number").value = callerNumber || "";
  $("#verify-answer").value = "";
  $("#verify-reason").value = "";
  show();
}

/** The ticket's category and verification, or {error: field} for what is missing. */
export function body() {
  if ($("#ticket-kind").value !== "complaint") return { category: "repair" };
  const method = $("#verify-method").value;
  const verification = { method };
  if (method === "number") {
    const number = $("#verify-number").value.trim();
    if (number) verification.number = number;
  } else if (method === "question") {
    verification.answer = $("#verify-answer").value.trim();
    if (!verification.answer) return { error: "#verify-answer", field: t("verify.answer") };
  } else {
    verification.reason = $("#verify-reason").value.trim();
    if (!verification.reason) return { error: "#verify-reason", field: t("verify.reason") };
  }
  return { category: "complaint", verification };
}

/** The message for a refused check (422 caller_not_verified), else null. */
export function refusal(err) {
  if (!(err && err.status === 422 && err.body && err.body.error === "caller_not_verified")) return null;
  $("#verify-answer").value = ""; // asked again, not kept on screen
  return err.body.method === "question" ? t("verify.failed_question")
    : err.body.method === "number" ? t("verify.failed_number") : t("verify.needed");
}

export function wire() {
  $("#ticket-kind").addEventListener("change", show);
  $("#verify-method").addEventListener("change", show);
}

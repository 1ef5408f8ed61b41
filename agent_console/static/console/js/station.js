// The station's page (issue 15): the open tickets of the signed-in service station (or
// technician), most urgent first, each with what a technician needs on the road and the
// buttons of the moves open to it; the repair record is written here to resolve. Made
// for a phone's screen. Customer and contact names come from callers and the CRM: text
// only (dom.js). The API decides every move (409 move_not_allowed when a ticket moved
// meanwhile) and audits it.
import { api, describe } from "./api.js";
import { loadStation as loadScores } from "./scores.js";
import { $, fill, h, options } from "./dom.js";
import { t, label, language, formatTime, onLanguage } from "./i18n.js";
import { result, toast } from "./notify.js";
import { boot } from "./session.js";

// forms: ticket id -> "refuse" | "resolve"; history: ids of the tickets whose history is open
// (kept across re-renders: a reload after a move must not fold what the user unfolded)
const S = { data: null, session: null, forms: new Map(), history: new Set() };

/** The buttons of a ticket, from the moves the server says are open to it. */
export function actionsFor(ticket) {
  const moves = new Set(ticket.next_moves || []);
  const out = [];
  if (ticket.status === "waiting") out.push("resume");
  else {
    if (moves.has("accepted")) out.push("accept");
    if (moves.has("on_the_way")) out.push("on_the_way");
    if (moves.has("on_site")) out.push("on_site");
    if (moves.has("waiting")) out.push("wait");
  }
  if (moves.has("resolved")) out.push("resolve");
  if (ticket.status === "routed" || ticket.status === "accepted") out.push("refuse");
  return out;
}

function stationName(station) {
  if (!station) return "";
  return language() === "en" && station.name_en ? station.name_en : station.name;
}

function telHref(phone) {
  const digits = String(phone || "").replace(/[^0-9+]/g, "");
  return digits ? `tel:${digits}` : null;
}

function fact(key, value, extra) {
  if (value === null || value === undefined || value === "") return [];
  return [h("dt", {}, t(key)), h("dd", extra || {}, value)];
}

function dueFact(key, iso) {
  if (!iso) return [];
  const late = new Date(iso) < new Date();
  return fact(key, formatTime(iso), late ? { class: "overdue" } : {});
}

function facts(tk) {
  const phone = tk.phone ? h("a", { href: telHref(tk.phone), class: "st-phone" }, tk.phone) : null;
  const place = [tk.province, tk.city, tk.address].filter(Boolean).join(" ");
  const accepted = !["new", "routed"].includes(tk.status);
  return h("dl", { class: "st-facts" },
    fact("station.customer", tk.customer_name, { class: "st-customer" }),
    fact("station.contact", tk.contact_name, { class: "st-contact" }),
    fact("station.phone", phone),
    fact("station.asset", tk.asset_model),
    fact("station.serial", tk.serial_number, { class: "mono st-serial" }),
    fact("station.address", place, { class: "st-address" }),
    fact("station.site", tk.site),
    fact("station.problem", tk.problem, { class: "st-problem" }),
    accepted ? [] : dueFact("station.accept_due", tk.accept_due),
    dueFact("station.resolve_due", tk.resolve_due),
    fact("station.technician", tk.technician_name));
}

async function move(tk, path, body, okText, out) {
  result(out, "busy", "…");
  try {
    const done = await api("POST", `/tickets/${tk.id}/${path}`, body || {});
    S.forms.delete(tk.id);
    await load();
    toast("ok", okText(done));
  } catch (err) {
    result(out, "error", describe(err));
    toast("error", `${tk.number}: ${describe(err)}`);
  }
}

const moved = (done) => t("station.done", { number: done.number, status: label("ticket_status", done.status) });

function refuseForm(tk, out) {
  const reason = h("textarea", { id: `refuse-reason-${tk.id}`, rows: 2, maxlength: 1000, required: true });
  return h("form", { class: "st-form st-refuse", onsubmit: (e) => {
    e.preventDefault();
    move(tk, "refuse", { reason: reason.value }, () => t("station.refused", { number: tk.number }), out);
  } },
  h("label", {}, t("station.reason"), reason),
  h("div", { class: "st-buttons" },
    h("button", { type: "submit", class: "danger" }, t("station.refuse_send")),
    h("button", { type: "button", onclick: () => { S.forms.delete(tk.id); render(); } }, t("station.cancel"))));
}

function partRow(list) {
  const row = h("div", { class: "st-part" },
    h("input", { class: "part-name", maxlength: 200, "aria-label": t("repair.part"), placeholder: t("repair.part") }),
    h("input", { class: "part-qty", type: "number", min: 1, max: 9999, step: 1, value: "1", inputmode: "numeric", "aria-label": t("repair.qty") }),
    h("button", { type: "button", class: "link", onclick: () => row.remove() }, t("repair.remove_part")));
  list.append(row);
}

function resolveForm(tk, out) {
  const field = (name, tag = "textarea") => h(tag, { id: `repair-${name}-${tk.id}`, name, rows: 2, maxlength: 4000 });
  const fault = field("fault");
  const cause = field("cause");
  const action = field("action");
  const hours = h("input", { id: `repair-labour_hours-${tk.id}`, inputmode: "decimal", type: "number", min: 0, max: 999.99, step: 0.01 });
  const serial = h("input", { id: `repair-serial_checked-${tk.id}`, type: "checkbox" });
  const first = h("input", { id: `repair-first_time_fix-${tk.id}`, type: "checkbox", checked: !tk.reopen_count, disabled: tk.reopen_count > 0 });
  const parts = h("div", { class: "st-parts" });
  const submit = (e) => {
    e.preventDefault();
    const used = [...parts.querySelectorAll(".st-part")].map((row) => ({
      part: row.querySelector(".part-name").value.trim(), qty: Number(row.querySelector(".part-qty").value) })).filter((p) => p.part);
    const record = { fault: fault.value, cause: cause.value || null, action: action.value, parts: used,
      serial_checked: serial.checked, first_time_fix: first.checked };
    if (hours.value !== "") record.labour_hours = Number(hours.value);
    move(tk, "resolve", { repair_record: record }, moved, out);
  };
  return h("form", { class: "st-form st-resolve", onsubmit: submit },
    h("h3", {}, t("repair.heading")),
    h("label", {}, t("repair.fault"), fault),
    h("label", {}, t("repair.cause"), cause),
    h("label", {}, t("repair.action"), action),
    h("div", {}, h("span", {}, t("repair.parts")), parts,
      h("button", { type: "button", class: "link add-part", onclick: () => partRow(parts) }, t("repair.add_part"))),
    h("label", {}, t("repair.labour_hours"), hours),
    h("label", { class: "check" }, serial, t("repair.serial_checked")),
    h("label", { class: "check" }, first, t("repair.first_time_fix")),
    h("div", { class: "st-buttons" },
      h("button", { type: "submit", class: "primary" }, t("repair.submit")),
      h("button", { type: "button", onclick: () => { S.forms.delete(tk.id); render(); } }, t("station.cancel"))));
}

function assignBox(tk, out) {
  const techs = (S.data.technicians || {})[String(tk.station_id)] || [];
  if (S.data.technician_id !== null || !techs.length || !S.session.can("tickets", "update")) return null;
  const select = options(h("select", { "aria-label": t("station.technician"), class: "st-tech" }),
    [["", t("station.nobody")], ...techs.map((x) => [x.id, x.name])], tk.technician_id);
  return h("div", { class: "st-assign" }, select,
    h("button", { type: "button", onclick: () => {
      const id = select.value ? Number(select.value) : null;
      const name = id ? techs.find((x) => x.id === id).name : t("station.nobody");
      move(tk, "assign", { technician_id: id }, () => t("station.assigned", { number: tk.number, name }), out);
    } }, t("station.assign")));
}

function noteBox(tk, out) {
  const input = h("input", { maxlength: 4000, "aria-label": t("station.note"), placeholder: t("station.note") });
  return h("form", { class: "st-note", onsubmit: (e) => {
    e.preventDefault();
    if (!input.value.trim()) return;
    move(tk, "notes", { note: input.value }, () => t("station.noted", { number: tk.number }), out);
  } }, input, h("button", { type: "submit" }, t("station.add_note")));
}

function historyLine(step) {
  const when = formatTime(step.at);
  const what = step.kind === "status"
    ? t("history.status", { from: label("ticket_status", step.from_status), to: label("ticket_status", step.to_status) })
    : step.kind === "verification" && step.data
      ? t("history.verification", { method: t(`verify.method.${step.data.method}`),
        result: t(step.data.passed ? "verify.passed" : "verify.not_passed") })
      : label("history.kind", step.kind);
  return h("li", {}, `${when} · ${what}`, step.note ? ` — ${step.note}` : "");
}

function historyBox(tk) {
  const list = h("ol", {});
  const box = h("details", { class: "st-history" }, h("summary", {}, t("station.history")), list);
  const show = async () => {
    try {
      const one = await api("GET", `/station/tickets/${tk.id}`);
      fill(list, (one.history || []).map(historyLine));
    } catch (err) {
      fill(list, h("li", { class: "result", dataset: { kind: "error" } }, describe(err)));
    }
  };
  box.addEventListener("toggle", () => {
    if (!box.open) {
      S.history.delete(tk.id);
      return;
    }
    S.history.add(tk.id);
    if (!list.childElementCount && !box.dataset.loading) {
      box.dataset.loading = "1";
      show();
    }
  });
  if (S.history.has(tk.id)) {
    box.dataset.loading = "1";
    box.open = true;
    show();
  }
  return box;
}

function card(tk) {
  const out = h("p", { class: "result", hidden: true });
  const buttons = actionsFor(tk).map((action) => h("button", {
    type: "button", class: action === "accept" || action === "resolve" ? "primary" : null,
    dataset: { action },
    onclick: () => {
      if (action === "refuse" || action === "resolve") {
        S.forms.set(tk.id, action);
        render();
        $(`#st-${tk.id} .st-form textarea`)?.focus();
      } else {
        move(tk, action.replace(/_/g, "-"), {}, moved, out);
      }
    },
  }, t(`station.act.${action}`)));
  const form = S.forms.get(tk.id);
  const overdue = tk.due && new Date(tk.due) < new Date();
  return h("li", { class: "st-card", id: `st-${tk.id}`, dataset: { id: tk.id, number: tk.number, status: tk.status, overdue: overdue ? "1" : "0" } },
    h("div", { class: "st-card-head" },
      h("span", { class: "st-number" }, tk.number),
      h("span", { class: `tag status-${tk.status}` }, label("ticket_status", tk.status)),
      h("span", { class: "tag" }, label("priority", tk.priority))),
    facts(tk),
    h("div", { class: "st-actions" }, buttons),
    form === "refuse" ? refuseForm(tk, out) : null,
    form === "resolve" ? resolveForm(tk, out) : null,
    assignBox(tk, out),
    noteBox(tk, out),
    out,
    historyBox(tk));
}

function render() {
  const data = S.data;
  if (!data) return;
  const who = [
    data.technician_id !== null ? t("station.mine") : "",
    data.station ? t("station.of", { name: stationName(data.station), code: data.station.code }) : "",
    t("station.count", { count: data.items.length }),
  ];
  fill($("#st-who"), who.filter(Boolean).join(" · "));
  $("#st-empty").hidden = data.items.length > 0;
  fill($("#st-list"), data.items.map(card));
  for (const [id, form] of S.forms) {
    if (form === "resolve" && !$(`#st-${id} .st-parts .st-part`)) $(`#st-${id} .add-part`)?.click();
  }
}

async function load() {
  S.data = await api("GET", "/station/tickets");
  render();
  await loadScores($("#st-scores"));
  document.body.dataset.loaded = "1";
}

async function main() {
  const out = $("#st-result");
  try {
    S.session = await boot();
    await load();
  } catch (err) {
    result(out, "error", describe(err));
    return;
  }
  onLanguage(() => {
    render();
    loadScores($("#st-scores"));
  });
  $("#st-refresh").addEventListener("click", () => load().catch((err) => result(out, "error", describe(err))));
}

main();

// The unknown caller's quick-create (issue 14 item 7), for a business hotline: a company
// by default, the focus on its name, the person on the phone, the region (guessed from
// the number) and a note; it says who the account manager will be and by which rule
// (the server applies it: crm_core.account_managers).
// The caller-ID name comes from the carrier and may be anyone's, or an attack: it is
// shown beside the name as a hint, as text, and never put in the field.
import { h, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, language } from "./i18n.js";
import { result, toast } from "./notify.js";

let regions = null; // GET /regions: {creator_keeps, items: [{region, name_en, manager}]}
let asked = null;

/** Who a customer created now goes to, per region (fetched once, again after a create). */
function loadRegions(fresh = false) {
  if (fresh || !asked) {
    asked = api("GET", "/regions").then((data) => { regions = data; return data; }, () => regions);
  }
  return asked;
}

function regionName(item) {
  return language() === "en" ? item.name_en : item.region;
}

function regionOptions(select, chosen) {
  const items = (regions && regions.items) || [];
  const pairs = [["", t("qc.region_unknown")], ...items.map((r) => [r.region, regionName(r)])];
  // the guess is kept even before the list has arrived (or if it never does)
  if (chosen && !items.some((r) => r.region === chosen)) pairs.push([chosen, chosen]);
  options(select, pairs, chosen || "");
}

/** Who gets the customer with this region, by the stated rule. */
function ownerText(region) {
  if (!regions) return "";
  if (regions.creator_keeps) return t("qc.owner_you");
  const item = regions.items.find((r) => r.region === region);
  if (item && item.manager) return t("qc.owner_region", { owner: item.manager.display_name || "" });
  return region ? t("qc.owner_pool_region") : t("qc.owner_pool");
}

/** The form for ``rec`` (an unknown caller's record, its ``quick_create`` prefill) of
 * call ``forCall``; ``onCreated(id)`` takes the new customer, ``onUse(id)`` an existing
 * one the duplicate guard named. What the agent typed is kept in ``rec.qcDraft`` so
 * the form survives being drawn again (a language switch, the call's next step). */
export function quickCreateForm(rec, forCall, { onCreated, onUse }) {
  const prefill = rec.quick_create || { phone: rec.phone };
  const draft = rec.qcDraft || (rec.qcDraft = {
    kind: prefill.kind === "person" ? "person" : "company", name: "", contact: "",
    phone: prefill.phone || rec.phone || "", region: prefill.province || "", note: "",
  });
  const keep = (field) => (ev) => { draft[field] = ev.target.value; };
  const kind = options(h("select", { id: "qc-kind", onchange: (ev) => { draft.kind = ev.target.value; showKind(); } }),
    [["company", t("customer_kind.company")], ["person", t("customer_kind.person")]], draft.kind);
  const name = h("input", { id: "qc-name", type: "text", maxlength: "200", value: draft.name, autocomplete: "off", oninput: keep("name") });
  const nameLabel = h("span", {});
  // an outbound call's name is not the caller's (the agent dialled): no hint then
  const callerId = forCall && forCall.caller_name && forCall.direction !== "outbound" ? String(forCall.caller_name) : "";
  const hint = callerId ? h("span", { id: "qc-caller-id", class: "muted hint-line" }, t("qc.caller_id", { name: callerId })) : null;
  const contact = h("input", { id: "qc-contact", type: "text", maxlength: "100", value: draft.contact, autocomplete: "off", oninput: keep("contact") });
  const contactRow = h("label", { id: "qc-contact-row" }, h("span", {}, t("qc.contact")), contact);
  const phone = h("input", { id: "qc-phone", type: "tel", maxlength: "40", value: draft.phone, oninput: keep("phone") });
  const region = h("select", { id: "qc-region", onchange: (ev) => { draft.region = ev.target.value; showOwner(); } });
  const owner = h("p", { id: "qc-owner", class: "qc-owner" });
  const note = h("textarea", { id: "qc-note", rows: "2", maxlength: "4000", oninput: keep("note") });
  note.value = draft.note;
  const out = h("span", { class: "result", id: "qc-result", hidden: true });

  function showKind() {
    const company = kind.value === "company";
    nameLabel.textContent = company ? t("qc.company_name") : t("qc.person_name");
    contactRow.hidden = !company;
  }
  function showOwner() {
    owner.textContent = ownerText(region.value);
  }
  showKind();
  regionOptions(region, draft.region);
  showOwner();
  loadRegions().then(() => {
    regionOptions(region, draft.region);
    showOwner();
  });

  async function submit(ev) {
    ev.preventDefault();
    const body = { name: name.value.trim(), kind: kind.value, numbers: phone.value.trim() ? [phone.value.trim()] : [] };
    if (!body.name) {
      result(out, "error", t("error.required", { field: nameLabel.textContent }));
      name.focus();
      return;
    }
    if (kind.value === "company" && contact.value.trim()) body.contact_name = contact.value.trim();
    if (region.value) body.province = region.value;
    if (note.value.trim()) body.note = note.value.trim();
    result(out, "busy", t("action.working"));
    try {
      const created = await api("POST", "/customers", body);
      result(out, "ok", t("pop.created", { name: created.name }));
      toast("ok", t("pop.created", { name: created.name }));
      loadRegions(true); // the region's loads changed
      await onCreated(created.id);
    } catch (err) {
      if (err.status === 409 && err.body && err.body.existing) {
        const ex = err.body.existing;
        result(out, "error", t("pop.duplicate", { name: ex.name, owner: ex.owner_name || t("customer.no_owner") }));
        out.after(h("button", { type: "button", class: "small", id: "qc-use-existing", onclick: () => onUse(ex.id) }, t("pop.use_existing")));
      } else {
        result(out, "error", describe(err));
      }
    }
  }

  return h("form", { id: "quick-create", class: "form card", novalidate: true, onsubmit: submit },
    h("h3", {}, t("pop.quick_create")),
    h("label", {}, h("span", {}, t("customer.kind")), kind),
    h("label", {}, nameLabel, name), hint,
    h("div", { class: "form-grid" }, contactRow,
      h("label", {}, h("span", {}, t("customer.phone")), phone),
      h("label", {}, h("span", {}, t("qc.region")), region)),
    owner,
    h("p", { id: "qc-rule", class: "muted qc-rule" }, t("qc.rule")),
    h("label", {}, h("span", {}, t("qc.note")), note),
    h("div", { class: "form-actions" }, h("button", { type: "submit", class: "primary" }, t("action.create_customer")), out));
}

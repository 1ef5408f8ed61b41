// Mail to customer groups (issue 18 item 4): the mailings with their progress (sent,
// queued, failed, bounced, unsubscribed, skipped), one mailing's recipients with each
// one's status, and for whoever may send (mailings:create) the compose form: a customer
// filter, the channel, subject and body, and how many it reaches before sending.
// Every value is put in as text (dom.h): customer names and message texts may be hostile.
import { h, $, fill, options } from "./dom.js";
import { api, describe } from "./api.js";
import { t, label, onLanguage } from "./i18n.js";
import { result, toast } from "./notify.js";
import { start, table, when, customerLink, loadList } from "./office.js";

const FILTER_TEXT = ["province", "city", "category", "industry", "product_line"];
const STATUSES = ["queued", "sent", "failed", "bounced", "unsubscribed", "skipped"];
const PAGE = 50;
const POLL_MS = 4000; // while a mailing is still going out, its progress follows by itself
const S = { session: null, items: [], open: null, draft: { channel: "email" } };

const maySend = () => S.session.can("mailings", "create");

/** The share of a mailing's recipients already settled (anything but queued). Pure. */
export function settled(m) {
  const c = m.counts || {};
  const total = m.total || 0;
  const done = total - (c.queued || 0);
  return { done, total, pct: total ? Math.round((100 * done) / total) : 0 };
}

function countTags(counts) {
  return STATUSES.filter((s) => (counts || {})[s]).map((s) =>
    h("span", { class: "tag", dataset: { status: s } }, `${label("ml.status", s)} ${counts[s]}`));
}

function mailingRow(m) {
  const p = settled(m);
  return h("tr", { dataset: { mailingId: m.id } },
    h("td", { class: "wrap" }, h("strong", { class: "ml-name" }, m.name),
      m.subject ? h("div", { class: "muted ml-subject" }, m.subject) : null),
    h("td", {}, label("ml.channel", m.channel)),
    h("td", { class: "ml-progress" },
      h("progress", { max: "100", value: String(p.pct), "aria-label": t("ml.progress") }), " ",
      h("span", { class: "ml-done" }, t("ml.done_of", { done: p.done, total: p.total })),
      m.state === "queueing" ? h("span", { class: "muted" }, ` · ${t("ml.queueing")}`) : null),
    h("td", { class: "wrap ml-counts" }, countTags(m.counts)),
    h("td", {}, m.created_by || "—"),
    h("td", {}, when(m.created_at)),
    h("td", { class: "actions" }, h("button", { type: "button", class: "small", dataset: { role: "recipients" },
      onclick: () => openMailing(m.id) }, t("ml.recipients"))));
}

function renderList() {
  fill($("#ml-list-box"), S.items.length
    ? table("ml-list", ["ml.col.name", "ml.col.channel", "ml.col.progress", "ml.col.counts", "ml.col.by", "ml.col.when", ""],
      S.items.map(mailingRow))
    : h("p", { class: "muted", id: "ml-none" }, t("ml.none")));
}

async function loadMailings() {
  await loadList(S, () => api("GET", "/mailings", undefined, { query: { limit: 100 } }), () => {
    renderList();
    if (S.open) {
      const fresh = S.items.find((m) => m.id === S.open.mailing.id);
      if (fresh) S.open.mailing = fresh;
      renderDetail();
    }
  });
}

// ---------------------------------------------------------------- one mailing

async function openMailing(id, status = S.open && S.open.mailing.id === id ? S.open.status : "", offset = 0) {
  const mailing = S.items.find((m) => m.id === id);
  if (!mailing) return;
  const out = $("#ml-detail-result");
  try {
    const page = await api("GET", `/mailings/${Number(id)}/recipients`, undefined,
      { query: { status: status || undefined, limit: PAGE, offset } });
    const before = offset && S.open ? S.open.items : [];
    S.open = { mailing, status, items: before.concat(page.items), total: page.total };
    renderDetail();
    result(out, "", "");
  } catch (err) {
    result(out, "error", describe(err));
  }
}

function recipientRow(r) {
  return h("tr", { dataset: { recipientId: r.id, status: r.status } },
    h("td", { class: "wrap" }, customerLink(r.customer_id, r.customer_name)),
    h("td", { class: "wrap" }, r.contact_name || "—"),
    h("td", { class: "mono" }, r.address || "—"),
    h("td", {}, h("span", { class: "tag", dataset: { status: r.status } }, label("ml.status", r.status))),
    h("td", { class: "wrap muted" }, r.reason ? label("ml.reason", r.reason) : ""),
    h("td", {}, when(r.sent_at || r.updated_at)));
}

function renderDetail() {
  const box = $("#ml-detail");
  const o = S.open;
  box.hidden = !o;
  if (!o) return;
  const m = o.mailing;
  const pick = options(h("select", { id: "ml-status", "aria-label": t("ml.col.status"),
    onchange: (ev) => openMailing(m.id, ev.target.value) }),
  [["", t("ml.all_statuses")], ...STATUSES.map((s) => [s, label("ml.status", s)])], o.status);
  const more = o.items.length < o.total
    ? h("button", { type: "button", id: "ml-more", onclick: () => openMailing(m.id, o.status, o.items.length) }, t("ml.more")) : null;
  fill($("#ml-detail-body"),
    h("h2", { id: "ml-detail-name" }, m.name),
    h("p", { class: "muted" }, `${label("ml.channel", m.channel)} · ${when(m.created_at)}`),
    m.subject ? h("p", { class: "ml-subject" }, m.subject) : null,
    h("pre", { class: "ml-body wrap" }, m.body),
    h("div", { class: "ml-counts" }, countTags(m.counts)),
    h("div", { class: "bo-filters" }, pick, h("span", { class: "muted" }, t("ml.shown", { n: o.items.length, total: o.total }))),
    table("ml-recipients", ["ml.col.customer", "ml.col.contact", "ml.col.address", "ml.col.status", "ml.col.reason", "ml.col.when"],
      o.items.map(recipientRow)),
    more);
}

// ---------------------------------------------------------------- compose

function readFilter() {
  const filter = {};
  for (const f of FILTER_TEXT) {
    const v = $(`#ml-filter-${f}`).value.trim();
    if (v) filter[f] = v;
  }
  const vip = $("#ml-filter-vip").value;
  if (vip !== "") filter.vip_tier_min = Number(vip);
  const sub = $("#ml-filter-subscription").value;
  if (sub) filter.subscription = sub;
  return filter;
}

function composeForm() {
  const out = h("span", { class: "result", id: "ml-new-result", hidden: true });
  const seen = h("p", { class: "ml-preview", id: "ml-preview", hidden: true });
  const channel = options(h("select", { id: "ml-channel" }),
    [["email", label("ml.channel", "email")], ["sms", label("ml.channel", "sms")]], S.draft.channel);
  const name = h("input", { id: "ml-name", type: "text", maxlength: "80", required: true });
  const subject = h("input", { id: "ml-subject", type: "text", maxlength: "200" });
  const subjectLabel = h("label", { id: "ml-subject-label" }, h("span", {}, t("ml.subject")), subject);
  const body = h("textarea", { id: "ml-body", rows: "6", maxlength: "20000" });
  const hint = h("p", { class: "muted", id: "ml-footer-hint" });
  const onChannel = () => {
    S.draft.channel = channel.value;
    subjectLabel.hidden = channel.value !== "email";
    fill(hint, t(channel.value === "email" ? "ml.footer_email" : "ml.footer_sms"));
    seen.hidden = true;
  };
  channel.onchange = onChannel;
  const filters = FILTER_TEXT.map((f) => h("label", {}, h("span", {}, t(`ml.filter.${f}`)),
    h("input", { id: `ml-filter-${f}`, type: "text", maxlength: "80" })));
  const vip = h("input", { id: "ml-filter-vip", type: "number", min: "0", max: "99" });
  const sub = options(h("select", { id: "ml-filter-subscription" }),
    [["", t("ml.sub.any")], ["active", t("ml.sub.active")], ["none", t("ml.sub.none")]], "");
  const preview = async () => {
    result(out, "busy", t("action.working"));
    try {
      const p = await api("POST", "/mailings/preview", { channel: channel.value, filter: readFilter() });
      fill(seen, t("ml.preview_is", p));
      seen.dataset.reachable = String(p.reachable);
      seen.hidden = false;
      result(out, "", "");
      return p;
    } catch (err) {
      result(out, "error", describe(err));
      return null;
    }
  };
  const form = h("form", { class: "form card", id: "ml-new", novalidate: true, onsubmit: async (ev) => {
    ev.preventDefault();
    for (const [field, el] of [["ml.name", name], ["ml.body", body]]) {
      if (!el.value.trim()) {
        el.focus();
        return result(out, "error", t("error.required", { field: t(field) }));
      }
    }
    if (channel.value === "email" && !subject.value.trim()) {
      subject.focus();
      return result(out, "error", t("error.required", { field: t("ml.subject") }));
    }
    result(out, "busy", t("action.working"));
    try {
      const made = await api("POST", "/mailings", { name: name.value.trim(), channel: channel.value,
        filter: readFilter(), subject: channel.value === "email" ? subject.value.trim() : null, body: body.value });
      toast("ok", t("ml.sent", { name: made.name, n: made.total }));
      result(out, "ok", t("ml.sent", { name: made.name, n: made.total }));
      name.value = "";
      body.value = "";
      subject.value = "";
      seen.hidden = true;
      await loadMailings();
      await openMailing(made.id, "");
    } catch (err) {
      result(out, "error", describe(err));
    }
  } },
  h("h2", {}, t("ml.new")),
  h("label", {}, h("span", {}, t("ml.name")), name),
  h("fieldset", { id: "ml-filter" }, h("legend", {}, t("ml.filter")), filters,
    h("label", {}, h("span", {}, t("ml.filter.vip_tier_min")), vip),
    h("label", {}, h("span", {}, t("ml.filter.subscription")), sub)),
  h("label", {}, h("span", {}, t("ml.channel")), channel),
  subjectLabel,
  h("label", {}, h("span", {}, t("ml.body")), body),
  hint,
  seen,
  h("div", { class: "form-actions" },
    h("button", { type: "button", id: "ml-preview-button", onclick: preview }, t("ml.preview")),
    h("button", { type: "submit", class: "primary" }, t("ml.send")), out));
  onChannel();
  return form;
}

function render() {
  fill($("#bo-content"),
    h("h2", {}, t("ml.mailings")),
    h("div", { id: "ml-list-box" }),
    h("section", { id: "ml-detail", class: "card", hidden: true },
      h("p", { id: "ml-detail-result", class: "result", hidden: true }),
      h("div", { id: "ml-detail-body" })),
    maySend() ? composeForm() : null);
  renderList();
  renderDetail();
}

/** Whether any mailing listed is still being queued or sent. Pure. */
export function inFlight(items) {
  return items.some((m) => m.state === "queueing" || (m.counts && m.counts.queued > 0));
}

async function poll() {
  if (!document.hidden && inFlight(S.items)) {
    await loadMailings();
    if (S.open) await openMailing(S.open.mailing.id, S.open.status);
  }
  setTimeout(poll, POLL_MS);
}

async function main() {
  S.session = await start("mailings");
  if (!S.session) return;
  render();
  onLanguage(() => render());
  await loadMailings();
  setTimeout(poll, POLL_MS);
}

main();

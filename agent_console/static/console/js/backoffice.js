// The back office's front page: the sections this user's grants allow, each with
// what it is for. A user whose role allows none is told so.
import { h, $, fill } from "./dom.js";
import { t, onLanguage } from "./i18n.js";
import { start, allowedSections } from "./office.js";

function render(session) {
  const sections = allowedSections(session);
  fill($("#bo-content"), sections.length
    ? h("ul", { class: "bo-cards", id: "bo-sections" }, sections.map((s) => h("li", { class: "card", dataset: { section: s.name } },
      h("a", { href: `/backoffice/${s.name}` }, t(`bo.section.${s.name}`)),
      h("p", { class: "muted" }, t(`bo.about.${s.name}`)))))
    : h("p", { class: "muted", id: "bo-nothing" }, t("bo.nothing")));
}

async function main() {
  const session = await start("backoffice");
  if (!session) return;
  render(session);
  onLanguage(() => render(session));
}

main();

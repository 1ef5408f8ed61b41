// Building the page. Everything shown comes from the phone network or the CRM
// and may be hostile (a caller name like <img src=x onerror=...>): every node is
// made with createElement and every text goes in as a Text node (textContent),
// never through innerHTML or any other markup parser. The page's CSP requires
// Trusted Types, so an innerHTML assignment would throw anyway.

/** An element: h("td", {class: "x", dataset: {id: 1}, onclick: fn}, "text", child) */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "value" || key === "checked" || key === "selected" || key === "disabled") el[key] = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

/** Append children: nodes as they are, anything else as text. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** Replace everything inside ``el``. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** An <option> list for a <select>: [[value, label], ...]. */
export function options(select, pairs, selected) {
  fill(select, pairs.map(([value, label]) =>
    h("option", { value: String(value), selected: String(value) === String(selected ?? "") }, label)));
  return select;
}

/** A link only to http(s) or a path on this site: never javascript: or data:. */
export function safeHref(url) {
  if (typeof url !== "string" || !url) return null;
  if (url.startsWith("/") && !url.startsWith("//")) return url;
  try {
    const u = new URL(url);
    return u.protocol === "https:" || u.protocol === "http:" ? u.href : null;
  } catch {
    return null;
  }
}

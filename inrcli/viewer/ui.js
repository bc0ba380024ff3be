// Small DOM helpers shared by the views.

/** A new element: el("button", {class: "x", onclick: f}, ["text", child]). */
export function el(tag, attributes = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key.startsWith("on")) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/** 12345 → "12,345". */
export function formatInt(n) {
  return Math.round(n).toLocaleString("en-US");
}

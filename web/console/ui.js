// Small DOM helpers: elements built from data (never HTML strings), the live region, drop zones, tables.
const SVG = "http://www.w3.org/2000/svg";

/** An element: h("p", {class: "x"}, "text", child). Attributes starting with "on" are listeners. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

/** An SVG element with attributes. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
}

/** Replaces an element's children; like `h`, it leaves out null, undefined and false (DOM's own
 * replaceChildren would show them as the text "null"). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : String(c));
  }
}

const status = () => document.getElementById("status");

/** Says something in the live region (progress, results). */
export function announce(message) {
  const el = status();
  el.classList.remove("error");
  el.textContent = message;
}

/** Shows an error in the live region: the API's error.message when the API answered one. */
export function showError(error) {
  const el = status();
  el.classList.add("error");
  el.textContent = error && error.message ? error.message : String(error);
}

/** Runs `work` with its errors shown, and a busy flag on `button` while it runs. */
export async function guarded(work, button) {
  if (button) button.disabled = true;
  try {
    return await work();
  } catch (error) {
    showError(error);
    return undefined;
  } finally {
    if (button) button.disabled = false;
  }
}

/**
 * A red button named `ariaLabel` for screen readers that asks `question` (none: no question) and then runs
 * `action` with its errors shown, disabled while it runs.
 */
export function dangerButton(label, ariaLabel, question, action) {
  return h("button", {
    type: "button",
    class: "danger",
    "aria-label": ariaLabel,
    onclick: (e) =>
      guarded(async () => {
        if (question && !confirm(question)) return;
        await action();
      }, e.currentTarget),
  }, label);
}

/**
 * A file drop zone that is also a labelled <input type=file> (keyboard: Tab to it, Enter/Space opens the
 * picker). `onFiles` gets the File list.
 */
export function dropZone(label, { multiple = false, name, onFiles }) {
  const input = h("input", { type: "file", accept: "image/*", multiple, name, class: "drop-input" });
  const hint = h("span", { class: "drop-hint" }, multiple ? "Drop photos here or choose files" : "Drop a photo here or choose a file");
  const chosen = h("span", { class: "drop-chosen" });
  const zone = h("label", { class: "drop" }, h("span", { class: "drop-label" }, label), hint, input, chosen);
  let files = [];
  const take = (list) => {
    files = Array.from(list).filter((f) => f.type.startsWith("image/") || f.type === "");
    chosen.textContent = files.map((f) => f.name).join(", ");
    if (onFiles) onFiles(files);
  };
  input.addEventListener("change", () => take(input.files));
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    take(e.dataTransfer.files);
  });
  return { el: zone, input, files: () => files, clear: () => { files = []; input.value = ""; chosen.textContent = ""; } };
}

/** A table with a caption, column headers and rows of cells (strings or nodes). */
export function table(caption, headers, rows, attrs = {}) {
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      attrs,
      h("caption", {}, caption),
      h("thead", {}, h("tr", {}, headers.map((x) => h("th", { scope: "col" }, x)))),
      h("tbody", {}, rows.length ? rows.map((r) => h("tr", r.attrs || {}, r.cells.map((c) => h("td", {}, c)))) : h("tr", {}, h("td", { colspan: headers.length, class: "empty" }, "None yet"))),
    ),
  );
}

/** A labelled text input. */
export function field(label, attrs = {}) {
  const id = "f-" + Math.random().toString(36).slice(2, 9);
  const input = h(attrs.rows ? "textarea" : "input", { id, ...attrs });
  return { el: h("div", { class: "field" }, h("label", { for: id }, label), input), input };
}

/** A progress bar with text, for long operations. */
export function progressBar(label) {
  const bar = h("progress", { max: 1, value: 0, "aria-label": label });
  const text = h("span", { class: "progress-text" });
  const el = h("div", { class: "progress", hidden: true }, bar, text);
  return {
    el,
    set(done, total, what = "") {
      el.hidden = false;
      bar.max = total;
      bar.value = done;
      text.textContent = `${done} / ${total}${what ? " — " + what : ""}`;
    },
    hide() {
      el.hidden = true;
    },
  };
}

export function fmt(n, digits = 1) {
  return n === null || n === undefined || Number.isNaN(n) ? "—" : Number(n).toFixed(digits);
}

export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

// The console's shell: signing in (a key held in memory, or none on an open loopback server), the views by
// URL fragment, and errors shown in the live region rather than a blank page.
import { api, setKey, hasKey } from "./api.js";
import { announce, showError, h, fill } from "./ui.js";
import * as compare from "./compare.js";
import * as collections from "./collections.js";
import * as users from "./users.js";
import * as sessions from "./sessions.js";
import * as keys from "./keys.js";

const views = {
  compare: { title: "Compare & analyse", module: compare },
  collections: { title: "Collections", module: collections },
  users: { title: "Users", module: users },
  sessions: { title: "Liveness sessions", module: sessions },
  keys: { title: "Keys & usage", module: keys },
};

const main = document.getElementById("main");
const mode = document.getElementById("mode");
const keyInput = document.getElementById("key");
const signout = document.getElementById("signout");
let current = null;
let signedIn = false;
// Counts finished renders (main's data-rendered), so that a script or a test can tell a view drawn anew.
let renders = 0;

window.addEventListener("error", (e) => showError(e.error || e.message));
window.addEventListener("unhandledrejection", (e) => showError(e.reason));

/** Whether the server answers without a key (open loopback mode) or with the key typed. */
async function probe() {
  try {
    const usage = await api("GET", "/v1/usage");
    signedIn = true;
    mode.textContent = hasKey() ? `Signed in as key ${usage.keyId}` : "Open mode: this loopback server needs no key";
    mode.dataset.mode = hasKey() ? "key" : "open";
    signout.hidden = !hasKey();
    return true;
  } catch (error) {
    signedIn = false;
    mode.textContent = "";
    mode.dataset.mode = "none";
    signout.hidden = true;
    if (hasKey() || error.status !== 401) showError(error);
    return false;
  }
}

function signInPrompt() {
  fill(main,
    h("h2", {}, "Sign in"),
    h("p", {}, "This server needs an API key. Type it above: the console keeps it in this page's memory only, and forgets it when the page closes or reloads."),
  );
}

async function show() {
  const hash = location.hash.slice(1);
  // Only the views' own names: `#__proto__` or `#constructor` name the object's inherited members, not a view.
  const name = Object.hasOwn(views, hash) ? hash : "compare";
  const view = views[name];
  for (const a of document.querySelectorAll("nav a")) {
    if (a.getAttribute("href") === "#" + name) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (current && current.module.leave) current.module.leave();
  current = view;
  document.title = `${view.title} — Facegate console`;
  if (!signedIn) return signInPrompt();
  fill(main, h("h2", {}, view.title));
  try {
    await view.module.render(main);
  } catch (error) {
    showError(error);
  }
  main.dataset.view = name;
  main.dataset.rendered = String(++renders);
}

document.getElementById("signin").addEventListener("submit", async (e) => {
  e.preventDefault();
  setKey(keyInput.value);
  keyInput.value = "";
  if (await probe()) {
    announce("Signed in.");
    show();
  } else {
    setKey(null);
    signInPrompt();
  }
});

signout.addEventListener("click", async () => {
  setKey(null);
  announce("Signed out: the key is forgotten.");
  await probe();
  show();
});

window.addEventListener("hashchange", () => {
  show();
  main.focus();
});

await probe();
show();

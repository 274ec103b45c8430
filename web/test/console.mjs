// Drives every view of the console (/console) in Debian's Chromium against a real `facegate serve`, asserting
// what is drawn and listed, and keeps screenshots of each view at 1440 and 360 px.
// Environment: FACEGATE_URL (a server with an admin key), ADMIN_KEY, OPEN_URL (an open loopback server), IMAGES
// (the shared face_recognition samples), SHOTS (directory), EXPECT (JSON: what the API answered the test for the
// same inputs). Prints one JSON line: {failures, checks, console}; exits 1 when a check failed.
import { chromium } from "playwright-core";
import path from "node:path";

const env = (name, fallback) => process.env[name] ?? fallback;
const base = env("FACEGATE_URL");
const openBase = env("OPEN_URL");
const images = env("IMAGES");
const shots = env("SHOTS", "target/e2e");
const expect = JSON.parse(env("EXPECT", "{}"));
const img = (name) => path.join(images, name);

const out = { failures: [], checks: 0, console: [], overflow: {} };
const check = (ok, what) => {
  out.checks += 1;
  if (!ok) out.failures.push(what);
};

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
});

async function shot(page, name) {
  for (const width of [1440, 360]) {
    await page.setViewportSize({ width, height: width === 1440 ? 900 : 780 });
    await page.waitForTimeout(150);
    if (width === 360) {
      out.overflow[name] = await page.evaluate(() => document.documentElement.scrollWidth);
      check(out.overflow[name] <= 360, `${name}: the page scrolls sideways at 360 px (${out.overflow[name]} px wide)`);
    }
    await page.screenshot({ path: path.join(shots, `console-${name}-${width}.png`), fullPage: true });
  }
  await page.setViewportSize({ width: 1440, height: 900 });
}

// Opens a view by its link and waits until the shell has drawn it anew (the view already shown is redrawn too,
// so inputs filled before the redraw would be lost).
async function go(page, view) {
  const before = Number((await page.getAttribute("#main", "data-rendered")) ?? 0);
  await page.click(`a[href='#${view}']`);
  await page.waitForFunction(
    ([v, n]) => document.getElementById("main").dataset.view === v && Number(document.getElementById("main").dataset.rendered) > n,
    [view, before],
  );
}

const status = (page) => page.locator("#status").textContent();
const clearStatus = (page) => page.evaluate(() => (document.getElementById("status").textContent = ""));
async function waitStatus(page, pattern, timeout = 60000) {
  await page.waitForFunction((p) => new RegExp(p).test(document.getElementById("status").textContent), pattern.source, { timeout });
}

try {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
  const page = await context.newPage();
  page.on("pageerror", (e) => out.console.push(String(e)));
  page.on("dialog", (d) => d.accept());

  // Signing in: without a key the server answers 401, the page asks for one; a wrong key shows the API's message.
  await page.goto(`${base}/console`);
  await page.getByRole("heading", { name: "Sign in" }).waitFor();
  await shot(page, "signin");
  await page.fill("#key", "fg_wrong_key_000000000000");
  await clearStatus(page);
  await page.click("#use-key");
  await waitStatus(page, /\S/);
  check((await status(page)) === expect.wrongKeyMessage, `wrong key: status "${await status(page)}" is not the API's "${expect.wrongKeyMessage}"`);
  check((await page.getAttribute("#status", "class")).includes("error"), "the wrong key's message is shown as an error");
  await page.fill("#key", env("ADMIN_KEY"));
  await page.click("#use-key");
  await page.waitForSelector("#mode[data-mode=key]");
  check(!(await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage) + document.cookie)).includes("fg"), "the key is in no storage");

  // 1. Compare: every face boxed with its landmarks, the chosen ones highlighted, the gauge at the API's similarity.
  await go(page, "compare");
  await page.setInputFiles("input[name=source]", img("obama.jpg"));
  await page.setInputFiles("input[name=target]", img("two_people.jpg"));
  await page.click("#compare-run");
  await page.waitForSelector("#verdict", { timeout: 60000 });
  const boxesA = await page.locator("#photo-a .face-box").count();
  const boxesB = await page.locator("#photo-b .face-box").count();
  check(boxesA === expect.facesA, `photo A: ${boxesA} boxes drawn, the API found ${expect.facesA}`);
  check(boxesB === expect.facesB, `photo B: ${boxesB} boxes drawn, the API found ${expect.facesB}`);
  check((await page.locator("#photo-b .landmark").count()) === 5 * expect.facesB, "five landmarks per face of B");
  check((await page.locator("#photo-a .face.chosen").count()) === 1, "the source face is highlighted");
  check((await page.locator("#photo-b .face.chosen").count()) === 1, "one face of B is highlighted");
  const gaugeValue = Number(await page.getAttribute(".gauge", "data-similarity"));
  check(Math.abs(gaugeValue - expect.similarity) < 0.05, `gauge at ${gaugeValue}, the API said ${expect.similarity}`);
  check((await page.textContent("#threshold")).startsWith(expect.threshold.toFixed(1)), "the threshold is shown");
  check(/1 in [\d,]+/.test(await page.textContent("#fmr")), "the false match rate is shown");
  check((await page.locator("table.faces").count()) === 2, "a table of faces (with quality issues) per photo");
  await shot(page, "compare");

  // Analysis with the mesh: 468 points per face.
  await page.check("#mesh");
  await page.click("#analyse-run");
  await page.waitForSelector("#analysis-table", { timeout: 60000 });
  const meshPoints = await page.locator("#analysis-photo .mesh-point").count();
  check(meshPoints === 468 * expect.facesA, `mesh: ${meshPoints} points drawn`);
  check((await page.locator(".expressions .bar").count()) === 7 * expect.facesA, "seven expressions per face");
  check(/°/.test(await page.textContent("#analysis-table")), "the pose is listed");
  await page.locator("#analysis-result").scrollIntoViewIfNeeded();
  await shot(page, "analysis");

  // 2. Collections: an invalid id answers the API's message; create, enroll two photos, search, delete.
  await go(page, "collections");
  await page.waitForSelector("#collections-table");
  await page.fill("input[name=collectionId]", "bad id!");
  await clearStatus(page);
  await page.click("#collection-create");
  await waitStatus(page, /\S/);
  check((await status(page)) === expect.invalidIdMessage, `invalid id: status "${await status(page)}" is not the API's "${expect.invalidIdMessage}"`);
  for (const id of ["staff", "scratch"]) {
    await page.fill("input[name=collectionId]", id);
    await page.click("#collection-create");
    await page.waitForSelector(`#collections-table tr[data-collection=${id}]`);
  }
  await page.click("#collections-table tr[data-collection=scratch] button.danger");
  await page.waitForSelector("#collections-table tr[data-collection=scratch]", { state: "detached" });
  await page.click("#collections-table tr[data-collection=staff] button.link");
  await page.waitForSelector("#faces-table");
  await page.setInputFiles("input[name=enroll]", [img("obama.jpg"), img("biden.jpg")]);
  await page.click("#enroll-run");
  await waitStatus(page, /^Enrolled/);
  check((await page.locator(".progress-text").textContent()).startsWith("2 / 2"), "enrolment progress reached 2 / 2");
  await page.waitForFunction(() => document.querySelectorAll("#faces-table tr[data-face-id]").length === 2);
  await page.waitForFunction(() => [...document.querySelectorAll("#faces-table .thumb img")].filter((i) => i.naturalWidth > 0).length === 2, null, { timeout: 20000 });
  check((await page.textContent("#faces-table")).includes("obama"), "the external id is listed");
  await page.setInputFiles("input[name=probe]", img("obama2.jpg"));
  await page.click("#search-run");
  await page.waitForSelector("#matches-table");
  const top = await page.getAttribute("#matches-table tbody tr:first-child", "data-external-id");
  check(top === "obama", `the top match is ${top}`);
  check((await page.locator("#search-result .face.chosen").count()) === 1, "the searched face is drawn");
  // The collection's users: create one, associate Obama's face, see Biden's refused as unlike it, disassociate,
  // delete the user.
  const userRow = "#collection-users-table tr[data-user-id=president]";
  const userCells = async () => (await page.locator(`${userRow} td`).allTextContents()).slice(1, 3).join(" ");
  await page.fill("input[name=collectionUserId]", "president");
  await page.click("#collection-user-create");
  await page.waitForSelector(userRow);
  check((await userCells()) === "created 0", `a new user is created with no face: ${await userCells()}`);
  const faceRow = (name) => page.locator("#faces-table tr[data-face-id]", { hasText: name });
  await faceRow("obama").getByRole("button", { name: "Associate face obama", exact: true }).click();
  await page.waitForFunction((sel) => document.querySelector(`${sel} td:nth-child(3)`)?.textContent === "1", userRow);
  check((await userCells()) === "active 1", `after associating a face the user is active with 1 face: ${await userCells()}`);
  check((await faceRow("obama").textContent()).includes("president"), "the face lists its user");
  await clearStatus(page);
  await faceRow("biden").getByRole("button", { name: "Associate face biden", exact: true }).click();
  await waitStatus(page, /not associated/);
  check(/too unlike the user's faces/.test(await status(page)), `another person's face is refused: ${await status(page)}`);
  await shot(page, "collections");
  await faceRow("obama").getByRole("button", { name: "Disassociate face obama from president", exact: true }).click();
  await page.waitForFunction((sel) => document.querySelector(`${sel} td:nth-child(3)`)?.textContent === "0", userRow);
  check((await userCells()) === "created 0", `after disassociating the user has no face: ${await userCells()}`);
  await page.locator(`${userRow} button.danger`).click();
  await page.waitForSelector(userRow, { state: "detached" });
  const biden = page.locator("#faces-table tr[data-face-id]", { hasText: "biden" });
  await biden.locator("button.danger").click();
  await page.waitForFunction(() => document.querySelectorAll("#faces-table tr[data-face-id]").length === 1);
  await page.waitForFunction(() => document.querySelector("#collections-table tr[data-collection=staff] td:nth-child(2)").textContent === "1");

  // 3. Users: register two, add a face to one, delete the other.
  await go(page, "users");
  await page.waitForSelector("#users-table");
  for (const [id, name, photo] of [["obama", "Barack Obama", "obama.jpg"], ["biden", "Joe Biden", "biden.jpg"]]) {
    await page.fill("input[name=userId]", id);
    await page.fill("input[name=fullName]", name);
    await page.setInputFiles("input[name=images]", img(photo));
    await page.click("#user-register");
    await page.waitForSelector(`#users-table tr[data-user=${id}]`, { timeout: 60000 });
  }
  await page.setInputFiles("#users-table tr[data-user=obama] input[type=file]", img("obama2.jpg"));
  await waitStatus(page, /^Added 1 face/);
  await page.waitForFunction(() => document.querySelector("#users-table tr[data-user=obama] td:nth-child(4)").textContent === "2");
  await shot(page, "users");
  await page.click("#users-table tr[data-user=biden] button.danger");
  await page.waitForSelector("#users-table tr[data-user=biden]", { state: "detached" });
  check((await page.locator("#users-table tr[data-user]").count()) === 1, "one user left");

  // 4. Liveness sessions: the list, one session's evidence, images and timeline.
  await go(page, "sessions");
  await page.waitForSelector("#sessions-table");
  const rows = await page.locator("#sessions-table tr[data-session]").count();
  check(rows === expect.sessions, `${rows} sessions listed, ${expect.sessions} created`);
  const row = page.locator(`#sessions-table tr[data-session="${expect.sessionId}"]`);
  check((await row.getAttribute("data-status")) === "SUCCEEDED", "the finished session is listed as succeeded");
  await row.locator("button.link").click();
  await page.waitForSelector("#evidence-table");
  check((await page.textContent("#session-status")) === "SUCCEEDED", "the session's status");
  check((await page.textContent("#evidence-table tr[data-kind=blink]")).includes("yes"), "the blink passed, with its evidence");
  await page.waitForFunction(() => document.querySelectorAll("#session-images img").length === 2 && [...document.querySelectorAll("#session-images img")].every((i) => i.naturalWidth > 0), null, { timeout: 20000 });
  const names = await page.locator("#session-images figure").evaluateAll((els) => els.map((e) => e.dataset.name).sort());
  check(JSON.stringify(names) === JSON.stringify(["audit-0", "reference"]), `images ${names}`);
  check((await page.locator(".timeline .tick").count()) === expect.frames, "one tick per frame on the timeline");
  check((await page.locator(".timeline .tick.reference").count()) === 1, "the reference frame is marked");
  check((await page.locator(".timeline .evidence.passed").count()) >= 1, "the frames that satisfied the blink are marked");
  await shot(page, "sessions");

  // 5. Keys and usage: create (the secret once), the usage chart, the metric charts, revoke.
  await go(page, "keys");
  await page.waitForSelector("#keys-table");
  await page.fill("input[name=name]", "door-3");
  await page.fill("input[name=collections]", "staff");
  await page.fill("input[name=monthlyQuota]", "1000");
  await page.check("input[name=scope][value='collections:read']");
  await page.click("#key-create");
  await page.waitForSelector("#secret");
  const secret = await page.textContent("#secret");
  check(secret.startsWith("fg_"), "the secret is shown");
  const asKey = (s) => page.evaluate(async (k) => (await fetch("/v1/collections", { headers: { authorization: `Bearer ${k}` } })).status, s);
  check((await asKey(secret)) === 200, "the new key works");
  await page.waitForSelector(".usage .bar");
  check((await page.locator(".usage .bar").count()) === 1, "a usage bar for the active key");
  await page.waitForSelector(".requests .bar");
  check((await page.locator(".requests .bar").count()) > 3, "requests per route charted");
  check((await page.locator(".latency .bar").count()) > 3, "latency per route charted");
  check((await page.locator("#rate-charts svg").count()) > 3, "a request-rate chart per route");
  await shot(page, "keys");
  await page.click("#secret-done");
  check(!(await page.content()).includes(secret), "the secret is gone from the page once dismissed");
  await page.click("#keys-table tr[data-active=true] button.danger");
  await page.waitForSelector("#keys-table tr[data-active=false]");
  check((await asKey(secret)) === 401, "the revoked key no longer works");
  await page.locator("#usage").getByText("No active keys.").waitFor();
  const usageText = await page.textContent("#usage");
  check(!usageText.includes("null"), `no stray "null" in the usage section: ${usageText}`);
  await page.click("#signout");
  await page.getByRole("heading", { name: "Sign in" }).waitFor();

  // The open loopback mode: no key asked for.
  if (openBase) {
    await page.goto(`${openBase}/console#collections`);
    await page.waitForSelector("#mode[data-mode=open]");
    await page.waitForSelector("#collections-table");
    await shot(page, "open");

    // A hash naming an inherited member (`#__proto__`, `#constructor`) shows the default view, and the console
    // keeps working after it.
    for (const hash of ["__proto__", "constructor"]) {
      await page.goto(`${openBase}/console#${hash}`);
      const shown = await page.waitForSelector("[data-view=compare]", { timeout: 5000 }).then(() => true, () => false);
      check(shown, `#${hash} shows the compare view`);
    }
    await page.evaluate(() => { location.hash = "#collections"; });
    await page.waitForSelector("#collections-table");

    // A page of another origin cannot use the open server: forms it auto-submits (no preflight needed) to
    // create an admin key and a collection are refused, and nothing is created.
    const attacker = "http://attacker.test";
    const form = (action, fields) =>
      `<form method="post" enctype="multipart/form-data" action="${openBase}${action}">` +
      Object.entries(fields).map(([k, v]) => `<input name="${k}" value='${v}'>`).join("") + "</form>";
    for (const [action, fields] of [
      ["/v1/keys", { name: "csrf", scopes: '["admin"]' }],
      ["/v1/collections", { collectionId: "csrf" }],
    ]) {
      const html = `<!doctype html><body>${form(action, fields)}<script>document.forms[0].submit()</script>`;
      await page.route(`${attacker}/**`, (route) => route.fulfill({ contentType: "text/html", body: html }));
      const answered = page.waitForResponse((r) => r.url().startsWith(openBase + action));
      await page.goto(`${attacker}/`);
      const response = await answered;
      check(response.status() === 403, `a foreign page's form to ${action}: ${response.status()}`);
      await page.unroute(`${attacker}/**`);
    }
    const keys = await (await fetch(`${openBase}/v1/keys`)).json();
    check(!keys.keys.some((k) => k.name === "csrf"), `no key made by a foreign page: ${JSON.stringify(keys)}`);
    const collections = await (await fetch(`${openBase}/v1/collections`)).json();
    check(
      !JSON.stringify(collections).includes('"csrf"'),
      `no collection made by a foreign page: ${JSON.stringify(collections)}`,
    );
  }
} catch (e) {
  out.failures.push(`script: ${e.stack || e}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));
process.exit(out.failures.length ? 1 : 0);

// Runs one liveness session in Debian's Chromium with a fake camera and reports what the page showed.
// Environment: FACEGATE_URL, SESSION_ID, SESSION_TOKEN, Y4M (the fake camera), SHOTS (a directory and file
// prefix for screenshots), TIMEOUT_MS (default 120000), DENY_CAMERA=1 (the user refuses the camera). Prints one JSON line: status, reasons, transport,
// the result text, and the instructions the page showed on the way.
import { chromium } from "playwright-core";

const env = (name, fallback) => process.env[name] ?? fallback;
const url = `${env("FACEGATE_URL")}/liveness#session=${env("SESSION_ID")}&token=${env("SESSION_TOKEN")}`;
const shots = env("SHOTS", "target/e2e/run");
const timeout = Number(env("TIMEOUT_MS", "120000"));
const deny = env("DENY_CAMERA", "") === "1";

const browser = await chromium.launch({
  executablePath: env("CHROMIUM", "/usr/bin/chromium"),
  headless: true,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    ...(deny ? ["--deny-permission-prompts"] : ["--use-fake-ui-for-media-stream"]),
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-video-capture=${env("Y4M")}`,
  ],
});
const out = { status: null, reasons: [], transport: null, result: null, instructions: [], console: [] };
try {
  const context = await browser.newContext({ viewport: { width: 720, height: 900 } });
  if (!deny) await context.grantPermissions(["camera"], { origin: env("FACEGATE_URL") });
  const page = await context.newPage();
  page.on("console", (m) => m.type() === "error" && out.console.push(m.text()));
  page.on("pageerror", (e) => out.console.push(String(e)));
  await page.goto(url);
  const instruction = page.locator(".fgl-instruction");
  const seen = new Set();
  const started = Date.now();
  let shotTaken = false;
  while (Date.now() - started < timeout) {
    const status = await page.locator(".fgl").getAttribute("data-status").catch(() => null);
    const text = await instruction.textContent().catch(() => null);
    if (text && !seen.has(text)) {
      seen.add(text);
      out.instructions.push(text);
    }
    if (!shotTaken && Date.now() - started > 3000) {
      await page.screenshot({ path: `${shots}-during.png` });
      shotTaken = true;
    }
    if (status) {
      out.status = status;
      out.reasons = ((await page.locator(".fgl").getAttribute("data-reasons")) || "").split(",").filter(Boolean);
      out.transport = await page.locator(".fgl").getAttribute("data-transport");
      out.result = await page.locator(".fgl-result").textContent();
      break;
    }
    await page.waitForTimeout(200);
  }
  await page.screenshot({ path: `${shots}-end.png` });
} finally {
  await browser.close();
}
console.log(JSON.stringify(out));

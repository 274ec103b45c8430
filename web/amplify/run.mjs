// Driver: runs AWS Amplify's FaceLivenessDetectorCore (built into dist/ by build.mjs) in Debian's chromium
// with a fake camera against a Rekognition-Streaming-compatible server, and prints one JSON line.
//
//   node run.mjs --endpoint https://localhost:8443 --session SESSION_ID \
//     --access-key AKID --secret-key SECRET --video face.y4m [--timeout-ms 60000]
//     [--session-token T] [--region us-east-1] [--clock-offset-ms N] [--chromium /usr/bin/chromium]
//     [--screenshot out.png] [--keep-profile]
//
// It serves dist/ over plain http on a free port of 127.0.0.1 (the page is http://localhost:PORT/, a secure
// context, so getUserMedia works), aborts every request to a host other than localhost/127.0.0.1/[::1] and
// lists it in external_requests, and waits for onAnalysisComplete / onError / onUserCancel or the timeout.
// Output (stdout, one line):
//   {"outcome":"complete"|"error"|"timeout", "error":{state,error}|null, "external_requests":[...],
//    "console_errors":[...], "websockets":[{url,sent,received,closed_at_ms}], "log":[...], "elapsed_ms":n, ...}
// onUserCancel is reported as outcome "error" with error.state "USER_CANCEL"; a failure of the harness
// itself (chromium does not start, dist/ missing) as outcome "error" with error.state "HARNESS". The exit
// status is 0 whatever the outcome (the caller judges); 2 only for bad arguments.
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");

const usage = `usage: node run.mjs --endpoint https://localhost:PORT --session ID --access-key KEY --secret-key SECRET --video FILE.y4m [--timeout-ms 60000] [--session-token T] [--region us-east-1] [--clock-offset-ms N] [--chromium PATH] [--screenshot FILE.png] [--keep-profile]`;

function parseArgs(argv) {
  const flags = { "timeout-ms": "60000", region: "us-east-1", chromium: process.env.CHROMIUM || "/usr/bin/chromium" };
  const booleans = new Set(["keep-profile", "help"]);
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith("--")) throw new Error(`unexpected argument ${a}`);
    let [name, value] = a.slice(2).split(/=(.*)/s);
    if (booleans.has(name)) {
      flags[name] = true;
      continue;
    }
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
    }
    flags[name] = value;
  }
  return flags;
}

let args;
try {
  args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.error(usage);
    process.exit(0);
  }
  for (const required of ["endpoint", "session", "access-key", "secret-key", "video"]) {
    if (!args[required]) throw new Error(`--${required} is required`);
  }
  const known = new Set(["endpoint", "session", "access-key", "secret-key", "video", "timeout-ms", "session-token", "region", "clock-offset-ms", "chromium", "screenshot", "keep-profile"]);
  for (const k of Object.keys(args)) if (!known.has(k)) throw new Error(`unknown flag --${k}`);
  if (!/^https:\/\//.test(args.endpoint)) throw new Error("--endpoint must be an https:// URL (the SDK forces wss:)");
  if (!Number.isFinite(Number(args["timeout-ms"]))) throw new Error("--timeout-ms must be a number");
  if (!existsSync(args.video)) throw new Error(`--video ${args.video} does not exist`);
} catch (e) {
  console.error(`${e.message}\n${usage}`);
  process.exit(2);
}

const timeoutMs = Number(args["timeout-ms"]);
const started = Date.now();
const out = {
  outcome: "timeout",
  error: null,
  external_requests: [],
  console_errors: [],
  websockets: [],
  requests: [],
  log: [],
  device_info: null,
  last_text: null,
  elapsed_ms: 0,
};

const LOCAL_HOSTS = new Set(["localhost", "127.0.0.1", "[::1]", "::1"]);
const isLocal = (url) => {
  try {
    const u = new URL(url);
    if (u.protocol === "data:" || u.protocol === "blob:" || u.protocol === "about:") return true;
    return LOCAL_HOSTS.has(u.hostname);
  } catch {
    return false;
  }
};

// --- static server for dist/ -------------------------------------------------------------------------
const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".bin": "application/octet-stream",
  ".wasm": "application/wasm",
};
function serve(req, res) {
  const path = decodeURIComponent(new URL(req.url, "http://localhost").pathname);
  const file = normalize(join(dist, path.endsWith("/") ? path + "index.html" : path));
  if (!(file === dist || file.startsWith(dist + sep)) || !existsSync(file) || !statSync(file).isFile()) {
    res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    return;
  }
  res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
  res.end(readFileSync(file));
}

const server = createServer(serve);
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const port = server.address().port;

const pageUrl = new URL(`http://localhost:${port}/`);
pageUrl.search = new URLSearchParams({
  sessionId: args.session,
  region: args.region,
  endpoint: args.endpoint,
  accessKeyId: args["access-key"],
  secretAccessKey: args["secret-key"],
  ...(args["session-token"] ? { sessionToken: args["session-token"] } : {}),
  ...(args["clock-offset-ms"] !== undefined ? { systemClockOffset: args["clock-offset-ms"] } : {}),
  faceModelUrl: `http://localhost:${port}/models/facemesh-detection-short.json`,
  binaryPath: `http://localhost:${port}/wasm/`,
}).toString();

// --- browser -----------------------------------------------------------------------------------------
const profile = mkdtempSync(join(tmpdir(), "amplify-harness-profile-"));
let context = null;
try {
  if (!existsSync(join(dist, "index.html"))) throw new Error("dist/index.html is missing: run node build.mjs first");
  context = await chromium.launchPersistentContext(profile, {
    executablePath: args.chromium,
    headless: true,
    viewport: { width: 800, height: 900 },
    ignoreHTTPSErrors: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--use-fake-ui-for-media-stream",
      "--use-fake-device-for-media-stream",
      `--use-file-for-fake-video-capture=${resolve(args.video)}`,
      "--ignore-certificate-errors",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-domain-reliability",
      "--metrics-recording-only",
      // Belt and braces: even a request that slipped past the routes below cannot resolve a remote name.
      "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    ],
  });
  await context.grantPermissions(["camera"], { origin: pageUrl.origin });

  // Every HTTP(S) request: record it; abort it unless it goes to this machine.
  await context.route("**/*", async (route) => {
    const req = route.request();
    const url = req.url();
    if (!isLocal(url)) {
      out.external_requests.push({ url, method: req.method(), resource_type: req.resourceType() });
      await route.abort("blockedbyclient");
      return;
    }
    await route.continue();
  });
  // WebSockets: pass local ones through untouched, refuse the others.
  await context.routeWebSocket(
    (url) => !isLocal(url.href),
    (ws) => {
      out.external_requests.push({ url: ws.url(), method: "GET", resource_type: "websocket" });
      ws.close({ code: 1008, reason: "blocked by harness" });
    },
  );

  const page = context.pages()[0] ?? (await context.newPage());
  page.on("request", (req) => {
    if (out.requests.length < 200) out.requests.push(`${req.method()} ${req.url().split("?")[0]}`);
  });
  page.on("console", (m) => {
    if (m.type() === "error") out.console_errors.push(m.text());
  });
  page.on("pageerror", (e) => out.console_errors.push(`pageerror: ${e.message}`));
  page.on("websocket", (ws) => {
    const rec = { url: ws.url(), sent: 0, sent_bytes: 0, received: 0, received_bytes: 0, closed_at_ms: null, error: null };
    out.websockets.push(rec);
    if (!isLocal(ws.url())) return;
    ws.on("framesent", (f) => {
      rec.sent++;
      rec.sent_bytes += typeof f.payload === "string" ? f.payload.length : f.payload.byteLength;
    });
    ws.on("framereceived", (f) => {
      rec.received++;
      rec.received_bytes += typeof f.payload === "string" ? f.payload.length : f.payload.byteLength;
    });
    ws.on("socketerror", (e) => (rec.error = String(e)));
    ws.on("close", () => (rec.closed_at_ms = Date.now() - started));
  });

  await page.goto(pageUrl.href, { waitUntil: "domcontentloaded", timeout: Math.max(1000, timeoutMs) });
  const deadline = started + timeoutMs;
  let result = null;
  while (Date.now() < deadline) {
    result = await page.evaluate(() => window.__result).catch(() => null);
    if (result) break;
    await page.waitForTimeout(250);
  }
  out.log = (await page.evaluate(() => window.__log).catch(() => [])) ?? [];
  out.last_text = await page
    .evaluate(() => document.getElementById("root")?.innerText?.replace(/\s+/g, " ").trim().slice(0, 500) ?? null)
    .catch(() => null);
  if (args.screenshot) await page.screenshot({ path: args.screenshot }).catch(() => {});
  if (result) {
    out.device_info = result.deviceInfo ?? null;
    if (result.outcome === "complete") {
      out.outcome = "complete";
    } else if (result.outcome === "cancel") {
      out.outcome = "error";
      out.error = { state: "USER_CANCEL", error: null };
    } else {
      out.outcome = "error";
      out.error = result.error ?? null;
    }
  }
  // Give the last frames on the socket (close, DisconnectionEvent) a moment to be counted.
  await page.waitForTimeout(300).catch(() => {});
} catch (e) {
  out.outcome = "error";
  out.error = { state: "HARNESS", error: { name: e.name ?? null, message: String(e.message ?? e).split("\n")[0], code: null } };
} finally {
  await context?.close().catch(() => {});
  server.close();
  if (!args["keep-profile"]) rmSync(profile, { recursive: true, force: true });
}
out.elapsed_ms = Date.now() - started;
// The signature and session token in a presigned URL are of no use to a reader of the report (and must not
// end up in CI logs); the rest of the query (credential scope, date, session-id, video size) is kept.
const redact = (url) => {
  try {
    const u = new URL(url);
    for (const k of [...u.searchParams.keys()]) {
      if (/^X-Amz-(Signature|Security-Token)$/i.test(k)) u.searchParams.set(k, "REDACTED");
    }
    return u.href;
  } catch {
    return url;
  }
};
for (const ws of out.websockets) ws.url = redact(ws.url);
for (const r of out.external_requests) r.url = redact(r.url);
out.console_errors = out.console_errors.map((m) => m.replace(/(X-Amz-(?:Signature|Security-Token)=)[^&\s'"]+/gi, "$1REDACTED"));
console.log(JSON.stringify(out));
process.exit(0);

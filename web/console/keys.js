// Keys and usage: create (the secret shown once), revoke, scopes and collections; each key's monthly usage
// against its quota; the service's request rate and latency per route from /metrics.
import { api, text } from "./api.js";
import { h, guarded, dangerButton, announce, showError, table, field, when, fill } from "./ui.js";
import { bars, sparkline } from "./draw.js";

const SCOPES = ["admin", "faces:detect", "faces:compare", "collections:read", "collections:write", "users", "liveness", "metrics"];
const enc = encodeURIComponent;
let timer = null;

export function leave() {
  clearInterval(timer);
  timer = null;
}

export async function render(main) {
  const keys = h("section", { id: "keys-list", "aria-label": "API keys" });
  const usage = h("section", { id: "usage", "aria-label": "Monthly usage" });
  const metrics = h("section", { id: "metrics", "aria-label": "Service metrics" });
  const secret = h("div", { id: "secret-box", class: "secret", hidden: true });
  main.append(createForm(keys, usage, secret), secret, keys, usage, metrics);
  await guarded(() => refresh(keys, usage));
  await guarded(() => startMetrics(metrics));
}

function createForm(keys, usage, secret) {
  const name = field("Name", { name: "name", required: true, autocomplete: "off" });
  const collections = field("Collections (comma-separated; empty: all)", { name: "collections", autocomplete: "off" });
  const quota = field("Monthly quota (empty: none)", { name: "monthlyQuota", type: "number", min: 1, step: 1 });
  const rate = field("Requests per second (empty: none)", { name: "ratePerSecond", type: "number", min: 0.1, step: "any" });
  const boxes = SCOPES.map((sc) => h("input", { type: "checkbox", value: sc, name: "scope" }));
  const scopes = h("fieldset", { class: "scopes" }, h("legend", {}, "Scopes"), boxes.map((b) => h("label", { class: "check" }, b, " " + b.value)));
  const create = h("button", { type: "submit", id: "key-create" }, "Create key");
  const form = h("form", { class: "panel", "aria-label": "Create a key" }, h("h3", {}, "Create a key"), h("div", { class: "inline" }, name.el, collections.el, quota.el, rate.el), scopes, create);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const list = collections.input.value.split(",").map((c) => c.trim()).filter(Boolean);
      const created = await api("POST", "/v1/keys", {
        json: {
          name: name.input.value.trim(),
          scopes: boxes.filter((b) => b.checked).map((b) => b.value),
          collections: list.length ? list : undefined,
          monthlyQuota: quota.input.value ? Number(quota.input.value) : undefined,
          ratePerSecond: rate.input.value ? Number(rate.input.value) : undefined,
        },
      });
      const done = h("button", { type: "button", id: "secret-done" }, "I have stored it");
      done.addEventListener("click", () => {
        secret.replaceChildren();
        secret.hidden = true;
      });
      secret.hidden = false;
      fill(secret,
        h("p", {}, `Key ${created.keyId} (${created.name}) created. Its secret is shown this once: store it now.`),
        h("output", { id: "secret", class: "id" }, created.key),
        done,
      );
      name.input.value = "";
      announce(`Key ${created.keyId} created; its secret is shown once.`);
      await refresh(keys, usage);
    }, create);
  });
  return form;
}

async function refresh(keysOut, usageOut) {
  const { keys } = await api("GET", "/v1/keys");
  fill(keysOut,
    table(
      `${keys.length} key(s)`,
      ["Key", "Name", "Scopes", "Collections", "Rate / s", "Monthly quota", "Created", "State", "Actions"],
      keys.map((k) => ({
        attrs: { "data-key": k.keyId, "data-active": String(k.active) },
        cells: [
          h("code", { class: "id" }, k.keyId),
          k.name,
          k.scopes.join(", "),
          k.collections ? k.collections.join(", ") : "all",
          k.ratePerSecond ? String(k.ratePerSecond) : "—",
          k.monthlyQuota ? String(k.monthlyQuota) : "—",
          when(k.createdAt),
          k.active ? "active" : k.revokedAt ? `revoked ${when(k.revokedAt)}` : "expired",
          k.active
            ? dangerButton("Revoke", `Revoke key ${k.name}`, `Revoke the key ${k.name} (${k.keyId})? It stops working at once.`, async () => {
                await api("DELETE", `/v1/keys/${enc(k.keyId)}`);
                announce(`Key ${k.keyId} revoked.`);
                await refresh(keysOut, usageOut);
              })
            : "—",
        ],
      })),
      { id: "keys-table" },
    ),
  );
  const active = keys.filter((k) => k.active);
  const usages = await Promise.all(active.map((k) => api("GET", "/v1/usage", { query: { keyId: k.keyId } }).then((u) => ({ k, u }))));
  const month = usages.length ? usages[0].u.month : "";
  fill(usageOut,
    h("h3", {}, `Usage this month${month ? " (" + month + ")" : ""}`),
    usages.length
      ? bars(
          "Requests against each key's monthly quota",
          usages.map(({ k, u }) => ({
            label: k.name,
            value: u.requests,
            max: u.monthlyQuota || undefined,
            note: u.monthlyQuota ? `${u.requests} / ${u.monthlyQuota}` : `${u.requests}, no quota`,
          })),
          { cls: "usage" },
        )
      : h("p", {}, "No active keys."),
    usages.length ? h("p", { class: "hint" }, `Counts start again ${when(usages[0].u.resetsAt)}.`) : null,
  );
}

/** Prometheus text: [{name, labels, value}]. */
export function parseMetrics(body) {
  const out = [];
  for (const line of body.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const l of (m[3] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, "$1");
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

/** Per route: requests, and the latency quantiles from the histogram (linear within a bucket). */
function perRoute(samples) {
  const routes = new Map();
  const get = (l) => {
    const key = `${l.method} ${l.route}`;
    if (!routes.has(key)) routes.set(key, { key, requests: 0, buckets: [], sum: 0, count: 0 });
    return routes.get(key);
  };
  for (const s of samples) {
    if (s.name === "facegate_http_requests_total") get(s.labels).requests += s.value;
    else if (s.name === "facegate_http_request_duration_seconds_bucket") get(s.labels).buckets.push([s.labels.le === "+Inf" ? Infinity : Number(s.labels.le), s.value]);
    else if (s.name === "facegate_http_request_duration_seconds_sum") get(s.labels).sum = s.value;
    else if (s.name === "facegate_http_request_duration_seconds_count") get(s.labels).count = s.value;
  }
  for (const r of routes.values()) {
    r.buckets.sort((a, b) => a[0] - b[0]);
    r.p50 = quantile(r.buckets, 0.5);
    r.p95 = quantile(r.buckets, 0.95);
    r.mean = r.count ? r.sum / r.count : 0;
  }
  return [...routes.values()].filter((r) => r.requests > 0 || r.count > 0).sort((a, b) => b.requests - a.requests);
}

function quantile(buckets, q) {
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (!total) return 0;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1e-9, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

async function startMetrics(out) {
  const history = [];
  const sample = async () => {
    const routes = perRoute(parseMetrics(await text("/metrics")));
    history.push({ t: performance.now() / 1000, routes: new Map(routes.map((r) => [r.key, r.requests])) });
    if (history.length > 30) history.shift();
    drawMetrics(out, routes, history);
  };
  await sample();
  leave();
  timer = setInterval(() => sample().catch((e) => {
    leave();
    showError(e);
  }), 5000);
}

function drawMetrics(out, routes, history) {
  const top = routes.slice(0, 12);
  const rates = (key) => {
    const values = [];
    for (let i = 1; i < history.length; i++) {
      const dt = history[i].t - history[i - 1].t;
      values.push(dt > 0 ? ((history[i].routes.get(key) || 0) - (history[i - 1].routes.get(key) || 0)) / dt : 0);
    }
    return values;
  };
  fill(out,
    h("h3", {}, "Service metrics"),
    h("p", { class: "hint" }, "From /metrics, sampled every 5 seconds while this view is open."),
    h(
      "div",
      { class: "charts" },
      bars("Requests per route since start", top.map((r) => ({ label: r.key, value: r.requests })), { cls: "requests" }),
      bars("Latency per route, p95 (ms)", top.map((r) => ({ label: r.key, value: r.p95 * 1000, note: `${(r.p95 * 1000).toFixed(0)} ms, p50 ${(r.p50 * 1000).toFixed(0)}` })), { cls: "latency" }),
    ),
    h("div", { class: "sparks", id: "rate-charts" }, top.map((r) => sparkline(`${r.key}, requests/s`, rates(r.key)))),
  );
}

// Liveness sessions: the recent ones with status, confidence and challenges; one session's evidence per
// challenge (values, the frames that satisfied them), reasons, reference and audit images, a timeline.
import { api, imageUrl } from "./api.js";
import { h, guarded, announce, table, fmt, when, fill } from "./ui.js";
import { timeline } from "./draw.js";

const enc = encodeURIComponent;

export async function render(main) {
  const list = h("section", { id: "sessions-list", "aria-label": "Recent sessions" });
  const detail = h("section", { id: "session-detail", "aria-label": "Session" });
  const reload = h("button", { type: "button", id: "sessions-reload" }, "Reload");
  reload.addEventListener("click", () => guarded(() => refresh(list, detail), reload));
  main.append(h("div", { class: "actions" }, reload), list, detail);
  await refresh(list, detail);
}

async function refresh(list, detail) {
  const r = await api("GET", "/v1/liveness/sessions", { query: { limit: 50 } });
  fill(list,
    table(
      `${r.sessions.length} recent session(s)${r.nextToken ? " (newest 50)" : ""}`,
      ["Session", "Created", "Status", "Confidence", "Challenges", "Reasons", "Frames"],
      r.sessions.map((s) => ({
        attrs: { "data-session": s.sessionId, "data-status": s.status },
        cells: [
          h("button", { type: "button", class: "link", onclick: () => guarded(() => open(s.sessionId, detail)) }, h("code", { class: "id" }, s.sessionId)),
          when(s.createdAt),
          h("span", { class: "badge " + s.status.toLowerCase() }, s.status),
          s.confidence === null || s.confidence === undefined ? "—" : fmt(s.confidence),
          s.challenges.join(", "),
          s.reasons.length ? s.reasons.join(", ") : "—",
          String(s.framesReceived),
        ],
      })),
      { id: "sessions-table" },
    ),
  );
}

async function open(id, detail) {
  announce(`Loading session ${id}…`);
  const s = await api("GET", `/v1/liveness/sessions/${enc(id)}`);
  const r = s.result;
  const evidence = table(
    "Challenges and their evidence",
    ["#", "Challenge", "Passed", "Score", "Value", "Pass mark", "Frames that satisfied it", "Depth", "Took"],
    r.challenges.map((c, i) => ({
      attrs: { "data-kind": c.kind },
      cells: [
        String(i + 1),
        c.kind,
        c.passed ? "yes" : "no",
        fmt(c.score, 2),
        fmt(c.value, 3),
        fmt(c.threshold, 3),
        c.frames.length ? c.frames.join(", ") : "—",
        fmt(c.depth, 3),
        c.startedMs && c.completedMs ? `${((c.completedMs - c.startedMs) / 1000).toFixed(1)} s` : "—",
      ],
    })),
    { id: "evidence-table" },
  );
  const facts = h(
    "dl",
    { class: "facts" },
    h("dt", {}, "Status"), h("dd", { id: "session-status" }, s.status),
    h("dt", {}, "Confidence"), h("dd", {}, fmt(r.confidence)),
    h("dt", {}, "Reasons"), h("dd", { id: "session-reasons" }, r.reasons.length ? r.reasons.join(", ") : "none"),
    h("dt", {}, "Passive check"), h("dd", {}, r.passiveChecked ? `score ${fmt(r.passiveScore, 3)}` : "not run (challenges only)"),
    h("dt", {}, "Lowest similarity to the baseline"), h("dd", {}, fmt(r.minSimilarity)),
    h("dt", {}, "Frames"), h("dd", {}, Object.entries(r.frames).map(([k, v]) => `${k} ${v}`).join(", ")),
    h("dt", {}, "Created / expires"), h("dd", {}, `${when(s.createdAt)} / ${when(s.expiresAt)}`),
  );
  const images = h("div", { class: "session-images", id: "session-images" });
  fill(detail, h("h3", {}, `Session ${id}`), facts, evidence, timeline(s), h("h4", {}, "Reference and audit images"), images);
  if (!s.images.length) images.append(h("p", {}, "No images kept."));
  for (const path of s.images) {
    const name = path.split("/").pop();
    try {
      const url = await imageUrl(path);
      images.append(h("figure", { class: "session-image", "data-name": name }, h("img", { src: url, alt: `${name} image of session ${id}` }), h("figcaption", {}, name)));
    } catch (err) {
      images.append(h("p", {}, `${name}: ${err.message}`));
    }
  }
  announce(`Session ${id}: ${s.status}${r.reasons.length ? " (" + r.reasons.join(", ") + ")" : ""}.`);
  detail.querySelector("h3").scrollIntoView({ block: "start" });
}

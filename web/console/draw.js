// What Facegate sees, drawn as SVG over the photos, and the small charts (gauge, bars, sparkline, timeline).
import { h, s } from "./ui.js";

/**
 * A photo with an SVG layer in the image's pixels (the API's `image.width` x `image.height`).
 * Answers { el, svg }.
 */
export function figure(url, width, height, caption) {
  const img = h("img", { src: url, alt: caption, width, height });
  const svg = s("svg", { class: "overlay", viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none", "aria-hidden": "true" });
  const el = h("figure", { class: "photo" }, h("div", { class: "photo-frame" }, img, svg), h("figcaption", {}, caption));
  return { el, svg };
}

function iou(a, b) {
  const x1 = Math.max(a.x, b.x);
  const y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.width, b.x + b.width);
  const y2 = Math.min(a.y + a.height, b.y + b.height);
  const inter = Math.max(0, x2 - x1) * Math.max(0, y2 - y1);
  const union = a.width * a.height + b.width * b.height - inter;
  return union > 0 ? inter / union : 0;
}

/** Index of the face in `faces` whose box overlaps `box` most (or -1). */
export function sameFace(faces, box) {
  let best = -1;
  let bestIou = 0.3;
  faces.forEach((f, i) => {
    const v = iou(f.boundingBox, box);
    if (v > bestIou) {
      best = i;
      bestIou = v;
    }
  });
  return best;
}

/** A face's box, its 5 landmarks and a number label; `chosen` highlights it. */
export function drawFace(svg, face, index, { chosen = false } = {}) {
  const b = face.boundingBox;
  const [, , w, hgt] = (svg.getAttribute("viewBox") || "0 0 1000 1000").split(" ").map(Number);
  const stroke = Math.max(2, b.width / 60);
  const g = s("g", { class: chosen ? "face chosen" : "face", "data-face": index });
  g.append(s("rect", { class: "face-box", x: b.x, y: b.y, width: b.width, height: b.height }));
  const r = Math.max(b.width / 28, Math.max(w, hgt) / 160);
  for (const [name, p] of Object.entries(face.landmarks || {})) {
    g.append(s("circle", { class: "landmark", "data-name": name, cx: p.x, cy: p.y, r }));
  }
  const size = Math.max(14, b.width / 6);
  g.append(s("text", { class: "face-label", x: b.x + stroke, y: Math.max(size, b.y - stroke), "font-size": size }, String(index + 1)));
  svg.append(g);
  return g;
}

/** The 468 mesh points (and eyelid contours) of an analysed face. */
export function drawMesh(svg, landmarks, faceWidth) {
  const r = Math.max(1, faceWidth / 90);
  const g = s("g", { class: "mesh" });
  for (const [x, y] of landmarks.mesh || []) g.append(s("circle", { class: "mesh-point", cx: x, cy: y, r }));
  for (const lid of [landmarks.leftEyelids || [], landmarks.rightEyelids || []]) {
    if (lid.length) g.append(s("polyline", { class: "eyelid", points: lid.map((p) => p.join(",")).join(" ") }));
  }
  svg.append(g);
  return g;
}

/**
 * The similarity gauge: a half dial 0-120 with the threshold marked and the needle at the similarity.
 */
export function gauge(similarity, threshold, isMatch) {
  const max = 120;
  const angle = (v) => Math.PI * (1 - Math.min(max, Math.max(0, v)) / max);
  const pt = (v, r) => [100 + r * Math.cos(angle(v)), 100 - r * Math.sin(angle(v))];
  const arc = (from, to, cls) => {
    const [x1, y1] = pt(from, 80);
    const [x2, y2] = pt(to, 80);
    return s("path", { class: cls, d: `M ${x1} ${y1} A 80 80 0 0 1 ${x2} ${y2}` });
  };
  const [nx, ny] = pt(similarity, 70);
  const [t1x, t1y] = pt(threshold, 66);
  const [t2x, t2y] = pt(threshold, 94);
  return s(
    "svg",
    { class: "gauge " + (isMatch ? "match" : "no-match"), viewBox: "0 0 200 128", role: "img", "aria-label": `Similarity ${similarity.toFixed(1)} of threshold ${threshold}`, "data-similarity": similarity.toFixed(2) },
    arc(0, threshold, "gauge-low"),
    arc(threshold, max, "gauge-high"),
    s("line", { class: "gauge-threshold", x1: t1x, y1: t1y, x2: t2x, y2: t2y }),
    s("line", { class: "gauge-needle", x1: 100, y1: 100, x2: nx, y2: ny }),
    s("circle", { class: "gauge-hub", cx: 100, cy: 100, r: 5 }),
    s("text", { class: "gauge-value", x: 100, y: 124, "text-anchor": "middle" }, similarity.toFixed(1)),
  );
}

/** The false match rate a similarity stands for: similarity = 20 log10(1 / FMR). */
export function fmr(similarity) {
  return Math.pow(10, -similarity / 20);
}

/**
 * Horizontal bars: [{label, value, max?, note?}]; each bar's length is value / (max or the largest value).
 */
export function bars(title, items, { unit = "", cls = "" } = {}) {
  const rowH = 22;
  const labelW = 150;
  const valueW = 120;
  const width = 520;
  const top = Math.max(...items.map((i) => i.max || i.value), 0) || 1;
  const height = Math.max(1, items.length) * rowH + 4;
  const svg = s("svg", { class: "chart bars " + cls, viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": title });
  items.forEach((item, i) => {
    const y = i * rowH + 2;
    const scale = item.max || top;
    const w = Math.max(1, ((width - labelW - valueW) * Math.min(item.value, scale)) / scale);
    const g = s("g", { class: "bar", "data-label": item.label, "data-value": item.value });
    g.append(s("text", { class: "bar-label", x: 0, y: y + 15 }, item.label.length > 22 ? item.label.slice(0, 21) + "…" : item.label));
    if (item.max) g.append(s("rect", { class: "bar-track", x: labelW, y: y + 3, width: width - labelW - valueW, height: rowH - 8 }));
    g.append(s("rect", { class: "bar-fill", x: labelW, y: y + 3, width: w, height: rowH - 8 }));
    g.append(s("text", { class: "bar-value", x: width - valueW + 6, y: y + 15 }, item.note || `${fmtNum(item.value)}${unit}`));
    g.append(s("title", {}, `${item.label}: ${item.note || fmtNum(item.value) + unit}`));
    svg.append(g);
  });
  return h("figure", { class: "chart-box" }, h("figcaption", {}, title), svg);
}

function fmtNum(v) {
  if (v >= 100) return Math.round(v).toString();
  if (v >= 10) return v.toFixed(1);
  return v.toFixed(2);
}

/** A sparkline of values over time. */
export function sparkline(title, values, { unit = "" } = {}) {
  const width = 220;
  const height = 50;
  const top = Math.max(...values, 0) || 1;
  const step = values.length > 1 ? width / (values.length - 1) : width;
  const points = values.map((v, i) => `${(i * step).toFixed(1)},${(height - 4 - ((height - 8) * v) / top).toFixed(1)}`).join(" ");
  const last = values.length ? values[values.length - 1] : 0;
  return h(
    "figure",
    { class: "chart-box spark" },
    h("figcaption", {}, `${title}: ${fmtNum(last)}${unit}`),
    s("svg", { class: "chart sparkline", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": `${title}, last ${fmtNum(last)}${unit}` }, s("polyline", { class: "spark-line", points: values.length > 1 ? points : `0,${height - 4} ${width},${height - 4}` })),
  );
}

/**
 * A session's frames on a line: each frame a tick; rows for the challenges with the frames that satisfied
 * them; the baseline and reference frames marked.
 */
export function timeline(session) {
  const r = session.result || {};
  const received = (r.frames && r.frames.received) || 0;
  const rows = r.challenges || [];
  const left = 110;
  const width = 620;
  const rowH = 20;
  const n = Math.max(received, 1);
  const x = (i) => left + ((width - left - 10) * (i + 0.5)) / n;
  const height = (rows.length + 2) * rowH + 10;
  const svg = s("svg", { class: "chart timeline", viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": `Timeline of ${received} frames` });
  svg.append(s("text", { class: "bar-label", x: 0, y: 15 }, "frames"));
  for (let i = 0; i < received; i++) {
    const cls = i === r.referenceFrame ? "tick reference" : "tick";
    svg.append(s("rect", { class: cls, "data-frame": i, x: x(i) - 1.5, y: 4, width: 3, height: 14 }, s("title", {}, i === r.referenceFrame ? `frame ${i} (reference)` : `frame ${i}`)));
  }
  rows.forEach((c, k) => {
    const y = (k + 1) * rowH + 4;
    svg.append(s("text", { class: "bar-label", x: 0, y: y + 11 }, c.kind));
    for (const f of c.frames || []) {
      svg.append(s("circle", { class: c.passed ? "evidence passed" : "evidence", "data-frame": f, cx: x(f), cy: y + 7, r: 5 }, s("title", {}, `${c.kind}: frame ${f}`)));
    }
  });
  const y = (rows.length + 1) * rowH + 4;
  svg.append(s("text", { class: "bar-label", x: 0, y: y + 11 }, `${received} received`));
  return h("figure", { class: "chart-box wide" }, h("figcaption", {}, "Timeline of frames"), svg);
}

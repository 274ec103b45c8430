// Compare two photos (every face drawn, the chosen ones highlighted, the similarity on a gauge with its false
// match rate and the threshold, the quality issues) and analyse one (pose, eyes, smile, expressions, the mesh).
import { api } from "./api.js";
import { h, dropZone, guarded, announce, table, fmt } from "./ui.js";
import { figure, drawFace, drawMesh, gauge, fmr, sameFace, bars } from "./draw.js";

function facesTable(caption, faces, chosen, extra = () => []) {
  return table(
    caption,
    ["Face", "Box (x, y, w, h)", "Detection", "Quality", "Issues", ...extra(null)],
    faces.map((f, i) => ({
      attrs: { class: i === chosen ? "chosen" : null },
      cells: [
        `${i + 1}${i === chosen ? " (chosen)" : ""}`,
        `${Math.round(f.boundingBox.x)}, ${Math.round(f.boundingBox.y)}, ${Math.round(f.boundingBox.width)}, ${Math.round(f.boundingBox.height)}`,
        fmt(f.confidence, 2),
        fmt(f.quality.score, 2),
        f.quality.issues.length ? f.quality.issues.join(", ") : "none",
        ...extra(f),
      ],
    })),
    { class: "faces" },
  );
}

function photo(file, detected, chosen, caption, id) {
  const fig = figure(URL.createObjectURL(file), detected.image.width, detected.image.height, caption);
  fig.el.id = id;
  detected.faces.forEach((f, i) => drawFace(fig.svg, f, i, { chosen: i === chosen }));
  return fig;
}

export async function render(main) {
  const a = dropZone("Photo A (source)", { name: "source" });
  const b = dropZone("Photo B (target)", { name: "target" });
  const compareBtn = h("button", { type: "submit", id: "compare-run" }, "Compare");
  const meshBox = h("input", { type: "checkbox", id: "mesh" });
  const analyseBtn = h("button", { type: "button", id: "analyse-run" }, "Analyse photo A");
  const result = h("section", { id: "compare-result", "aria-label": "Comparison" });
  const analysis = h("section", { id: "analysis-result", "aria-label": "Analysis" });
  const form = h(
    "form",
    { class: "panel" },
    h("p", { class: "hint" }, "Drop two photos to compare the face of A with every face of B; or analyse the faces of A."),
    h("div", { class: "drops" }, a.el, b.el),
    h("div", { class: "actions" }, compareBtn, analyseBtn, h("label", { class: "check" }, meshBox, " Draw the face mesh")),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(() => runCompare(a.files()[0], b.files()[0], result), compareBtn);
  });
  analyseBtn.addEventListener("click", () => guarded(() => runAnalysis(a.files()[0], meshBox.checked, analysis), analyseBtn));
  main.append(form, result, analysis);
}

async function runCompare(source, target, out) {
  if (!source || !target) throw new Error("Choose two photos first.");
  announce("Comparing…");
  out.replaceChildren();
  const [da, db, cmp] = await Promise.all([
    api("POST", "/v1/detect", { form: { image: source } }),
    api("POST", "/v1/detect", { form: { image: target } }),
    api("POST", "/v1/compare", { form: { source, target, targetFaces: "all" } }),
  ]);
  const candidates = [...(cmp.faceMatches || []), ...(cmp.unmatchedFaces || [])].sort((x, y) => y.similarity - x.similarity);
  const best = candidates[0];
  const chosenA = sameFace(da.faces, cmp.sourceFace.boundingBox);
  const chosenB = best ? sameFace(db.faces, best.face.boundingBox) : -1;
  const similarity = best ? best.similarity : cmp.similarity;
  const isMatch = similarity >= cmp.threshold;
  const rate = fmr(similarity);
  const simOf = (f) => {
    if (!f) return ["Similarity to A"];
    const c = candidates.find((m) => sameFace([f], m.face.boundingBox) === 0);
    return [c ? fmt(c.similarity) : "—"];
  };
  const verdict = h(
    "div",
    { class: "verdict " + (isMatch ? "match" : "no-match"), id: "verdict" },
    gauge(similarity, cmp.threshold, isMatch),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Similarity"), h("dd", { id: "similarity" }, fmt(similarity)),
      h("dt", {}, "False match rate"), h("dd", { id: "fmr" }, rate >= 1 ? "1" : `1 in ${Math.round(1 / rate).toLocaleString()} (${rate.toExponential(1)})`),
      h("dt", {}, "Threshold"), h("dd", { id: "threshold" }, `${fmt(cmp.threshold)} (FMR ${fmr(cmp.threshold).toExponential(0)})`),
      h("dt", {}, "Verdict"), h("dd", { id: "is-match" }, isMatch ? "Same person" : "Not the same person"),
      h("dt", {}, "Model"), h("dd", {}, cmp.faceModel),
    ),
  );
  out.append(
    h("h3", {}, "Comparison"),
    h("div", { class: "photos" }, photo(source, da, chosenA, `A: ${source.name}, ${da.faces.length} face(s)`, "photo-a").el, photo(target, db, chosenB, `B: ${target.name}, ${db.faces.length} face(s)`, "photo-b").el),
    verdict,
    facesTable("Faces of photo A", da.faces, chosenA),
    facesTable("Faces of photo B", db.faces, chosenB, simOf),
  );
  announce(`Compared: similarity ${fmt(similarity)}, ${isMatch ? "a match" : "no match"} at threshold ${fmt(cmp.threshold)}.`);
}

async function runAnalysis(file, mesh, out) {
  if (!file) throw new Error("Choose photo A first.");
  announce("Analysing…");
  out.replaceChildren();
  const r = await api("POST", "/v1/analyze", { form: { image: file, landmarks: mesh ? "true" : "false" } });
  const fig = figure(URL.createObjectURL(file), r.image.width, r.image.height, `${file.name}: ${r.faces.length} face(s) analysed`);
  fig.el.id = "analysis-photo";
  r.faces.forEach((f, i) => {
    drawFace(fig.svg, f.face, i);
    if (f.landmarks) drawMesh(fig.svg, f.landmarks, f.face.boundingBox.width);
  });
  const rows = r.faces.map((f, i) => ({
    cells: [
      String(i + 1),
      `${fmt(f.pose.yaw)}° / ${fmt(f.pose.pitch)}° / ${fmt(f.pose.roll)}°`,
      `${fmt(f.eyes.left.openness, 2)} / ${fmt(f.eyes.right.openness, 2)}${f.eyes.closed ? " (closed)" : " (open)"}`,
      `${fmt(f.smile.probability, 2)}${f.smile.smiling ? " (smiling)" : ""}`,
      fmt(f.mouth.openness, 2),
      f.face.quality.issues.length ? f.face.quality.issues.join(", ") : "none",
    ],
  }));
  out.append(
    h("h3", {}, "Analysis"),
    h("div", { class: "photos" }, fig.el),
    table("Signals per face", ["Face", "Yaw / pitch / roll", "Eyes left / right", "Smile", "Mouth open", "Issues"], rows, { id: "analysis-table" }),
    ...r.faces.map((f, i) =>
      bars(`Face ${i + 1}: expressions`, Object.entries(f.expressions).map(([label, value]) => ({ label, value, max: 1 })), { cls: "expressions" }),
    ),
  );
  announce(`Analysed ${r.faces.length} face(s)${mesh ? " with the mesh" : ""}.`);
}

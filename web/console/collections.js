// Collections: list, create, delete; a collection's faces (thumbnails of stored images, external ids,
// metadata), enrolment by dropping photos (with progress), search by photo, deleting faces.
import { api, all, imageUrl } from "./api.js";
import { h, dropZone, guarded, announce, table, field, progressBar, fmt, when } from "./ui.js";
import { figure, drawFace } from "./draw.js";

const enc = encodeURIComponent;

export async function render(main) {
  const list = h("section", { id: "collections-list", "aria-label": "Collections" });
  const detail = h("section", { id: "collection-detail", "aria-label": "Collection" });
  const id = field("Collection id", { name: "collectionId", required: true, autocomplete: "off" });
  const description = field("Description", { name: "description", autocomplete: "off" });
  const create = h("button", { type: "submit", id: "collection-create" }, "Create collection");
  const form = h("form", { class: "panel inline" }, id.el, description.el, create);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const c = await api("POST", "/v1/collections", { json: { collectionId: id.input.value.trim(), description: description.input.value.trim() || undefined } });
      announce(`Collection ${c.collectionId} created.`);
      id.input.value = "";
      description.input.value = "";
      await refresh(list, detail);
    }, create);
  });
  main.append(form, list, detail);
  await refresh(list, detail);
}

async function refresh(list, detail) {
  const collections = await all("/v1/collections", "collections");
  list.replaceChildren(
    table(
      `${collections.length} collection(s)`,
      ["Collection", "Faces", "Model", "Created", "Actions"],
      collections.map((c) => ({
        attrs: { "data-collection": c.collectionId },
        cells: [
          h("button", { type: "button", class: "link", onclick: () => guarded(() => open(c.collectionId, detail, () => refresh(list, detail))) }, c.collectionId),
          String(c.faceCount),
          c.faceModel,
          when(c.createdAt),
          h("button", {
            type: "button",
            class: "danger",
            "aria-label": `Delete collection ${c.collectionId}`,
            onclick: (e) =>
              guarded(async () => {
                if (!confirm(`Delete the collection ${c.collectionId} and its ${c.faceCount} face(s)?`)) return;
                const r = await api("DELETE", `/v1/collections/${enc(c.collectionId)}`);
                announce(`Collection ${r.collectionId} deleted with ${r.deletedFaces} face(s).`);
                if (detail.dataset.collection === c.collectionId) detail.replaceChildren();
                await refresh(list, detail);
              }, e.currentTarget),
          }, "Delete"),
        ],
      })),
      { id: "collections-table" },
    ),
  );
}

async function open(collectionId, detail, changed) {
  detail.dataset.collection = collectionId;
  const faces = h("div", { id: "faces" });
  const results = h("div", { id: "search-result" });
  const enrollDrop = dropZone("Photos to enroll", { multiple: true, name: "enroll" });
  const externalId = field("External id (empty: each file's name)", { name: "externalId", autocomplete: "off" });
  const metadata = field("Metadata (JSON object, optional)", { name: "metadata", rows: 2, placeholder: '{"team": "ops"}' });
  const store = h("input", { type: "checkbox", checked: true, id: "store-image" });
  const progress = progressBar("Enrolment progress");
  const enrollBtn = h("button", { type: "submit", id: "enroll-run" }, "Enroll");
  const enrollForm = h("form", { class: "panel", "aria-label": "Enroll faces" }, h("h4", {}, "Enroll"), enrollDrop.el, externalId.el, metadata.el, h("label", { class: "check" }, store, " Keep the images (for thumbnails)"), enrollBtn, progress.el);
  enrollForm.addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const files = enrollDrop.files();
      if (!files.length) throw new Error("Choose photos to enroll first.");
      let meta;
      if (metadata.input.value.trim()) {
        try {
          meta = JSON.parse(metadata.input.value);
        } catch (err) {
          throw new Error(`The metadata is not JSON: ${err.message}`);
        }
      }
      let indexed = 0;
      const refused = [];
      for (let i = 0; i < files.length; i++) {
        progress.set(i, files.length, files[i].name);
        announce(`Enrolling ${i + 1} of ${files.length}: ${files[i].name}`);
        const ext = externalId.input.value.trim() || files[i].name.replace(/\.[^.]*$/, "");
        try {
          const r = await api("POST", `/v1/collections/${enc(collectionId)}/faces`, {
            form: { image: files[i], externalId: ext, metadata: meta ? JSON.stringify(meta) : undefined, storeImage: store.checked ? "true" : "false" },
          });
          indexed += r.faceRecords.length;
          for (const u of r.unindexedFaces) refused.push(`${files[i].name}: ${u.reasons.join(", ")}`);
        } catch (err) {
          refused.push(`${files[i].name}: ${err.message}`);
        }
      }
      progress.set(files.length, files.length, "done");
      enrollDrop.clear();
      announce(`Enrolled ${indexed} face(s) from ${files.length} photo(s)${refused.length ? "; not enrolled: " + refused.join("; ") : "."}`);
      await listFaces(collectionId, faces, changed);
      await changed();
    }, enrollBtn);
  });

  const searchDrop = dropZone("Photo to search with", { name: "probe" });
  const searchBtn = h("button", { type: "submit", id: "search-run" }, "Search");
  const searchForm = h("form", { class: "panel", "aria-label": "Search by photo" }, h("h4", {}, "Search"), searchDrop.el, searchBtn);
  searchForm.addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(() => search(collectionId, searchDrop.files()[0], results), searchBtn);
  });
  detail.replaceChildren(h("h3", {}, `Collection ${collectionId}`), h("div", { class: "columns" }, enrollForm, searchForm), results, faces);
  await listFaces(collectionId, faces, changed);
  detail.querySelector("h3").scrollIntoView({ block: "start" });
}

async function listFaces(collectionId, out, changed) {
  const faces = await all(`/v1/collections/${enc(collectionId)}/faces`, "faces");
  const rows = faces.map((f) => {
    const thumb = h("span", { class: "thumb" }, f.imageStored ? "…" : "no image");
    if (f.imageStored) {
      imageUrl(`/v1/collections/${enc(collectionId)}/faces/${f.faceId}/image`)
        .then((url) => thumb.replaceChildren(h("img", { src: url, alt: `Stored image of ${f.externalId || f.faceId}` })))
        .catch((err) => (thumb.textContent = err.message));
    }
    return {
      attrs: { "data-face-id": f.faceId },
      cells: [
        thumb,
        f.externalId || "—",
        h("code", { class: "id" }, f.faceId),
        f.metadata ? h("code", {}, JSON.stringify(f.metadata)) : "—",
        f.userId || "—",
        fmt(f.quality, 2),
        when(f.createdAt),
        h("button", {
          type: "button",
          class: "danger",
          "aria-label": `Delete face ${f.externalId || f.faceId}`,
          onclick: (e) =>
            guarded(async () => {
              await api("DELETE", `/v1/collections/${enc(collectionId)}/faces/${f.faceId}`);
              announce(`Face ${f.externalId || f.faceId} deleted.`);
              await listFaces(collectionId, out, changed);
              await changed();
            }, e.currentTarget),
        }, "Delete"),
      ],
    };
  });
  out.replaceChildren(table(`${faces.length} face(s) in ${collectionId}`, ["Image", "External id", "Face id", "Metadata", "User", "Quality", "Enrolled", "Actions"], rows, { id: "faces-table" }));
}

async function search(collectionId, file, out) {
  if (!file) throw new Error("Choose a photo to search with first.");
  announce("Searching…");
  const r = await api("POST", `/v1/collections/${enc(collectionId)}/search`, { form: { image: file, maxResults: "10" } });
  const fig = figure(URL.createObjectURL(file), r.image.width, r.image.height, `Probe: ${file.name}`);
  r.results.forEach((res, i) => drawFace(fig.svg, res.searchedFace, i, { chosen: true }));
  const matches = r.results.flatMap((res) => res.matches);
  out.replaceChildren(
    h("h4", {}, "Search result"),
    h("div", { class: "photos" }, fig.el),
    table(
      `${matches.length} match(es) at threshold ${fmt(r.threshold)}`,
      ["Rank", "External id", "Similarity", "Face id", "Metadata"],
      matches.map((m, i) => ({ attrs: { "data-external-id": m.externalId || "" }, cells: [String(i + 1), m.externalId || "—", fmt(m.similarity), h("code", { class: "id" }, m.faceId), m.metadata ? JSON.stringify(m.metadata) : "—"] })),
      { id: "matches-table" },
    ),
  );
  announce(matches.length ? `Best match: ${matches[0].externalId || matches[0].faceId} at ${fmt(matches[0].similarity)}.` : "No match above the threshold.");
}

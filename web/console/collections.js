// Collections: list, create, delete; a collection's faces (thumbnails of stored images, external ids,
// metadata), enrolment by dropping photos (with progress), search by photo, deleting faces; the collection's
// users (Rekognition's Users: your own ids grouping faces): create, delete, associate and disassociate faces.
import { api, all, imageUrl } from "./api.js";
import { h, dropZone, guarded, dangerButton, announce, table, field, progressBar, fmt, when, fill } from "./ui.js";
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
  fill(list,
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
          dangerButton("Delete", `Delete collection ${c.collectionId}`, `Delete the collection ${c.collectionId} and its ${c.faceCount} face(s)?`, async () => {
            const r = await api("DELETE", `/v1/collections/${enc(c.collectionId)}`);
            announce(`Collection ${r.collectionId} deleted with ${r.deletedFaces} face(s).`);
            if (detail.dataset.collection === c.collectionId) detail.replaceChildren();
            await refresh(list, detail);
          }),
        ],
      })),
      { id: "collections-table" },
    ),
  );
}

async function open(collectionId, detail, changed) {
  detail.dataset.collection = collectionId;
  const faces = h("div", { id: "faces" });
  const users = h("div", { id: "collection-users" });
  const reload = () => listFaces(collectionId, faces, users, changed);
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
      await reload();
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
  const userId = field("User id", { name: "collectionUserId", required: true, autocomplete: "off" });
  const createUser = h("button", { type: "submit", id: "collection-user-create" }, "Create user");
  const userForm = h("form", { class: "panel inline", "aria-label": "Create a user in this collection" }, userId.el, createUser);
  userForm.addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const u = await api("POST", `/v1/collections/${enc(collectionId)}/users`, { json: { userId: userId.input.value.trim() } });
      announce(`User ${u.userId} created in ${collectionId}.`);
      userId.input.value = "";
      await reload();
    }, createUser);
  });
  const usersSection = h("section", { "aria-label": "Users of this collection" }, h("h4", {}, "Users"), h("p", { class: "hint" }, "Your own ids grouping this collection's faces (Rekognition's Users); not the users of face login."), userForm, users);
  fill(detail, h("h3", {}, `Collection ${collectionId}`), h("div", { class: "columns" }, enrollForm, searchForm), results, faces, usersSection);
  await reload();
  detail.querySelector("h3").scrollIntoView({ block: "start" });
}

async function listFaces(collectionId, out, usersOut, changed) {
  const [faces, users] = await Promise.all([
    all(`/v1/collections/${enc(collectionId)}/faces`, "faces"),
    all(`/v1/collections/${enc(collectionId)}/users`, "users"),
  ]);
  const reload = () => listFaces(collectionId, out, usersOut, changed);
  listUsers(collectionId, users, usersOut, reload);
  const rows = faces.map((f) => {
    const thumb = h("span", { class: "thumb" }, f.imageStored ? "…" : "no image");
    if (f.imageStored) {
      imageUrl(`/v1/collections/${enc(collectionId)}/faces/${f.faceId}/image`)
        .then((url) => fill(thumb, h("img", { src: url, alt: `Stored image of ${f.externalId || f.faceId}` })))
        .catch((err) => (thumb.textContent = err.message));
    }
    return {
      attrs: { "data-face-id": f.faceId },
      cells: [
        thumb,
        f.externalId || "—",
        h("code", { class: "id" }, f.faceId),
        f.metadata ? h("code", {}, JSON.stringify(f.metadata)) : "—",
        userCell(collectionId, f, users, reload),
        fmt(f.quality, 2),
        when(f.createdAt),
        dangerButton("Delete", `Delete face ${f.externalId || f.faceId}`, null, async () => {
          await api("DELETE", `/v1/collections/${enc(collectionId)}/faces/${f.faceId}`);
          announce(`Face ${f.externalId || f.faceId} deleted.`);
          await reload();
          await changed();
        }),
      ],
    };
  });
  fill(out, table(`${faces.length} face(s) in ${collectionId}`, ["Image", "External id", "Face id", "Metadata", "User", "Quality", "Enrolled", "Actions"], rows, { id: "faces-table" }));
}

const REFUSALS = { face_not_found: "not in the collection", associated_to_another_user: "another user's face", low_match: "too unlike the user's faces" };

/** What a face's user cell holds: its user with a button to disassociate it, or a choice of user to associate. */
function userCell(collectionId, face, users, reload) {
  const name = face.externalId || face.faceId;
  if (face.userId) {
    return h("span", { class: "user-of-face" }, face.userId, " ",
      h("button", {
        type: "button",
        class: "link",
        "aria-label": `Disassociate face ${name} from ${face.userId}`,
        onclick: (e) =>
          guarded(async () => {
            const r = await api("POST", `/v1/collections/${enc(collectionId)}/users/${enc(face.userId)}/disassociate`, { json: { faceIds: [face.faceId] } });
            announce(`Face ${name} disassociated from ${face.userId} (${r.faceCount} face(s) left).`);
            await reload();
          }, e.currentTarget),
      }, "Disassociate"));
  }
  if (!users.length) return "—";
  const choice = h("select", { name: "associate-user", "aria-label": `User for face ${name}` }, users.map((u) => h("option", { value: u.userId }, u.userId)));
  return h("span", { class: "user-of-face" }, choice, " ",
    h("button", {
      type: "button",
      "aria-label": `Associate face ${name}`,
      onclick: (e) =>
        guarded(async () => {
          const user = choice.value;
          const r = await api("POST", `/v1/collections/${enc(collectionId)}/users/${enc(user)}/associate`, { json: { faceIds: [face.faceId] } });
          const refused = r.refusedFaces.map((x) => REFUSALS[x.reason] || x.reason);
          announce(refused.length ? `Face ${name} not associated with ${user}: ${refused.join(", ")}.` : `Face ${name} associated with ${user} (${r.faceCount} face(s)).`);
          await reload();
        }, e.currentTarget),
    }, "Associate"));
}

function listUsers(collectionId, users, out, reload) {
  fill(out,
    table(
      `${users.length} user(s) in ${collectionId}`,
      ["User", "Status", "Faces", "Created", "Actions"],
      users.map((u) => ({
        attrs: { "data-user-id": u.userId },
        cells: [
          u.userId,
          u.status,
          String(u.faceCount),
          when(u.createdAt),
          dangerButton("Delete", `Delete user ${u.userId}`, `Delete the user ${u.userId}? Its ${u.faceCount} face(s) stay in the collection.`, async () => {
            const r = await api("DELETE", `/v1/collections/${enc(collectionId)}/users/${enc(u.userId)}`);
            announce(`User ${r.userId} deleted; ${r.disassociatedFaces} face(s) stay without a user.`);
            await reload();
          }),
        ],
      })),
      { id: "collection-users-table" },
    ),
  );
}

async function search(collectionId, file, out) {
  if (!file) throw new Error("Choose a photo to search with first.");
  announce("Searching…");
  const r = await api("POST", `/v1/collections/${enc(collectionId)}/search`, { form: { image: file, maxResults: "10" } });
  const fig = figure(URL.createObjectURL(file), r.image.width, r.image.height, `Probe: ${file.name}`);
  r.results.forEach((res, i) => drawFace(fig.svg, res.searchedFace, i, { chosen: true }));
  const matches = r.results.flatMap((res) => res.matches);
  fill(out,
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

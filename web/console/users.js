// Users of face login: list, register (one or more photos), add faces, delete.
import { api, all } from "./api.js";
import { h, dropZone, guarded, dangerButton, announce, table, field, when, fill } from "./ui.js";

const enc = encodeURIComponent;

export async function render(main) {
  const list = h("section", { id: "users-list", "aria-label": "Users" });
  const userId = field("User id", { name: "userId", required: true, autocomplete: "off" });
  const fullName = field("Full name", { name: "fullName", autocomplete: "off" });
  const email = field("Email", { name: "email", type: "email", autocomplete: "off" });
  const photos = dropZone("Face photos", { multiple: true, name: "images" });
  const register = h("button", { type: "submit", id: "user-register" }, "Register");
  const form = h("form", { class: "panel", "aria-label": "Register a user" }, h("h3", {}, "Register a user"), h("div", { class: "inline" }, userId.el, fullName.el, email.el), photos.el, register);
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    guarded(async () => {
      const files = photos.files();
      if (!files.length) throw new Error("Choose at least one face photo.");
      announce(`Registering ${userId.input.value.trim()} with ${files.length} photo(s)…`);
      const u = await api("POST", "/v1/users", {
        form: { userId: userId.input.value.trim(), fullName: fullName.input.value.trim() || undefined, email: email.input.value.trim() || undefined, images: files },
      });
      announce(`User ${u.userId} registered with ${u.faceCount} face(s).`);
      for (const f of [userId, fullName, email]) f.input.value = "";
      photos.clear();
      await refresh(list);
    }, register);
  });
  main.append(form, list);
  await refresh(list);
}

async function refresh(list) {
  const users = await all("/v1/users", "users");
  fill(list,
    table(
      `${users.length} user(s)`,
      ["User", "Name", "Email", "Faces", "Registered", "Add a face", "Actions"],
      users.map((u) => {
        const add = h("input", { type: "file", accept: "image/*", "aria-label": `Add a face photo to ${u.userId}` });
        add.addEventListener("change", () =>
          guarded(async () => {
            if (!add.files.length) return;
            announce(`Adding a face to ${u.userId}…`);
            const r = await api("POST", `/v1/users/${enc(u.userId)}/faces`, { form: { image: add.files[0] } });
            announce(`Added ${r.faces.length} face(s) to ${u.userId}.`);
            await refresh(list);
          }, add),
        );
        return {
          attrs: { "data-user": u.userId },
          cells: [
            u.userId,
            u.fullName || "—",
            u.email || "—",
            String(u.faceCount),
            when(u.createdAt),
            add,
            dangerButton("Delete", `Delete user ${u.userId}`, `Delete the user ${u.userId} with their faces?`, async () => {
              const r = await api("DELETE", `/v1/users/${enc(u.userId)}`);
              announce(`User ${r.userId} deleted with ${r.deletedFaces} face(s).`);
              await refresh(list);
            }),
          ],
        };
      }),
      { id: "users-table" },
    ),
  );
}

// The demo page: creates a session with the typed API key, runs it, shows the result and the reference image.
import { startLiveness } from "/sdk/facegate-liveness.js";

const form = document.getElementById("start");
const message = document.getElementById("message");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const key = document.getElementById("key").value.trim();
  const kinds = document.getElementById("challenges").value;
  const headers = { "content-type": "application/json" };
  if (key) headers.authorization = `Bearer ${key}`;
  const body = kinds ? { challenges: kinds.split(","), auditImagesLimit: 1 } : { auditImagesLimit: 1 };
  message.textContent = "Creating a session…";
  const r = await fetch("/v1/liveness/sessions", { method: "POST", headers, body: JSON.stringify(body) });
  const session = await r.json();
  if (!r.ok) {
    message.textContent = `Could not create a session: ${session.error ? session.error.message : r.status}`;
    message.className = "error";
    return;
  }
  message.textContent = "";
  form.hidden = true;
  const run = startLiveness(document.getElementById("liveness"), {
    sessionId: session.sessionId,
    sessionToken: session.sessionToken,
    baseUrl: "",
  });
  const result = await run.done;
  if (result && result.referenceImage) {
    const img = await fetch(result.referenceImage, { headers });
    if (img.ok) {
      const el = document.createElement("img");
      el.alt = "Reference image: the most frontal frame of the check";
      el.src = URL.createObjectURL(await img.blob());
      document.getElementById("reference").replaceChildren(el);
    }
  }
});

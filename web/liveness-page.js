// The complete liveness page: the session comes in the URL fragment (never sent to servers in logs):
//   /liveness#session=SESSION_ID&token=SESSION_TOKEN
import { startLiveness } from "/sdk/facegate-liveness.js";

const params = new URLSearchParams(location.hash.slice(1));
const sessionId = params.get("session");
const sessionToken = params.get("token");
const target = document.getElementById("liveness");
if (!sessionId || !sessionToken) {
  target.textContent = "This page needs a liveness session: open it as /liveness#session=ID&token=TOKEN.";
  target.setAttribute("role", "alert");
} else {
  startLiveness(target, { sessionId, sessionToken, baseUrl: "" });
}

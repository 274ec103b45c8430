// Facegate liveness client: camera, challenge UI, frames to the server, the server's feedback drawn on top.
// Plain ES module, no dependencies. The server decides everything; this only shows and sends.
//
//   import { startLiveness } from "/sdk/facegate-liveness.js";
//   const run = startLiveness(element, { sessionId, sessionToken, baseUrl, onResult });
//   run.stop();
//
// Only the session token is needed (it can send frames to its own session and read its status, nothing else).

const INSTRUCTIONS = {
  face_not_found: "We can't see your face. Look at the camera.",
  one_face_only: "Only one face, please.",
  move_closer: "Move closer to the camera.",
  center_face: "Bring your face into the area on the screen.",
  more_light: "Find more light, and hold still.",
  look_at_camera: "Look straight at the camera.",
  open_your_eyes: "Open your eyes.",
  blink: "Blink: close both eyes for a moment.",
  open_eyes_again: "Now open your eyes.",
  smile: "Smile!",
  turn_left: "Turn your head to your left.",
  turn_right: "Turn your head to your right.",
  look_up: "Look up a little.",
  look_down: "Look down a little.",
  move_nose_to_target: "Move your head until your nose is inside the box.",
  hold_still: "Hold still.",
  done: "Done.",
};

const REASONS = {
  identity_changed: "a different person appeared during the check",
  spoof_detected: "the camera seems to show a photo or a screen",
  too_many_bad_frames: "the face was not visible clearly enough",
  challenge_timeout: "a step took too long",
  too_many_frames: "the check took too long",
  flat_motion: "the head did not turn: the camera seems to show a photo or a screen moved around",
  still_picture: "the camera showed the same picture again",
  scene_cut: "the camera's view jumped to another picture: it seems to show a series of photos",
  replayed_frames: "the camera sent a recording of an earlier check",
  passive_check_unavailable: "this service cannot check for photos and screens, so it cannot confirm liveness",
};


function el(tag, attrs = {}, text) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Starts a liveness check in `element`. Returns { stop(), done } where `done` resolves with the result. */
export function startLiveness(element, options) {
  const { sessionId, sessionToken, baseUrl = "", fps = 5, transport = "auto" } = options;
  const onResult = options.onResult || (() => {});
  const onStatus = options.onStatus || (() => {});
  if (!sessionId || !sessionToken) throw new Error("startLiveness needs sessionId and sessionToken");

  if (!document.getElementById("fgl-style")) {
    // A stylesheet rather than inline styles, so pages with a strict Content-Security-Policy can embed it.
    const link = el("link", { id: "fgl-style", rel: "stylesheet", href: `${baseUrl.replace(/\/$/, "")}/sdk/facegate-liveness.css` });
    document.head.append(link);
  }
  const root = el("section", { class: "fgl", "aria-label": "Liveness check" });
  const stage = el("div", { class: "fgl-stage" });
  const video = el("video", { autoplay: "", muted: "", playsinline: "", "aria-hidden": "true" });
  const overlay = el("canvas", { "aria-hidden": "true" });
  stage.append(video, overlay);
  const instruction = el("p", { class: "fgl-instruction", role: "status", "aria-live": "polite" }, "Starting the camera…");
  const progress = el("progress", { class: "fgl-progress", max: "1", value: "0", "aria-label": "Progress" });
  const steps = el("ol", { class: "fgl-steps", "aria-label": "Steps" });
  const result = el("div", { class: "fgl-result", role: "alert", hidden: "" });
  root.append(stage, instruction, progress, steps, result);
  element.replaceChildren(root);

  const api = baseUrl.replace(/\/$/, "");
  const auth = { authorization: `Bearer ${sessionToken}` };
  const capture = document.createElement("canvas");
  let stream = null;
  let socket = null;
  let stopped = false;
  let lastTimestamp = -1;
  let nextSequence = 0;
  let createdAt = Date.now();
  let challenges = [];
  let finish;
  const done = new Promise((resolve) => (finish = resolve));

  const say = (text) => {
    if (instruction.textContent !== text) instruction.textContent = text;
  };

  function showResult(status, reasons, confidence) {
    result.hidden = false;
    result.dataset.status = status;
    const why = (reasons || []).map((r) => REASONS[r] || r).join("; ");
    result.textContent =
      status === "SUCCEEDED"
        ? `Verified — you are live (confidence ${Math.round(confidence)}).`
        : status === "EXPIRED"
          ? "Not verified: the session expired. Start again."
          : `Not verified: ${why || "the check did not pass"}.`;
    say(status === "SUCCEEDED" ? INSTRUCTIONS.done : "");
    root.dataset.status = status;
    root.dataset.reasons = (reasons || []).join(",");
  }

  function fail(message) {
    result.hidden = false;
    result.dataset.status = "ERROR";
    result.textContent = message;
    root.dataset.status = "ERROR";
    stop();
    finish({ status: "ERROR", message });
    onResult({ status: "ERROR", message });
  }

  function renderSteps(fb) {
    steps.replaceChildren(
      ...challenges.map((c, i) => {
        const li = el("li", {}, c.title);
        const passed = fb ? i < fb.challengesPassed : false;
        li.dataset.state = passed ? "done" : fb && fb.currentChallenge === i ? "current" : "todo";
        return li;
      }),
    );
  }

  // Draws the server's feedback in mirrored coordinates (the preview is a mirror).
  function draw(fb) {
    const w = (overlay.width = overlay.clientWidth || 640);
    const h = (overlay.height = overlay.clientHeight || 480);
    const g = overlay.getContext("2d");
    g.clearRect(0, 0, w, h);
    // Oval guide.
    g.strokeStyle = "rgba(255,255,255,.7)";
    g.lineWidth = 3;
    g.setLineDash([8, 8]);
    g.beginPath();
    g.ellipse(w / 2, h / 2, w * 0.2, h * 0.36, 0, 0, Math.PI * 2);
    g.stroke();
    g.setLineDash([]);
    const box = (b, color, width) => {
      g.strokeStyle = color;
      g.lineWidth = width;
      g.strokeRect((1 - b.x - b.width) * w, b.y * h, b.width * w, b.height * h);
    };
    if (fb && fb.face) box(fb.face, "#2da44e", 3);
    if (fb && fb.target) box(fb.target, "#fb8500", 4);
    const kind = fb && fb.currentChallenge != null ? challenges[fb.currentChallenge]?.kind : null;
    if (kind === "turn_left" || kind === "turn_right") {
      // The person's left is the preview's left (mirror).
      const dir = kind === "turn_left" ? -1 : 1;
      const x = w / 2 + dir * w * 0.32;
      g.fillStyle = "#fb8500";
      g.beginPath();
      g.moveTo(x + dir * 30, h / 2);
      g.lineTo(x - dir * 10, h / 2 - 30);
      g.lineTo(x - dir * 10, h / 2 + 30);
      g.closePath();
      g.fill();
    }
  }

  function handle(answer) {
    if (answer.error) {
      const code = answer.error.code;
      if (code === "frame_replayed") return true; // a frozen frame: wait for the next one
      if (code === "session_expired") {
        showResult("EXPIRED", [], 0);
        stop();
        finish({ status: "EXPIRED" });
        onResult({ status: "EXPIRED" });
        return false;
      }
      if (code === "session_finished") {
        // Finished elsewhere (another tab, a reconnect): read the result.
        readResult();
        return false;
      }
      if (code === "frame_out_of_sequence" || code === "frame_timestamp_not_increasing" || code === "session_busy") {
        return resync().then(() => true);
      }
      fail(`Error: ${answer.error.message}`);
      return false;
    }
    const fb = answer.feedback[answer.feedback.length - 1];
    if (fb) {
      nextSequence = fb.sequence + 1;
      lastTimestamp = fb.timestamp;
      progress.value = fb.progress;
      renderSteps(fb);
      draw(fb);
      say((fb.guidance || []).map((g) => INSTRUCTIONS[g] || g).join(" "));
      onStatus(fb);
    }
    if (answer.result) {
      showResult(answer.result.status, answer.result.reasons, answer.result.confidence);
      stop();
      finish(answer.result);
      onResult(answer.result);
      return false;
    }
    return true;
  }

  async function getJson(path) {
    const r = await fetch(api + path, { headers: auth });
    return r.json();
  }

  async function readResult() {
    const view = await getJson(`/v1/liveness/sessions/${sessionId}`);
    showResult(view.status, view.result && view.result.reasons, view.result ? view.result.confidence : 0);
    stop();
    finish(view.result || { status: view.status });
    onResult(view.result || { status: view.status });
  }

  async function resync() {
    const view = await getJson(`/v1/liveness/sessions/${sessionId}`);
    if (view.result && view.result.frames) nextSequence = view.result.frames.received;
  }

  function grab() {
    const w = video.videoWidth || 640;
    const h = video.videoHeight || 480;
    capture.width = w;
    capture.height = h;
    capture.getContext("2d").drawImage(video, 0, 0, w, h);
    return new Promise((resolve) => capture.toBlob(resolve, "image/jpeg", 0.85));
  }

  function openSocket() {
    return new Promise((resolve) => {
      if (transport === "http" || typeof WebSocket === "undefined") return resolve(null);
      const url = new URL(`${api || location.origin}/v1/liveness/sessions/${sessionId}/stream`, location.href);
      url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
      url.searchParams.set("token", sessionToken);
      let ws;
      try {
        ws = new WebSocket(url);
      } catch {
        return resolve(null);
      }
      ws.binaryType = "arraybuffer";
      const timer = setTimeout(() => {
        ws.close();
        resolve(null);
      }, 4000);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(ws);
      };
      ws.onerror = () => {
        clearTimeout(timer);
        resolve(null);
      };
    });
  }

  // One frame over the socket: the answer to it.
  function sendOverSocket(blob) {
    return new Promise((resolve, reject) => {
      socket.onmessage = (m) => resolve(JSON.parse(m.data));
      socket.onclose = () => reject(new Error("socket closed"));
      blob.arrayBuffer().then((b) => socket.send(b), reject);
    });
  }

  async function sendOverHttp(blob) {
    const timestamp = Math.max(lastTimestamp + 1, Date.now() - createdAt);
    const image = await new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",")[1]);
      reader.readAsDataURL(blob);
    });
    const r = await fetch(`${api}/v1/liveness/sessions/${sessionId}/frames`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ image, sequence: nextSequence, timestamp }),
    });
    return r.json();
  }

  async function loop() {
    const interval = 1000 / fps;
    let failures = 0;
    while (!stopped) {
      const started = performance.now();
      try {
        const blob = await grab();
        if (!blob) throw new Error("no frame");
        let answer;
        if (socket && socket.readyState === WebSocket.OPEN) {
          answer = await sendOverSocket(blob);
        } else {
          answer = await sendOverHttp(blob);
        }
        failures = 0;
        const go = await handle(answer);
        if (!go) return;
      } catch (e) {
        // Network loss: back off, reconnect, resume within the session.
        failures += 1;
        say("Connection lost — reconnecting…");
        if (failures > 20) return fail("The connection to the server was lost.");
        await new Promise((r) => setTimeout(r, Math.min(4000, 250 * failures)));
        socket = await openSocket();
        await resync().catch(() => {});
      }
      const wait = interval - (performance.now() - started);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  }

  function stop() {
    stopped = true;
    if (socket) socket.close();
    if (stream) stream.getTracks().forEach((t) => t.stop());
  }

  (async () => {
    try {
      const view = await getJson(`/v1/liveness/sessions/${sessionId}`);
      if (view.error) return fail(`This session cannot be used: ${view.error.message}`);
      challenges = view.challenges || [];
      createdAt = Date.parse(view.createdAt) || Date.now();
      if (view.status === "SUCCEEDED" || view.status === "FAILED" || view.status === "EXPIRED") {
        return readResult();
      }
      renderSteps(null);
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        return fail("This browser cannot use a camera here (a secure https:// page is needed).");
      }
      stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 } },
        audio: false,
      });
      video.srcObject = stream;
      await video.play();
      say(INSTRUCTIONS.look_at_camera);
      draw(null);
      socket = await openSocket();
      root.dataset.transport = socket ? "websocket" : "http";
      await loop();
    } catch (e) {
      if (e && e.name === "NotAllowedError") return fail("Camera permission was denied. Allow the camera and try again.");
      if (e && (e.name === "NotFoundError" || e.name === "OverconstrainedError")) return fail("No camera was found.");
      fail(`Something went wrong: ${e && e.message ? e.message : e}`);
    }
  })();

  return { stop, done };
}

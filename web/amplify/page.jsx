// The page the harness loads: AWS Amplify's real FaceLivenessDetectorCore, configured from the page's query
// string, pointed at a Rekognition-Streaming-compatible server (config.endpointOverride), with the face model
// and the tfjs wasm binaries served from this page's own origin so that nothing is fetched from a CDN.
//
// Query: sessionId, endpoint (https URL of the server; the SDK turns it into wss://…/start-face-liveness-session-websocket),
// region (default us-east-1), accessKeyId, secretAccessKey, sessionToken (optional), systemClockOffset (ms, optional),
// faceModelUrl (default <origin>/models/facemesh-detection-short.json), binaryPath (default <origin>/wasm/).
//
// The outcome goes to window.__result, set once: {outcome: "complete"|"error"|"cancel", ...}.
// window.__log keeps every callback with a timestamp, in order.
import React from "react";
import { createRoot } from "react-dom/client";
import { FaceLivenessDetectorCore } from "@aws-amplify/ui-react-liveness";
import { ThemeProvider } from "@aws-amplify/ui-react";
// The same stylesheet as @aws-amplify/ui-react/styles.css (the liveness package ships a copy).
import "@aws-amplify/ui-react-liveness/styles.css";

const q = new URLSearchParams(location.search);
const param = (name, fallback) => {
  const v = q.get(name);
  return v === null || v === "" ? fallback : v;
};

const sessionId = param("sessionId", "");
const region = param("region", "us-east-1");
const endpoint = param("endpoint", undefined);
const accessKeyId = param("accessKeyId", "AKIDEXAMPLE");
const secretAccessKey = param("secretAccessKey", "secret");
const sessionToken = param("sessionToken", undefined);
const clockOffset = param("systemClockOffset", undefined);
const faceModelUrl = param("faceModelUrl", new URL("models/facemesh-detection-short.json", location.href).href);
const binaryPath = param("binaryPath", new URL("wasm/", location.href).href);

window.__log = [];
window.__result = null;
const log = (kind, detail) => window.__log.push({ t: Date.now(), kind, detail });
const finish = (result) => {
  log(result.outcome, result);
  if (window.__result === null) window.__result = { ...result, t: Date.now() };
};

// ErrorState values are plain strings ("TIMEOUT", "SERVER_ERROR", "CONNECTION_TIMEOUT", ...); the error is an Error or
// whatever the SDK threw (an event-stream exception has name/message/$metadata).
const describeError = (e) => {
  if (e === undefined || e === null) return null;
  if (typeof e !== "object") return String(e);
  return { name: e.name ?? null, message: e.message ?? String(e), code: e.Code ?? e.code ?? null };
};

const config = {
  faceModelUrl,
  binaryPath,
  credentialProvider: async () => ({
    accessKeyId,
    secretAccessKey,
    ...(sessionToken ? { sessionToken } : {}),
  }),
};
if (endpoint) config.endpointOverride = endpoint;
if (clockOffset !== undefined) config.systemClockOffset = Number(clockOffset);

window.__config = { sessionId, region, endpoint: endpoint ?? null, faceModelUrl, binaryPath };

function App() {
  return (
    <ThemeProvider>
      <FaceLivenessDetectorCore
        sessionId={sessionId}
        region={region}
        disableStartScreen={true}
        config={config}
        onAnalysisComplete={async (deviceInfo) => {
          finish({ outcome: "complete", deviceInfo: deviceInfo ?? null });
        }}
        onError={(livenessError, deviceInfo) => {
          finish({
            outcome: "error",
            error: {
              state: livenessError?.state ?? null,
              error: describeError(livenessError?.error),
            },
            deviceInfo: deviceInfo ?? null,
          });
        }}
        onUserCancel={() => finish({ outcome: "cancel" })}
      />
    </ThemeProvider>
  );
}

window.addEventListener("error", (ev) => log("window-error", String(ev.message)));
window.addEventListener("unhandledrejection", (ev) => log("unhandled-rejection", describeError(ev.reason)));
createRoot(document.getElementById("root")).render(<App />);

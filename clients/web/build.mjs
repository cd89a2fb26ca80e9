// Build the browser app into dist/: hashed, immutable assets under dist/assets/
// and an index.html that names them. The server (server/http/web.py) serves
// assets with a one-year cache and index.html with no-cache, so a new build is
// picked up at the next page load. Usage: node build.mjs [--dev]
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "dist");
const dev = process.argv.includes("--dev");

rmSync(dist, { recursive: true, force: true });
mkdirSync(join(dist, "assets"), { recursive: true });

const result = await esbuild.build({
  entryPoints: [join(here, "src/main.ts"), join(here, "src/styles.css")],
  bundle: true,
  format: "esm",
  splitting: true, // the editor (Quill, Yjs) is a chunk loaded on demand
  chunkNames: "chunk-[hash]",
  target: ["es2022"],
  minify: !dev,
  sourcemap: dev ? "linked" : false,
  outdir: join(dist, "assets"),
  entryNames: "[name]-[hash]",
  metafile: true,
  logLevel: "warning",
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((p) => p.startsWith("main-") && p.endsWith(".js"));
const css = outputs.find((p) => p.startsWith("styles-") && p.endsWith(".css"));
if (!js || !css) throw new Error(`build outputs missing: ${outputs.join(", ")}`);

// The icon is content-addressed too, so it can be cached like the rest.
const icon = readFileSync(join(here, "src/icon.svg"));
const iconName = `icon-${createHash("sha256").update(icon).digest("hex").slice(0, 8)}.svg`;
copyFileSync(join(here, "src/icon.svg"), join(dist, "assets", iconName));

const html = readFileSync(join(here, "src/index.html"), "utf8")
  .replaceAll("%JS%", `/assets/${js}`)
  .replaceAll("%CSS%", `/assets/${css}`)
  .replaceAll("%ICON%", `/assets/${iconName}`);
writeFileSync(join(dist, "index.html"), html);

// Pre-compressed copies: the server sends `name.gz` to browsers that accept
// gzip (phones on school Wi-Fi), without compressing on every request.
for (const name of readdirSync(join(dist, "assets"))) {
  if (!/\.(js|css|svg)$/.test(name)) continue;
  const raw = readFileSync(join(dist, "assets", name));
  writeFileSync(join(dist, "assets", `${name}.gz`), gzipSync(raw, { level: 9 }));
}
console.log(`built clients/web/dist (${js}, ${css})`);

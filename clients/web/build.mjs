// Build the browser app into dist/: hashed, immutable assets under dist/assets/
// and an index.html that names them. The server (preau/server/http/web.py) serves
// assets with a one-year cache and index.html with no-cache, so a new build is
// picked up at the next page load. Usage: node build.mjs [--dev]
import * as esbuild from "esbuild";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { deflateSync, gzipSync } from "node:zlib";
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

// The installable app (issue 20): a web app manifest, PNG icons drawn here
// (no image tool needed), a French offline page and a service worker that
// shows it when the network is gone. The worker caches nothing else: the
// app's data must be live, and a fresh build is picked up as before.
const iconPngs = [192, 512].map((size) => {
  const png = drawIcon(size);
  const name = `icon-${size}-${createHash("sha256").update(png).digest("hex").slice(0, 8)}.png`;
  writeFileSync(join(dist, "assets", name), png);
  return { src: `/assets/${name}`, sizes: `${size}x${size}`, type: "image/png", purpose: "any" };
});
const manifest = {
  name: "Préau",
  short_name: "Préau",
  description: "Messagerie et visio de l'établissement",
  lang: "fr",
  dir: "ltr",
  id: "/",
  start_url: "/",
  scope: "/",
  display: "standalone",
  background_color: "#f6f7fb",
  theme_color: "#1e40af",
  icons: [...iconPngs, { src: `/assets/${iconName}`, sizes: "any", type: "image/svg+xml", purpose: "any" }],
};
writeFileSync(join(dist, "manifest.webmanifest"), JSON.stringify(manifest, null, 2));
const offline = readFileSync(join(here, "src/offline.html"), "utf8")
  .replaceAll("%CSS%", `/assets/${css}`)
  .replaceAll("%ICON%", `/assets/${iconName}`);
writeFileSync(join(dist, "offline.html"), offline);
// The worker's cache is named after what it holds: a new build replaces it.
const shell = ["/offline.html", `/assets/${css}`, `/assets/${iconName}`];
const version = createHash("sha256").update(offline + shell.join()).digest("hex").slice(0, 12);
const worker = readFileSync(join(here, "src/sw.js"), "utf8")
  .replaceAll("%VERSION%", version)
  .replaceAll("%SHELL%", JSON.stringify(shell))
  .replaceAll("%ICON%", JSON.stringify(iconPngs[0].src));
writeFileSync(join(dist, "sw.js"), worker);

// Pre-compressed copies: the server sends `name.gz` to browsers that accept
// gzip (phones on school Wi-Fi), without compressing on every request.
for (const name of readdirSync(join(dist, "assets"))) {
  if (!/\.(js|css|svg)$/.test(name)) continue;
  const raw = readFileSync(join(dist, "assets", name));
  writeFileSync(join(dist, "assets", `${name}.gz`), gzipSync(raw, { level: 9 }));
}
console.log(`built clients/web/dist (${js}, ${css})`);

/** The app's icon as a PNG of `size` pixels: a blue rounded square with a
 * white house (the same drawing as src/icon.svg, on a 64-unit grid). */
function drawIcon(size) {
  const scale = size / 64;
  const rows = [];
  const blue = [0x1e, 0x40, 0xaf, 255];
  const white = [255, 255, 255, 255];
  const clear = [0, 0, 0, 0];
  for (let py = 0; py < size; py++) {
    const row = [0]; // filter: none
    for (let px = 0; px < size; px++) {
      const x = (px + 0.5) / scale;
      const y = (py + 0.5) / scale;
      // Rounded square (radius 14).
      const cx = Math.min(Math.max(x, 14), 50);
      const cy = Math.min(Math.max(y, 14), 50);
      const inside = (x - cx) ** 2 + (y - cy) ** 2 <= 14 * 14;
      // The house: a roof from (12,30) to (32,14) to (52,30), walls to y=50,
      // a door 27..37 wide from y=36.
      const roof = y >= 14 && y <= 30 && Math.abs(x - 32) <= ((y - 14) * 20) / 16;
      const walls = x >= 12 && x <= 52 && y >= 30 && y <= 50;
      const door = x >= 27 && x <= 37 && y >= 36 && y <= 50;
      const colour = !inside ? clear : (roof || walls) && !door ? white : blue;
      row.push(...colour);
    }
    rows.push(Buffer.from(row));
  }
  const chunk = (type, data) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(data.length);
    const body = Buffer.concat([Buffer.from(type), data]);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body) >>> 0);
    return Buffer.concat([length, body, crc]);
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(size, 0);
  header.writeUInt32BE(size, 4);
  header[8] = 8; // bit depth
  header[9] = 6; // RGBA
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(Buffer.concat(rows), { level: 9 })),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function crc32(buffer) {
  let crc = ~0;
  for (const byte of buffer) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc;
}

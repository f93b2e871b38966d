// Copies the npm-installed map libraries next to the dashboard's own files,
// where the Go build embeds them. Nothing third-party is committed.
import { cpSync, mkdirSync, rmSync } from "node:fs";

const out = new URL("./static/vendor/", import.meta.url);
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(new URL("./node_modules/leaflet/dist/", import.meta.url), new URL("./leaflet/", out), { recursive: true });
cpSync(new URL("./node_modules/leaflet.heat/dist/leaflet-heat.js", import.meta.url), new URL("./leaflet-heat.js", out));
console.log("web: copied leaflet and leaflet.heat into static/vendor");

// Browser test of the dashboard: the real server binary (built by `make
// build`, path in KEEPCLEAR_BIN) on a fresh database, driven by Debian's
// Chromium through playwright-core. Sign in, see the zones, see a posted
// fix's event arrive live, annotate it, read the weekly heatmap; as admin,
// read why a phone's records were refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const bin = process.env.KEEPCLEAR_BIN || "../bin/keepclear";
let server, url, admin, agency, browser, dir;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "kc-web-"));
  // The scenario sites, with Insite open around the clock: the test posts
  // fixes dated now, and its breach must not depend on the hour it runs.
  const sites = JSON.parse(readFileSync("../fixtures/scenarios/sites.geojson", "utf8"));
  const insite = sites.features.find((f) => f.properties.id === "insite");
  insite.properties.opening_hours = "24/7";
  writeFileSync(join(dir, "sites.geojson"), JSON.stringify(sites));
  server = spawn(bin, ["serve", "--addr", "127.0.0.1:0", "--db", join(dir, "k.db"), "--sites", join(dir, "sites.geojson")]);
  let out = "";
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error("server did not start: " + out)), 20000);
    server.stdout.on("data", (d) => {
      out += d;
      const u = out.match(/on (http:\/\/\S+)\/ /), a = out.match(/admin \(.*\):\s+(\S+)/), g = out.match(/agency "demo".*:\s+(\S+)/);
      if (u && a && g) { [url, admin, agency] = [u[1], a[1], g[1]]; clearTimeout(t); resolve(); }
    });
    server.on("exit", () => reject(new Error("server exited: " + out)));
  });
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run"],
  });
});

after(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
});

test("without a token only the login page shows, and a bad token is refused", async () => {
  const p = await browser.newPage();
  await p.goto(url);
  assert.equal(await p.isVisible("#login"), true);
  assert.equal(await p.isVisible("#live"), false);
  await p.fill("#token", "kc_wrong");
  await p.click("#login-form button");
  await p.waitForFunction(() => document.querySelector("#login-error").textContent !== "");
  assert.match(await p.textContent("#login-error"), /token/);
  await p.close();
});

test("live map: zones drawn, a posted fix's event arrives, annotation saved, heatmap renders", async () => {
  const p = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await p.goto(url);
  await p.fill("#token", admin);
  await p.click("#login-form button");
  await p.waitForSelector("#live:not([hidden])");
  await p.waitForFunction(() => document.querySelector("#status").textContent === "live");
  // 3 sites: Insite 3 zones, London Drugs 2, the van 1 → 6 rings and 3 centre markers.
  await p.waitForFunction(() => document.querySelectorAll("#map path.leaflet-interactive").length >= 9);

  const t = new Date(Date.now() - 10000).toISOString();
  const r = await fetch(url + "/api/v1/fixes", {
    method: "POST", headers: { Authorization: "Bearer " + agency },
    // A phone reports its accuracy: one fix inside by more than it confirms the visit.
    body: JSON.stringify({ device: "car-17", t, lat: 49.28111, lon: -123.10111, speed: 0, acc: 5 }),
  });
  assert.equal(r.status, 200);
  await p.waitForFunction(() => [...document.querySelectorAll("#ticker li")].some((li) => /entered\s+Insite\s+door/.test(li.textContent)));
  const breach = await p.locator("#ticker li.breach").count();
  assert.ok(breach >= 1, "the door entry (no_entry, open hours) is shown as a breach");
  await p.waitForFunction(() => document.querySelector("#inzone-count").textContent === "1"); // positions come coalesced
  assert.ok(!(await p.content()).includes("car-17"), "the raw device id never reaches the page");

  // Annotate the door entry.
  const li = p.locator("#ticker li", { hasText: "door" }).first();
  await li.locator("button").click();
  await p.selectOption("#annotate-label", "called_by_staff");
  await p.fill("#annotate-text", "staff called for an ambulance");
  await p.click("#annotate-save");
  const id = await p.textContent("#annotate-id");
  let anns;
  for (let i = 0; i < 50; i++) {
    anns = await (await fetch(`${url}/api/v1/events/${id}/annotations`, { headers: { Authorization: "Bearer " + admin } })).json();
    if (anns.annotations.length) break;
    await new Promise((s) => setTimeout(s, 100));
  }
  assert.equal(anns.annotations[0].label, "called_by_staff");
  assert.equal(anns.annotations[0].role, "admin");

  // The car drives off north: its visits close and it leaves the map.
  for (const [dt, lat] of [[0, 49.2829], [20, 49.2829]]) {
    const r2 = await fetch(url + "/api/v1/fixes", {
      method: "POST", headers: { Authorization: "Bearer " + agency },
      body: JSON.stringify({ device: "car-17", t: new Date(Date.parse(t) + 10000 + dt * 1000).toISOString(), lat, lon: -123.10111 }),
    });
    assert.equal(r2.status, 200);
  }
  await p.waitForFunction(() => [...document.querySelectorAll("#ticker li")].some((li) => /left\s+Insite\s+vicinity/.test(li.textContent)));
  await p.waitForFunction(() => document.querySelector("#inzone-count").textContent === "0");
  // Positions go out coalesced every 250 ms, after the events of the same
  // fixes: a late one must not bring the car back onto the map.
  await new Promise((s) => setTimeout(s, 1000));
  assert.equal(await p.textContent("#inzone-count"), "0", "a coalesced position after the exit does not redraw the car");

  // The weekly heatmap: a 7 × 24 grid with this entry counted.
  await p.click("button[data-tab=heat]");
  await p.waitForFunction(() => document.querySelectorAll("#heat-site option").length === 3);
  await p.selectOption("#heat-site", "insite");
  await p.click("#heat-form button[type=submit]");
  await p.waitForSelector("#heat-grid tr");
  assert.equal(await p.locator("#heat-grid tr").count(), 8);
  assert.match(await p.textContent("#heat-summary"), /1 entries into the vicinity zone/);

  // The printable weekly report opens in a new tab, with the annotation in it.
  const [report] = await Promise.all([p.waitForEvent("popup"), p.click("#heat-report")]);
  await report.waitForLoadState();
  const html = await report.content();
  assert.match(html, /weekly report, week \d{4}-W\d{2}/);
  assert.match(html, /staff called for an ambulance/);
  assert.equal(await report.locator("svg").count(), 3);
  await p.close();
});

// A phone's record at the OsmAnd endpoint, as the Traccar Client sends it.
async function osmand(q) {
  const r = await fetch(`${url}/osmand/${agency}?` + new URLSearchParams({ id: "p1", ...q }));
  assert.equal(r.status, 200, "phones are answered 2xx even for a refused record");
}
const unix = (msAgo) => String(Math.floor((Date.now() - msAgo) / 1000));

async function signInAs(p, t) {
  await p.goto(url);
  await p.fill("#token", t);
  await p.click("#login-form button");
  await p.waitForSelector("#live:not([hidden])");
}

test("phones and feeds (admin, on a phone): per agency used and refused with the reason, refreshed every 30 s and on demand", async () => {
  // One good fix (north of the sites, outside every zone) and one 10 days old.
  await osmand({ lat: "49.2829", lon: "-123.10111", timestamp: unix(5000) });
  await osmand({ lat: "49.28111", lon: "-123.10111", timestamp: unix(10 * 86400e3) });

  const p = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await p.clock.install(); // the 30 s refresh, without waiting 30 s
  await signInAs(p, admin);
  // By keyboard: the tab is a button.
  await p.focus("#tab-feeds");
  await p.keyboard.press("Enter");
  await p.waitForSelector("#feeds:not([hidden])");
  const demo = p.locator('.feed-agency[data-agency="demo"]');
  await demo.waitFor();
  const count = async (label) => Number(await demo.locator(`.feed-counts div:has(dt:text-is("${label}")) dd`).textContent());
  assert.equal(await count("refused"), 1);
  assert.ok((await count("used")) >= 1, "the good fix is used");
  const tooOld = demo.locator(".reasons li", { hasText: "too old" });
  assert.match(await tooOld.textContent(), /too old: 1 — measured longer ago than --max-fix-age/);
  assert.match(await tooOld.textContent(), /latest .* via \/osmand\/\{token\}: .*older than 168h0m0s \(7 days\) \(--max-fix-age\)/);
  assert.ok(!(await p.content()).includes(agency), "the agency token is not shown");
  // Readable on a phone: nothing wider than the screen.
  assert.ok(await p.evaluate(() => document.documentElement.scrollWidth <= 390), "no horizontal scrolling at 390 px");
  await p.locator("#feeds").screenshot({ path: "/tmp/admin-panel.png" });

  // A heartbeat without a fix: shown after the next 30 s refresh.
  await osmand({});
  await p.clock.runFor(30000);
  await p.waitForFunction(() => /no position: 1/.test(document.querySelector('.feed-agency[data-agency="demo"]').textContent));
  assert.equal(await count("refused"), 2);

  // Another old record: shown on demand.
  await osmand({ lat: "49.28111", lon: "-123.10111", timestamp: unix(9 * 86400e3) });
  await p.click("#feeds-refresh");
  await p.waitForFunction(() => /too old: 2/.test(document.querySelector('.feed-agency[data-agency="demo"]').textContent));
  assert.equal(await count("refused"), 3);
  assert.match(await p.textContent("#feeds-status"), /updated/);

  // The empty state (a server that has received nothing).
  await p.route("**/api/v1/ingest/summary", (r) => r.fulfill({ json: { from: new Date(Date.now() - 86400e3).toISOString(), to: new Date().toISOString(), agencies: [], results: {} } }));
  await p.click("#feeds-refresh");
  await p.waitForSelector("#feeds .empty");
  assert.match(await p.textContent("#feeds .empty"), /No phone or feed records in the last 24 hours/);
  await p.close();
});

test("phones and feeds is for admins only: a liaison sees no such tab", async () => {
  const made = spawnSync(bin, ["token", "create", "--role", "liaison", "--name", "liaison", "--db", join(dir, "k.db")], { encoding: "utf8" });
  assert.equal(made.status, 0, made.stderr);
  const liaison = made.stdout.match(/kc_\S+/)[0];
  const p = await browser.newPage({ viewport: { width: 390, height: 844 } });
  await signInAs(p, liaison);
  assert.equal(await p.isVisible("button[data-tab=heat]"), true);
  assert.equal(await p.isVisible("#tab-feeds"), false);
  await p.evaluate(() => show("feeds")); // even asked directly, the panel stays hidden
  assert.equal(await p.isVisible("#feeds"), false);
  assert.equal(await p.locator(".feed-agency").count(), 0);
  const r = await fetch(url + "/api/v1/ingest/summary", { headers: { Authorization: "Bearer " + liaison } });
  assert.equal(r.status, 403);
  await p.close();
});

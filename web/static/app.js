// keepclear dashboard: sign in with a token, watch the live map, annotate
// events, read a site's weekly heatmap. No framework; Leaflet for maps.
"use strict";

const $ = (id) => document.getElementById(id);
let token = localStorage.getItem("keepclear.token") || "";
let me = null;

async function api(path, opts = {}) {
  const r = await fetch(path, { ...opts, headers: { Authorization: "Bearer " + token, ...(opts.headers || {}) } });
  const body = r.headers.get("Content-Type")?.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function text(s) { const d = document.createElement("span"); d.textContent = s; return d.innerHTML; }
const attr = (s) => text(s).replace(/"/g, "&quot;");

async function signIn(t) {
  token = t;
  try {
    me = await api("/api/v1/whoami");
  } catch (e) {
    token = "";
    localStorage.removeItem("keepclear.token");
    throw e;
  }
  if (me.role === "agency") { token = ""; throw new Error("agency tokens only submit positions"); }
  localStorage.setItem("keepclear.token", t);
  $("login").hidden = true;
  $("tabs").hidden = false;
  $("logout").hidden = false;
  $("who").textContent = `${me.name} (${me.role})`;
  $("tab-feeds").hidden = me.role !== "admin"; // the ingest summary is admin-only
  show("live");
}

$("login-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  $("login-error").textContent = "";
  try { await signIn($("token").value.trim()); } catch (err) { $("login-error").textContent = err.message; }
});
$("logout").addEventListener("click", () => { localStorage.removeItem("keepclear.token"); location.reload(); });
document.querySelectorAll("#tabs button").forEach((b) => b.addEventListener("click", () => show(b.dataset.tab)));

function show(tab) {
  if (tab === "feeds" && me?.role !== "admin") tab = "live";
  document.querySelectorAll("#tabs button").forEach((b) => {
    b.classList.toggle("active", b.dataset.tab === tab);
    if (b.dataset.tab === tab) b.setAttribute("aria-current", "page"); else b.removeAttribute("aria-current");
  });
  $("live").hidden = tab !== "live";
  $("heat").hidden = tab !== "heat";
  $("feeds").hidden = tab !== "feeds";
  if (tab === "live") startLive();
  if (tab === "heat") startHeat();
  if (tab === "feeds") loadFeeds();
}

// ---- live map ----
let map, siteLayer, vehicleLayer, ws, sites = [];
const vehicles = new Map();
const openVisits = new Map(); // pseudonym → open visits, from the snapshot and the events
const kindLabel = { enter: "entered", dwell: "stopped in", exit: "left", repeat_pass: "circling", signal_lost: "signal lost in", resumed: "signal back in" };

function tiles(m) {
  L.tileLayer("https://tile.openstreetmap.org/{z}/{x}/{y}.png", { maxZoom: 19, attribution: "© OpenStreetMap contributors" }).addTo(m);
}

function startLive() {
  if (typeof L === "undefined") { $("status").textContent = "map library missing: run `make web`"; }
  if (!map && typeof L !== "undefined") {
    map = L.map("map");
    tiles(map);
    siteLayer = L.layerGroup().addTo(map);
    vehicleLayer = L.layerGroup().addTo(map);
  }
  if (ws) return;
  const proto = location.protocol === "https:" ? "wss" : "ws";
  ws = new WebSocket(`${proto}://${location.host}/ws/live?access_token=${encodeURIComponent(token)}`);
  ws.onopen = () => { $("status").textContent = "live"; };
  ws.onclose = () => { $("status").textContent = "disconnected, retrying…"; ws = null; setTimeout(startLive, 3000); };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.type === "snapshot") {
      drawSites(msg.sites);
      $("ticker").innerHTML = "";
      openVisits.clear();
      (msg.open_visits || []).forEach((v) => openVisits.set(v.device, (openVisits.get(v.device) || 0) + 1));
      (msg.events || []).forEach(addEvent);
      (msg.positions || []).filter((p) => p.site || openVisits.has(p.device)).forEach(movePosition);
    } else if (msg.type === "event") {
      addEvent(msg.event);
      trackVisits(msg.event);
    } else if (msg.type === "positions") {
      // Positions are coalesced and sent after the events of the same fixes,
      // so one may arrive after its device's exit: only vehicles with an open
      // visit (and vans) are drawn.
      msg.positions.filter((p) => p.site || openVisits.has(p.device)).forEach(movePosition);
    }
    $("inzone-count").textContent = vehicles.size;
  };
}

function drawSites(fc) {
  sites = fc.features || [];
  if (!map) return;
  siteLayer.clearLayers();
  siteLayers.clear();
  const bounds = [];
  for (const f of sites) {
    const [lon, lat] = f.geometry.type === "Point" ? f.geometry.coordinates : f.geometry.coordinates[0][0];
    bounds.push([lat, lon]);
    const p = f.properties;
    const g = L.layerGroup().addTo(siteLayer);
    siteLayers.set(p.id, g);
    for (const z of [...p.zones].reverse()) {
      L.circle([lat, lon], { radius: z.radius_m, weight: 1, color: z.no_entry ? "#c62828" : "#3b4a6b", fillOpacity: 0.06 })
        .bindTooltip(`${text(p.name)} — ${text(z.name)} (${z.radius_m} m)`).addTo(g);
    }
    L.circleMarker([lat, lon], { radius: 4, color: "#1d2330" }).bindPopup(`<b>${text(p.name)}</b><br>${text(p.kind)} · ${text(p.opening_hours)}`).addTo(g);
  }
  if (bounds.length) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 16 });
}

const siteLayers = new Map(); // site id → its zones and marker, to move a van's

function movePosition(p) {
  if (!map) return;
  if (p.site) { // a mobile site's van: its zones go with it
    const g = siteLayers.get(p.site);
    if (g) g.eachLayer((l) => l.setLatLng([p.lat, p.lon]));
    return;
  }
  let mk = vehicles.get(p.device);
  if (!mk) {
    mk = L.marker([p.lat, p.lon], { keyboard: false }).addTo(vehicleLayer);
    vehicles.set(p.device, mk);
  }
  mk.setLatLng([p.lat, p.lon]).setIcon(vehicleIcon(p));
  mk.bindTooltip(`${text(p.agency)} · ${text(p.device.slice(0, 6))} · ${vehicleState(p)} · last fix ${new Date(p.t).toLocaleTimeString()}`);
  mk.silent = !!p.silent;
  mk.lastSeen = Date.now();
}

const hhmm = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

// What a vehicle marker says in words (never by colour alone).
function vehicleState(p) {
  const s = [];
  if (p.breach) s.push("breach");
  if (p.silent) s.push(`silent since ${hhmm(p.t)}`);
  return s.join(" · ") || "in a zone";
}

// A vehicle's marker: a circle; a diamond when one of its visits is a
// breach; greyed and labelled "silent since HH:MM" when it has not been
// heard from (it stays on the map at its last fix until its visit closes).
function vehicleIcon(p) {
  const cls = "vehicle" + (p.breach ? " breach" : "") + (p.silent ? " silent" : "");
  const label = p.silent ? `<span class="vlabel">silent since ${hhmm(p.t)}</span>` : "";
  return L.divIcon({
    className: cls, iconSize: [14, 14], iconAnchor: [7, 7],
    html: `<span class="shape" role="img" aria-label="${text(vehicleState(p))}"></span>${label}`,
  });
}

// A vehicle leaves the map when its last open visit closes.
function trackVisits(e) {
  const n = openVisits.get(e.device) || 0;
  if (e.kind === "enter" || e.kind === "resumed") openVisits.set(e.device, n + 1); // resumed: the signal_lost was void
  if (e.kind === "exit" || e.kind === "signal_lost") {
    if (n > 1) { openVisits.set(e.device, n - 1); return; }
    openVisits.delete(e.device);
    const mk = vehicles.get(e.device);
    if (mk) { vehicleLayer.removeLayer(mk); vehicles.delete(e.device); }
    $("inzone-count").textContent = vehicles.size;
  }
}

setInterval(() => { // vehicles not seen in a zone for two minutes leave the map; silent ones stay until their visit closes
  for (const [k, mk] of vehicles) if (!mk.silent && Date.now() - mk.lastSeen > 120000) { vehicleLayer.removeLayer(mk); vehicles.delete(k); }
}, 10000);

// The evidence of an event, in words: an unconfirmed visit (one loose fix
// near the edge) or a pass seen only between two fixes is never a breach.
function evidenceWords(e) {
  if (e.interpolated) return "between fixes";
  if (e.confirmed === false) return "unconfirmed";
  return "";
}

function addEvent(e) {
  const li = document.createElement("li");
  if (e.breach) li.className = "breach";
  const site = sites.find((f) => f.properties.id === e.site)?.properties.name || e.site;
  const ev = evidenceWords(e);
  if (ev) li.classList.add("weak");
  li.innerHTML = `<b>${text(e.agency)} ${text(e.device.slice(0, 6))}</b> ${text(kindLabel[e.kind] || e.kind)} <b>${text(site)}</b> ${text(e.zone)}${ev ? ` <span class="evidence">${ev}</span>` : ""}
    <div class="meta">${new Date(e.t).toLocaleString()} · ${Math.round(e.duration_s)} s · closest ${e.min_distance_m} m · stopped ${Math.round(e.stationary_s)} s${e.in_hours ? " · open hours" : ""}${e.fixes > 0 ? ` · ${e.fixes} ${e.fixes === 1 ? "fix" : "fixes"} inside` : ""}${e.breach ? " · <b>breach</b>" : ""}</div>`;
  if (me && (me.role === "liaison" || me.role === "admin")) {
    const b = document.createElement("button");
    b.textContent = "Annotate";
    b.onclick = () => annotate(e);
    li.appendChild(b);
  }
  $("ticker").prepend(li);
  while ($("ticker").children.length > 200) $("ticker").lastChild.remove();
}

async function annotate(e) {
  $("annotate-id").textContent = e.id;
  $("annotate-text").value = "";
  const hist = await api(`/api/v1/events/${encodeURIComponent(e.id)}/annotations`).catch(() => ({ annotations: [] }));
  $("annotate-history").innerHTML = hist.annotations.map((a) => `${text(a.created_at)} ${text(a.author)}: <b>${text(a.label)}</b> ${text(a.text)}`).join("<br>");
  const dlg = $("annotate");
  dlg.returnValue = "";
  dlg.showModal();
  dlg.onclose = async () => {
    if (dlg.returnValue !== "save") return;
    try {
      await api(`/api/v1/events/${encodeURIComponent(e.id)}/annotations`, {
        method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ label: $("annotate-label").value, text: $("annotate-text").value }),
      });
    } catch (err) { alert("Not saved: " + err.message); }
  };
}

// ---- weekly heatmap and report ----
$("heat-report").addEventListener("click", async () => {
  // The report is a whole HTML page; fetch it with the token and open it.
  const q = new URLSearchParams({ site: $("heat-site").value });
  if ($("heat-week").value) q.set("week", $("heat-week").value);
  const r = await fetch("/api/v1/report?" + q, { headers: { Authorization: "Bearer " + token } });
  if (!r.ok) { $("heat-summary").textContent = (await r.json()).error; return; }
  const url = URL.createObjectURL(new Blob([await r.text()], { type: "text/html" }));
  window.open(url, "_blank");
});

let heatMap, heatLayer;
const days = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];

async function startHeat() {
  if (!$("heat-site").options.length) {
    const fc = await api("/api/v1/sites");
    for (const f of fc.features) $("heat-site").add(new Option(f.properties.name, f.properties.id));
  }
}

$("heat-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams({ site: $("heat-site").value });
  if ($("heat-week").value) q.set("week", $("heat-week").value);
  let h;
  try { h = await api("/api/v1/heatmap?" + q); } catch (e) { $("heat-summary").textContent = e.message; return; }
  $("heat-week").value = h.week;
  $("heat-summary").innerHTML = `<h2>${text(h.name)} — week ${text(h.week)}</h2>
    <p>${h.entries} entries into the ${text(h.zone)} zone, ${h.breaches} visits with a breach. Cells: entries (number) and minutes stopped (colour).</p>`;
  let max = 0;
  h.days.forEach((d) => d.forEach((c) => { max = Math.max(max, c.stationary_min); }));
  let html = "<tr><th></th>" + [...Array(24).keys()].map((i) => `<th>${i}</th>`).join("") + "</tr>";
  h.days.forEach((d, i) => {
    html += `<tr><th>${days[i]}</th>` + d.map((c) => {
      const a = max ? c.stationary_min / max : 0;
      return `<td title="${c.entries} entries, ${c.stationary_min.toFixed(1)} min stopped, ${c.breaches} breaches" style="background: rgba(198,40,40,${a.toFixed(2)})">${c.entries || ""}</td>`;
    }).join("") + "</tr>";
  });
  $("heat-grid").innerHTML = html;
  if (typeof L === "undefined") return;
  if (!heatMap) { heatMap = L.map("heat-map"); tiles(heatMap); }
  const f = sites.find((s) => s.properties.id === h.site) || (await api("/api/v1/sites")).features.find((s) => s.properties.id === h.site);
  const [lon, lat] = f.geometry.type === "Point" ? f.geometry.coordinates : f.geometry.coordinates[0][0];
  heatMap.setView([lat, lon], 17);
  if (heatLayer) heatMap.removeLayer(heatLayer);
  if (heatMap.zones) heatMap.removeLayer(heatMap.zones);
  heatMap.zones = L.layerGroup(f.properties.zones.map((z) => L.circle([lat, lon], { radius: z.radius_m, weight: 1, fillOpacity: 0 }))).addTo(heatMap);
  const pts = h.spots.map((s) => [s.lat, s.lon, s.stationary_s + s.fixes]);
  heatLayer = L.heatLayer(pts, { radius: 20 }).addTo(heatMap);
});

// ---- phones and feeds (admin) ----
// Per agency, what ingest used, dropped and refused over the last 24 hours
// and why (GET /api/v1/ingest/summary), so that an admin can tell an agency
// why its phones' positions are not used.
const usedResults = ["accepted", "van"];
const droppedResults = ["duplicate", "out_of_order", "jump"];
const resultWords = (r) => r.replace(/_/g, " ");
// A time with its UTC offset, e.g. "09:12 GMT-8".
const timeWithOffset = (t) => new Date(t).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", timeZoneName: "shortOffset" });
// Go durations in reasons, in words as well: "168h0m0s" → "168h0m0s (7 days)".
const reasonWords = (s) => s.replace(/\b(\d+)h0m0s\b/g, (m, h) => (h % 24 === 0 ? `${m} (${h / 24} ${h === "24" ? "day" : "days"})` : m));
// Command-line flags kept on one line: "--max-fix-age" never splits at its dashes.
const flags = (html) => html.replace(/--[a-z][a-z-]*/g, (f) => `<code>${f}</code>`);
let feedsLoading = false;

async function loadFeeds() {
  if (me?.role !== "admin" || feedsLoading) return;
  feedsLoading = true;
  $("feeds-refresh").disabled = true;
  $("feeds-status").textContent = "loading…";
  try {
    const s = await api("/api/v1/ingest/summary");
    renderFeeds(s);
    $("feeds-status").textContent = `updated ${new Date().toLocaleTimeString([], { timeZoneName: "shortOffset" })}`;
  } catch (e) {
    $("feeds-status").textContent = `not updated: ${e.message}`;
  } finally {
    feedsLoading = false;
    $("feeds-refresh").disabled = false;
  }
}

function renderFeeds(s) {
  const list = $("feeds-list");
  if (!s.agencies.length) {
    list.innerHTML = `<p class="empty">No phone or feed records in the last 24 hours (since ${text(timeWithOffset(s.from))}).</p>`;
    return;
  }
  list.innerHTML = s.agencies.map((a) => {
    const rs = Object.keys(a.results).sort((x, y) => a.results[y] - a.results[x] || x.localeCompare(y));
    const refused = rs.filter((r) => !usedResults.includes(r) && !droppedResults.includes(r));
    const dropped = rs.filter((r) => droppedResults.includes(r));
    const lastUsed = usedResults.map((r) => a.last[r]?.t).filter(Boolean).sort().pop();
    const reasons = (title, keys) => keys.length ? `<h4>${title}</h4><ul class="reasons">${keys.map((r) => {
      const l = a.last[r] || {};
      return `<li><b>${text(resultWords(r))}: ${a.results[r]}</b> — ${flags(text(s.results[r] || r))}
        <div class="meta">latest ${l.t ? text(timeWithOffset(l.t)) : ""}${l.endpoint ? ` via ${text(l.endpoint)}` : ""}${l.reason ? `: <q>${flags(text(reasonWords(l.reason)))}</q>` : ""}</div></li>`;
    }).join("")}</ul>` : "";
    const count = (label, n, cls = "") => `<div class="${cls}${n ? " nonzero" : ""}"><dt>${label}</dt><dd>${n}</dd></div>`;
    return `<section class="feed-agency" data-agency="${attr(a.agency)}" aria-label="agency ${attr(a.agency)}">
      <h3>${text(a.agency)}</h3>
      <dl class="feed-counts">${count("received", a.received)}${count("used", a.used)}${count("dropped", a.dropped)}${count("refused", a.refused, "refused")}</dl>
      <p class="meta">${lastUsed ? `Last used record at ${text(timeWithOffset(lastUsed))}.` : "<b>No record used</b> in the last 24 hours."}${a.refused ? "" : " Nothing refused."}</p>
      ${reasons("Refused, by reason", refused)}${reasons("Dropped by detection", dropped)}
    </section>`;
  }).join("");
}

$("feeds-refresh").addEventListener("click", loadFeeds);
setInterval(() => { if (!$("feeds").hidden) loadFeeds(); }, 30000);

if (token) signIn(token).catch(() => {});

// Otedama dashboard: reads the REST API once, then follows /api/ws. Uses common.js.
"use strict";

// The chart's ranges and their lengths in seconds (as /api/history takes them).
const RANGES = { "1h": 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400 };
const state = {
  chart: [], history: [], resolution: 60, live: [], liveMax: 720, range: "1h",
  reward: 0, ws: null, retry: 1000, refreshTimer: null,
};

function showHashrate(h) {
  setText("pool-hashrate", fmtHashrate(h.pool));
  setText("local-hashrate", fmtHashrate(h.local));
  setText("miner-hashrate", fmtHashrate(h.miner));
}
function showSync(s) {
  const pct = Math.round((s.progress || 0) * 1000) / 10;
  $("sync-bar").style.width = pct + "%";
  setText("sync-text", pct + "% " + (s.synced ? "synced" : "syncing") +
    (s.height != null ? " at height " + s.height : ""));
}

function showStatus(s) {
  setCoin(s.coin);
  setText("node-name", s.name);
  setText("chain", s.chain);
  setText("version", "v" + s.version);
  setText("uptime", "up " + fmtAge(s.uptime_secs));
  setText("share-height", s.sharechain.height == null ? "empty" : String(s.sharechain.height));
  setText("parent-height", s.parent.height == null ? "-" : String(s.parent.height));
  setText("parent-state", s.parent.reachable ? "daemon reachable" : "daemon unreachable");
  setText("connections", String(s.stratum.connections));
  const fee = s.stratum.fee;
  setText("pool-fee", fee ? "operator fee " + fee.percentage + "% to " + fee.address : "no fee");
  const m = s.mining;
  setText("mining-state", m.running ? "running" : m.configured ? "stopped" : "not configured");
  const solo = $("solo-note");
  solo.hidden = !s.solo;
  if (s.solo) {
    solo.textContent = "Solo mining, no sharechain: every block pays " +
      (s.solo.beneficiary || "the parent node's beneficiary (not reported yet)") + ". " + s.solo.reason;
  }
  showHashrate(s.hashrate);
  showSync(s.sync);
}
function showStats(s) {
  setText("shares-accepted", String(s.shares.accepted));
  setText("shares-rejected", String(s.shares.rejected));
  setText("shares-stale", String(s.stratum.rejected_stale));
  showDevices((s.miner && s.miner.devices) || []);
}
function showDevices(list) {
  const statusClass = { ok: "ok", throttled: "warn", paused: "warn" };
  fill("devices", list.map((d) => {
    const detail = [d.chips != null ? d.chips + " chips" : "",
      d.frequency_mhz != null ? d.frequency_mhz.toFixed(2) + " MHz" : ""].filter(Boolean).join(", ");
    return row([
      [d.name, "mono", detail], d.kind, [fmtHashrate(d.hashrate), "num"],
      [String(d.accepted), "num"], [String(d.rejected), "num"], [String(d.hardware_errors), "num"],
      [d.temperature != null ? d.temperature.toFixed(0) + " \u00b0C" : "-", "num"],
      [d.fans.length ? d.fans.join(" / ") + " rpm" : "-", "num"],
      [d.status, statusClass[d.status] || "bad", d.error || ""],
    ]);
  }));
}
function showWorkers(list) {
  fill("workers", list.map((w) => row([
    [w.name, "", w.name], [String(w.accepted), "num"], [String(w.rejected), "num"],
    [fmtHashrate(w.hashrate), "num"], fmtTime(w.last_share_time),
  ])));
}
function showPayouts(p) {
  state.reward = p.reward_sat;
  fill("payouts", p.expected.map((e) => row([
    [e.address || e.script, "mono", e.script, e.address ? minerHref("", e.address) : null],
    [fmtCoins(e.amount_sat), "num"],
    [(p.reward_sat ? (100 * e.amount_sat / p.reward_sat).toFixed(2) : "0") + "%", "num"],
  ])));
  fill("blocks", p.blocks.slice(0, 25).map((b) => blockRow(b)));
}
function blockRow(b, cls) {
  const paid = b.payouts.map((o) => (o.address || o.script).slice(0, 12) + "\u2026 " + fmtCoins(o.amount_sat)).join(", ");
  return row([String(b.height), [short(b.hash), "mono", b.hash], chainCell(b), [paid, "", paid], fmtTime(b.time)], cls);
}
// What the parent chain holds of a found block; what submitblock answered is the tooltip.
function shareRow(s, cls) {
  return row([[String(s.height), "num"], [short(s.hash), "mono", s.hash], [s.finder || "-", "", s.finder || ""], fmtTime(s.time)], cls);
}
function showShares(page) {
  fill("shares", page.shares.map((s) => shareRow({ hash: s.hash, height: s.height, finder: s.address || s.script, time: s.time })));
}
function showPeers(list) {
  fill("peers", list.map((p) => row([[p.id, "mono"], p.address, fmtTime(p.connected_since)])));
}
function showChain(c) {
  setText("share-difficulty", "next share difficulty " + c.share_difficulty.toPrecision(4));
}

async function refresh(what) {
  const jobs = {
    status: () => api("api/status").then(showStatus),
    stats: () => api("api/stats").then(showStats),
    workers: () => api("api/workers").then(showWorkers),
    payouts: () => api("api/payouts").then(showPayouts),
    shares: () => api("api/shares?per_page=20").then(showShares),
    peers: () => api("api/peers").then(showPeers),
    chain: () => api("api/chain").then(showChain),
  };
  const names = what || Object.keys(jobs);
  await Promise.all(names.map((n) => jobs[n]().catch((e) => console.warn("refresh " + n, e))));
}
// Many events in a burst cause one refresh of the tables they change.
function refreshSoon() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    refresh(["workers", "payouts", "stats", "status", "chain"]);
  }, 1000);
}

function prepend(tableId, tr, keep) {
  const body = $(tableId).querySelector("tbody");
  body.insertBefore(tr, body.firstChild);
  while (body.children.length > keep) body.removeChild(body.lastChild);
  $(tableId + "-empty").classList.add("hidden");
}
function bump(id) { const el = $(id); el.textContent = String(Number(el.textContent || 0) + 1); }

function onEvent(msg) {
  const d = msg.data;
  switch (msg.type) {
    case "hello": setText("node-name", d.name); setText("chain", d.chain); break;
    case "hashrate": showHashrate(d); pushChart(d); break;
    case "sync": showSync(d); break;
    case "share_accepted":
      bump("shares-accepted");
      prepend("shares", shareRow({ hash: d.hash, height: d.height, finder: d.worker, time: d.time }, "fresh"), 20);
      setText("share-height", String(d.height));
      refreshSoon();
      break;
    case "peer_share_accepted": setText("share-height", String(d.height)); refreshSoon(); break;
    case "share_rejected": bump("shares-rejected"); refreshSoon(); break;
    case "block_found": prepend("blocks", blockRow(d, "fresh"), 25); refreshSoon(); break;
    case "peer_joined": case "peer_left": refresh(["peers"]); break;
    case "parent_unavailable": setText("parent-state", "daemon unreachable"); break;
    default: break;
  }
}

function connect() {
  const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host +
    location.pathname.replace(/[^/]*$/, "") + "api/ws";
  const ws = new WebSocket(url);
  state.ws = ws;
  ws.onopen = () => { state.retry = 1000; $("ws-state").textContent = "live"; $("ws-state").className = "pill on"; };
  ws.onmessage = (e) => { try { onEvent(JSON.parse(e.data)); } catch (err) { console.warn("bad event", err); } };
  ws.onclose = () => {
    $("ws-state").textContent = "offline"; $("ws-state").className = "pill off";
    setTimeout(() => { refresh(); connect(); }, state.retry);
    state.retry = Math.min(state.retry * 2, 30000);
  };
}

// The chart: pool and local hashrate over the chosen range, drawn on a canvas. It opens
// with the node's recorded history (/api/history: minute points up to 24 h, hour points
// beyond) and goes on with the live ticks of the WebSocket (every 5 s, the last hour).
async function loadHistory() {
  const range = state.range;
  try {
    const h = await api("api/history?series=pool_hashrate,local_hashrate&range=" + encodeURIComponent(range));
    if (range !== state.range) return;
    const local = new Map(h.series.local_hashrate || []);
    state.history = (h.series.pool_hashrate || []).map(([t, v]) => ({ t, pool: v, local: local.get(t) || 0 }));
    state.resolution = h.resolution_secs || 60;
  } catch (e) {
    console.warn("history", e);
  }
  updateChart();
}
function updateChart() {
  const to = Math.max(Date.now() / 1000, ...state.live.map((p) => p.t));
  const from = to - RANGES[state.range];
  const firstLive = state.live.length ? state.live[0].t : Infinity;
  state.chart = state.history.filter((p) => p.t >= from && p.t + state.resolution <= firstLive)
    .concat(state.live.filter((p) => p.t >= from));
  drawChart();
}
function pushChart(h) {
  state.live.push({ t: h.time, pool: h.pool, local: h.local });
  if (state.live.length > state.liveMax) state.live.shift();
  updateChart();
}
function fmtChartTime(unix) {
  if (RANGES[state.range] <= 86400) return fmtTime(unix);
  return new Date(unix * 1000).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}
function drawChart() {
  const pts = state.chart;
  const to = Math.max(Date.now() / 1000, ...pts.map((p) => p.t));
  const lines = [
    { points: pts.map((p) => [p.t, p.pool]), color: "--pool" },
    { points: pts.map((p) => [p.t, p.local]), color: "--local" },
  ];
  // A gap longer than two points (the node was down) breaks the line.
  drawSeries($("hashrate-chart"), lines, to - RANGES[state.range], to,
    { gap: 2 * state.resolution + 10, label: fmtChartTime });
}

// The search box opens a payout address's page.
$("miner-search").addEventListener("submit", (e) => {
  e.preventDefault();
  const address = $("miner-address").value.trim();
  if (address) location.assign(minerHref("", address));
});

window.addEventListener("resize", drawChart);
$("chart-range").addEventListener("change", (e) => {
  if (!RANGES[e.target.value]) return;
  state.range = e.target.value;
  loadHistory();
});
// History first, so the chart opens filled; the live ticks continue it.
loadHistory().then(connect);
// The status first: it names the coin the amounts are in.
refresh(["status"]).then(() => refresh());
setInterval(() => refresh(["status", "stats", "workers", "peers"]), 15000);
// New minute (or hour) points arrive once a minute.
setInterval(loadHistory, 60000);

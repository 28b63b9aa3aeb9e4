// Otedama miner page: one payout address, from /api/miner/{address} and its history
// series. Uses common.js.
"use strict";

const root = rootPath(1);
const address = decodeURIComponent(location.pathname.replace(/^.*\/miner\//, "").replace(/\/$/, ""));
const current = { view: null, history: [], workers: [] };

function show(v) {
  current.view = v;
  $("error").classList.add("hidden");
  setText("address", v.address);
  setText("chain", v.chain);
  setText("updated", "updated " + fmtTime(Date.now() / 1000));
  setText("expected", fmtCoins(v.expected.amount_sat));
  setText("expected-note", v.expected.amount_sat > 0
    ? "of " + fmtCoins(v.expected.reward_sat) + " if a block were found now"
    : v.window.shares + v.window.uncles > 0 ? "below the dust threshold for now" : "no shares in the window");
  setText("window-shares", String(v.window.shares));
  setText("window-note", v.window.uncles + " uncles; window of " + v.window.window_shares + " shares" +
    (v.window.oldest_time ? ", " + fmtAge(v.window.newest_time - v.window.oldest_time) : ""));
  setText("window-fraction", (100 * v.window.fraction).toFixed(2) + "%");
  setText("window-miners", v.window.window_miners + " miners in the window");
  setText("hashrate-chain", fmtHashrate(v.hashrate.sharechain));
  setText("hashrate-workers", fmtHashrate(v.hashrate.workers) + " reported by its workers here");
  setText("paid", fmtCoins(v.paid_sat));
  setText("paid-note", "confirmed on chain; " + fmtCoins(v.pending_sat) + " pending, " +
    v.payouts.length + " blocks");
  const va = v.variance;
  setText("var-block", va.expected_block_secs == null ? "-" : fmtAge(va.expected_block_secs));
  setText("var-share", va.expected_share_secs == null ? "-" : fmtAge(va.expected_share_secs));
  setText("var-window", va.expected_window_shares.toFixed(1) + " \u00b1 " + va.window_shares_stddev.toFixed(1));
  setText("var-pool", fmtHashrate(va.pool_hashrate));
  fill("payouts", v.payouts.map((p) => row([
    String(p.height), [short(p.hash), "mono", p.hash], chainCell(p),
    [fmtCoins(p.amount_sat), "num"], fmtTime(p.time),
  ])));
  fill("workers", v.workers.map((w) => row([
    [w.name, "", w.name], [String(w.accepted), "num"], [String(w.rejected), "num"],
    [fmtHashrate(w.hashrate), "num"], fmtTime(w.last_share_time),
  ])));
  draw();
}

function draw() {
  const v = current.view;
  const chain = v ? v.hashrate.series.map((p) => [p.time, p.hashrate]) : [];
  const lines = [
    { points: chain, color: "--ok" },
    { points: current.history, color: "--local" },
    { points: current.workers, color: "--pool" },
  ];
  const times = lines.flatMap((l) => l.points.map((p) => p[0]));
  const now = Date.now() / 1000;
  drawSeries($("miner-chart"), lines, times.length ? Math.min(...times) : now - 3600, Math.max(now, ...times));
}

async function load() {
  try {
    setCoin((await api(root + "api/status")).coin);
    show(await api(root + "api/miner/" + encodeURIComponent(address)));
  } catch (e) {
    setText("error", "Cannot show " + address + ": " + e.message);
    $("error").classList.remove("hidden");
  }
}

// This node's recorded history of the address (the last 24 h): the sharechain's view
// and its workers' reports, where the node keeps them.
async function loadHistory() {
  const names = ["miner:" + address, "workers:" + address];
  try {
    const h = await api(root + "api/history?series=" + names.map(encodeURIComponent).join(",") + "&range=24h");
    current.history = h.series[names[0]] || [];
    current.workers = h.series[names[1]] || [];
    draw();
  } catch (e) {
    console.warn("history", e);
  }
}

setText("address", address);
setText("api-path", "/api/miner/" + address);
window.addEventListener("resize", draw);
load();
loadHistory();
setInterval(load, 10000);
setInterval(loadHistory, 60000);

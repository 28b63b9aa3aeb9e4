// Helpers shared by the node's pages (dashboard, miner page, API explorer). No
// dependencies. Values from the node go into the page with textContent, never as HTML:
// worker names and addresses come from miners and must not be able to inject markup.
"use strict";

const $ = (id) => document.getElementById(id);

function fmtHashrate(h) {
  if (!Number.isFinite(h) || h <= 0) return "0 H/s";
  const units = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s", "EH/s"];
  let i = 0;
  while (h >= 1000 && i < units.length - 1) { h /= 1000; i += 1; }
  return h.toFixed(h < 10 ? 2 : h < 100 ? 1 : 0) + " " + units[i];
}
// Decimal places of the chain's coin (8 for BTC and LTC, 12 for XMR), from /api/status.
let coinDecimals = 8;
function setCoin(coin) {
  if (coin && Number.isInteger(coin.decimals) && coin.decimals >= 0 && coin.decimals <= 18) coinDecimals = coin.decimals;
}
function fmtCoins(sat) { return (sat / 10 ** coinDecimals).toFixed(coinDecimals); }
function fmtTime(unix) {
  if (!unix) return "-";
  return new Date(unix * 1000).toLocaleTimeString();
}
function fmtAge(secs) {
  secs = Math.max(0, Math.round(secs));
  const d = Math.floor(secs / 86400), h = Math.floor(secs / 3600) % 24, m = Math.floor(secs / 60) % 60;
  return (d ? d + "d " : "") + (h ? h + "h " : "") + m + "m " + (secs % 60) + "s";
}
function short(hash) { return hash ? hash.slice(0, 10) + "\u2026" + hash.slice(-6) : "-"; }
function setText(id, text) { const el = $(id); if (el) el.textContent = text; }

function row(cells, cls) {
  const tr = document.createElement("tr");
  if (cls) tr.className = cls;
  for (const c of cells) {
    const td = document.createElement("td");
    const [text, klass, title, href] = Array.isArray(c) ? c : [c];
    if (href) {
      const a = document.createElement("a");
      a.href = href;
      a.textContent = text;
      td.appendChild(a);
    } else {
      td.textContent = text;
    }
    if (klass) td.className = klass;
    if (title) td.title = title;
    tr.appendChild(td);
  }
  return tr;
}
function fill(tableId, rows) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren(...rows);
  $(tableId + "-empty").classList.toggle("hidden", rows.length > 0);
}

async function api(path) {
  const r = await fetch(path, { headers: { Accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error((body.error && (body.error.message || body.error.code)) || r.status);
  return body;
}

// The path of the node's root from a page at `depth` segments below it (the pages use
// relative URLs, so they work behind a reverse proxy's path prefix too).
function rootPath(depth) {
  let p = location.pathname.replace(/[^/]*$/, "");
  for (let i = 0; i < depth; i += 1) p = p.replace(/[^/]*\/$/, "");
  return p;
}

// The status cell of a found block (or a miner's payout from one): what the parent chain
// says now, with what submitblock answered in the tooltip.
function chainCell(b) {
  const c = b.chain || { state: "pending" };
  const title = "submitblock: " + b.status + (c.checked_at ? "; checked " + new Date(c.checked_at * 1000).toLocaleString() : "");
  if (b.status === "rejected" && c.state !== "confirmed") return ["rejected", "bad", title];
  let text = c.state === "confirmed"
    ? "confirmed on chain (" + c.confirmations + " confirmation" + (c.confirmations === 1 ? "" : "s") + (c.mature ? ", mature" : "") + ")"
    : c.state;
  let klass = c.state === "confirmed" ? "ok" : c.state === "orphaned" ? "bad" : "warn";
  if (c.coinbase_matches === false) { text += "; coinbase differs from the recorded payouts"; klass = "bad"; }
  return [text, klass, title];
}
// The link to a payout address's page.
function minerHref(root, address) { return root + "miner/" + encodeURIComponent(address); }

// Draws time series on a canvas: `lines` is [{ points: [[unix, value], ...], color: "--var" }],
// the x axis spans `from`..`to` (unix seconds), the y axis is a hashrate from 0. Options:
// `gap` (seconds: a longer step between points breaks the line, where the node was down)
// and `label` (formats the axis times; default fmtTime).
function drawSeries(canvas, lines, from, to, opts = {}) {
  const label = opts.label || fmtTime;
  const ratio = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 960, h = canvas.clientHeight || 220;
  if (canvas.width !== Math.round(w * ratio)) { canvas.width = Math.round(w * ratio); canvas.height = Math.round(h * ratio); }
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, w, h);
  const css = getComputedStyle(document.documentElement);
  const pad = { l: 70, r: 10, t: 10, b: 22 };
  const values = lines.flatMap((l) => l.points.map((p) => p[1]));
  const max = Math.max(1, ...values) * 1.1;
  g.strokeStyle = css.getPropertyValue("--line"); g.fillStyle = css.getPropertyValue("--muted");
  g.font = "11px sans-serif"; g.lineWidth = 1;
  for (let i = 0; i <= 4; i += 1) {
    const y = pad.t + (h - pad.t - pad.b) * i / 4;
    g.beginPath(); g.moveTo(pad.l, y); g.lineTo(w - pad.r, y); g.stroke();
    g.fillText(fmtHashrate(max * (4 - i) / 4), 4, y + 4);
  }
  const span = Math.max(1, to - from);
  g.fillText(label(from), pad.l, h - 6);
  const last = label(to);
  g.fillText(last, w - pad.r - g.measureText(last).width, h - 6);
  const x = (t) => pad.l + (w - pad.l - pad.r) * Math.min(1, Math.max(0, (t - from) / span));
  const y = (v) => h - pad.b - (h - pad.t - pad.b) * v / max;
  for (const line of lines) {
    g.strokeStyle = css.getPropertyValue(line.color); g.lineWidth = 2; g.beginPath();
    line.points.forEach((p, i) => {
      const broken = i === 0 || (opts.gap && p[0] - line.points[i - 1][0] > opts.gap);
      if (broken) g.moveTo(x(p[0]), y(p[1])); else g.lineTo(x(p[0]), y(p[1]));
    });
    g.stroke();
  }
}

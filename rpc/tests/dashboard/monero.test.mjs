// End-to-end test of the dashboard and a miner page on a Monero sidechain node, in
// headless Chromium. Run by node/tests/dashboard.rs against
// `otedama-node devnet --chain xmr-regtest --api ADDR` (real monerod on regtest, two
// built-in RandomX miners paying two wallets), with OTEDAMA_DASHBOARD_URL,
// OTEDAMA_SCREENSHOT (the dashboard's screenshot; the miner page's goes beside it) and
// CHROMIUM set as for the other tests.

import { test } from "node:test";
import assert from "node:assert/strict";
import { withPage, screenshot as save, inked } from "./browser.mjs";

const url = process.env.OTEDAMA_DASHBOARD_URL;
const screenshot = process.env.OTEDAMA_SCREENSHOT || "monero.png";

async function getJson(path) {
  const r = await fetch(new URL(path, url));
  assert.equal(r.status, 200, path);
  return r.json();
}

test("a Monero node's dashboard and miner page show its sidechain in XMR", { timeout: 240_000 }, async () => {
  assert.ok(url, "set OTEDAMA_DASHBOARD_URL to a running node's API");
  const status = await getJson("api/status");
  assert.deepEqual(status.coin, { ticker: "XMR", decimals: 12 });

  await withPage(url, { width: 1280, height: 1400 }, async ({ page }) => {
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => document.getElementById("ws-state").textContent === "live", null, { timeout: 20_000 });
    await page.waitForFunction(() => document.getElementById("chain").textContent === "xmr-regtest", null, { timeout: 10_000 });

    // The miners' shares fill the tables; the workers are the xmrig logins.
    for (const table of ["workers", "shares", "payouts"]) {
      await page.waitForFunction((t) => document.querySelectorAll(`#${t} tbody tr`).length > 0, table, { timeout: 120_000 });
    }
    const workers = await page.$$eval("#workers tbody tr td:first-child", (tds) => tds.map((td) => td.textContent));
    assert.ok(workers.some((w) => /\.rig[12]$/.test(w)), `devnet rigs listed: ${workers}`);
    const amounts = await page.$$eval("#payouts tbody tr td:nth-child(2)", (tds) => tds.map((td) => td.textContent));
    assert.ok(amounts.every((a) => /^\d+\.\d{12}$/.test(a)), `amounts in XMR: ${amounts}`);

    // A block monerod accepts arrives over the WebSocket and is read back from monerod.
    await page.waitForFunction(() => [...document.querySelectorAll("#blocks tbody tr td:nth-child(3)")]
      .some((td) => td.textContent.startsWith("confirmed on chain (")), null, { timeout: 180_000 });
    await page.waitForFunction(() => state.chart.length >= 2, null, { timeout: 20_000 });
    assert.ok(await inked(page, "hashrate-chart") > 500, "the chart is drawn");
    await save(page, screenshot);
  });

  // A rig's address: its page shows what a block found now pays it, to the piconero,
  // once its shares are in the window (they may all have been uncles, or have left it).
  const workers = await getJson("api/workers");
  const address = workers.find((w) => w.name.endsWith(".rig1")).address;
  await withPage(url, { width: 1280, height: 1200 }, async ({ page }) => {
    await page.goto(new URL("miner/" + encodeURIComponent(address), url).href, { waitUntil: "load" });
    await page.waitForFunction((a) => document.getElementById("address").textContent === a, address, { timeout: 10_000 });
    await page.waitForFunction(async (a) => {
      const v = await (await fetch("../api/miner/" + encodeURIComponent(a))).json();
      return v.window.shares + v.window.uncles > 0
        && v.expected.amount_sat > 0
        && document.getElementById("expected").textContent === (v.expected.amount_sat / 1e12).toFixed(12);
    }, address, { timeout: 120_000, polling: 1000 });
    const view = await getJson("api/miner/" + encodeURIComponent(address));
    assert.ok(view.window.shares + view.window.uncles > 0, "it has shares in the window");
    assert.ok(view.window.window_shares >= view.window.shares, "its shares are part of the window");
    await save(page, screenshot.replace(/\.png$/, "-miner.png"));
  });
});

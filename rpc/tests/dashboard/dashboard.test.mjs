// End-to-end test of the dashboard in headless Chromium against a running node.
//
// Run by node/tests/dashboard.rs, which starts `otedama-node devnet --api ADDR` and sets:
//   OTEDAMA_DASHBOARD_URL  the node's API base, e.g. http://127.0.0.1:18080/
//   OTEDAMA_SCREENSHOT     where to save a screenshot (a test artifact)
//   CHROMIUM               the browser (default /usr/bin/chromium, Debian's package)
// By hand: start a devnet with --api, then `OTEDAMA_DASHBOARD_URL=... npm test`.

import { test } from "node:test";
import assert from "node:assert/strict";
import { withPage, screenshot as save, inked } from "./browser.mjs";

const url = process.env.OTEDAMA_DASHBOARD_URL;
const screenshot = process.env.OTEDAMA_SCREENSHOT || "dashboard.png";

test("the dashboard fills with live data and shows a new block without reloading", { timeout: 120_000 }, async () => {
  assert.ok(url, "set OTEDAMA_DASHBOARD_URL to a running node's API");
  await withPage(url, { width: 1280, height: 1400 }, async ({ page }) => {
    const response = await page.goto(url, { waitUntil: "load" });
    assert.equal(response.status(), 200);
    await page.evaluate(() => { window.__loadedOnce = true; });

    // Live connection and the first data.
    await page.waitForFunction(() => document.getElementById("ws-state").textContent === "live", null, { timeout: 20_000 });
    await page.waitForFunction(() => document.getElementById("chain").textContent.length > 0);
    assert.equal(await page.textContent("#chain"), "ltc-regtest");

    // Tables fill with live data from the miners.
    for (const table of ["workers", "shares", "payouts", "blocks"]) {
      await page.waitForFunction((t) => document.querySelectorAll(`#${t} tbody tr`).length > 0, table, { timeout: 60_000 });
    }
    const workers = await page.$$eval("#workers tbody tr td:first-child", (tds) => tds.map((td) => td.textContent));
    assert.ok(workers.some((w) => w.endsWith(".devnet")), `devnet workers listed: ${workers}`);
    const accepted = Number(await page.textContent("#shares-accepted"));
    assert.ok(accepted > 0, "accepted shares counted");
    const payout = await page.$$eval("#payouts tbody tr td:nth-child(3)", (tds) => tds.map((td) => parseFloat(td.textContent)));
    const total = payout.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 100) < 0.1, `expected payout shares sum to 100%: ${payout}`);
    assert.match(await page.textContent("#sync-text"), /^100% synced/);

    // The node's built-in miner is listed as a device and its shares are counted there.
    assert.equal(await page.textContent("#mining-state"), "running");
    await page.waitForFunction(() => {
      const cells = [...document.querySelectorAll("#devices tbody tr:first-child td")].map((td) => td.textContent);
      return cells[0] === "cpu" && Number(cells[3]) > 0;
    }, null, { timeout: 60_000 });
    const device = await page.$$eval("#devices tbody tr:first-child td", (tds) => tds.map((td) => td.textContent));
    assert.equal(device[1], "cpu");
    assert.match(device[2], /H\/s$/);
    assert.equal(device[8], "ok");
    assert.equal(await page.$$eval("#devices tbody tr", (r) => r.length), 1);
    assert.equal(await page.$$eval("#peers tbody tr", (r) => r.length), 0);

    // A block found now arrives over the WebSocket: rows marked `fresh` are only ever
    // added by live events, and the marker set after load proves there was no reload.
    await page.waitForSelector("#blocks tbody tr.fresh", { timeout: 60_000 });
    assert.equal(await page.evaluate(() => window.__loadedOnce), true, "the page did not reload");
    const status = await page.textContent("#blocks tbody tr.fresh td:nth-child(3)");
    assert.ok(["pending", "rejected"].includes(status) || status.startsWith("confirmed on chain"), status);
    // Found blocks are read back from the daemon: one shows as confirmed on chain.
    await page.waitForFunction(() => [...document.querySelectorAll("#blocks tbody tr td:nth-child(3)")]
      .some((td) => td.textContent.startsWith("confirmed on chain (")), null, { timeout: 60_000 });

    // Hashrate ticks (every 5 s) reach the hand-drawn chart.
    await page.waitForFunction(() => state.chart.length >= 2, null, { timeout: 20_000 });
    const drawn = await inked(page, "hashrate-chart");
    assert.ok(drawn > 500, `the chart is drawn (${drawn} pixels)`);
    assert.notEqual(await page.textContent("#pool-hashrate"), "-");

    await save(page, screenshot);
  });
});

// End-to-end test of the dashboard of a solo Ethereum Classic node, in headless Chromium.
// Run by testnet/tests/etc_solo.rs against `otedama-node serve` on etc-regtest (its
// built-in CPU miner, the core-geth stand-in), with OTEDAMA_DASHBOARD_URL,
// OTEDAMA_SCREENSHOT and CHROMIUM set as for the other tests.

import { test } from "node:test";
import assert from "node:assert/strict";
import { withPage, screenshot as save } from "./browser.mjs";

const url = process.env.OTEDAMA_DASHBOARD_URL;
const screenshot = process.env.OTEDAMA_SCREENSHOT || "etc.png";

async function getJson(path) {
  const r = await fetch(new URL(path, url));
  assert.equal(r.status, 200, path);
  return r.json();
}

test("a solo node's dashboard says it is solo, names the etherbase and pays in ETC", { timeout: 180_000 }, async () => {
  assert.ok(url, "set OTEDAMA_DASHBOARD_URL to a running node's API");
  await withPage(url, { width: 1280, height: 1200 }, async ({ page }) => {
    await page.goto(url, { waitUntil: "load" });
    await page.waitForFunction(() => document.getElementById("ws-state").textContent === "live", null, { timeout: 20_000 });
    await page.waitForFunction(() => document.getElementById("chain").textContent === "etc-regtest", null, { timeout: 10_000 });

    // The banner states the terms, with the beneficiary core-geth reported.
    await page.waitForFunction(() => /0x[0-9a-f]{40}/.test(document.getElementById("solo-note").textContent), null, { timeout: 30_000 });
    const status = await getJson("api/status");
    assert.deepEqual(status.coin, { ticker: "ETC", decimals: 18 });
    const note = await page.$eval("#solo-note", (p) => ({ hidden: p.hidden, text: p.textContent }));
    assert.equal(note.hidden, false, "the solo banner is shown");
    assert.ok(note.text.startsWith("Solo mining, no sharechain: every block pays " + status.solo.beneficiary), note.text);
    assert.ok(note.text.includes("one beneficiary"), note.text);

    // Blocks sealed by the built-in miner appear, each paying 5 ETC to the etherbase.
    await page.waitForFunction(() => document.querySelectorAll("#blocks tbody tr").length > 0, null, { timeout: 120_000 });
    const paid = await page.$$eval("#blocks tbody tr", (rows) => rows.map((r) => r.textContent));
    assert.ok(paid.some((t) => t.includes("5.000000000000000000")), `amounts in ETC: ${paid}`);
    const expected = await page.$$eval("#payouts tbody tr", (rows) => rows.map((r) => r.textContent));
    assert.equal(expected.length, 1, `one payout, to the etherbase: ${expected}`);
    await save(page, screenshot);
  });
});

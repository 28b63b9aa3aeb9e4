// End-to-end test of the miner page (`/miner/ADDRESS`) in headless Chromium against a
// running devnet. Run by node/tests/dashboard.rs after the dashboard's test, with the same
// environment, plus OTEDAMA_MINER_SCREENSHOT for this page's screenshot.

import { test } from "node:test";
import assert from "node:assert/strict";
import { withPage, screenshot as save, inked } from "./browser.mjs";

const url = process.env.OTEDAMA_DASHBOARD_URL;
const screenshot = process.env.OTEDAMA_MINER_SCREENSHOT || "miner.png";

async function getJson(path) {
  const r = await fetch(new URL(path, url));
  assert.equal(r.status, 200, path);
  return r.json();
}

test("a devnet miner's page shows its expected payout, its blocks and a chart at once", { timeout: 120_000 }, async () => {
  assert.ok(url, "set OTEDAMA_DASHBOARD_URL to a running node's API");
  // A devnet miner's address, from its Stratum worker name (ADDRESS.devnet).
  let address = null;
  for (let i = 0; i < 60 && !address; i += 1) {
    const workers = await getJson("api/workers");
    const w = workers.find((w) => w.name.endsWith(".devnet"));
    if (w) address = w.address;
    else await new Promise((r) => setTimeout(r, 1000));
  }
  assert.ok(address, "a devnet worker shows up");

  await withPage(url, { width: 1280, height: 1200 }, async ({ context, page }) => {
    // The search box on the dashboard leads to the page.
    await page.goto(url, { waitUntil: "load" });
    await page.fill("#miner-address", address);
    await Promise.all([page.waitForURL(/\/miner\//), page.click("#miner-search button")]);
    assert.equal(decodeURIComponent(new URL(page.url()).pathname.split("/").pop()), address);

    // Right after load: the address, and a chart with the sharechain's view drawn.
    await page.waitForFunction((a) => document.getElementById("address").textContent === a, address, { timeout: 10_000 });
    await page.waitForFunction(() => current.view !== null && current.view.hashrate.series.length > 0, null, { timeout: 10_000 });
    const drawn = await inked(page, "miner-chart");
    assert.ok(drawn > 500, `the chart is drawn right after load (${drawn} pixels)`);

    // The expected payout is the API's, to the satoshi (retried: shares keep arriving).
    await page.waitForFunction(async (a) => {
      const v = await (await fetch("../api/miner/" + encodeURIComponent(a))).json();
      return document.getElementById("expected").textContent === (v.expected.amount_sat / 1e8).toFixed(8)
        && v.expected.amount_sat > 0;
    }, address, { timeout: 30_000, polling: 1000 });

    // Blocks that paid it fill the list (every devnet share is a regtest block), and the
    // node reads them back from the daemon: one shows as confirmed on chain.
    await page.waitForFunction(() => [...document.querySelectorAll("#payouts tbody tr td:nth-child(3)")]
      .some((td) => td.textContent.startsWith("confirmed on chain (")), null, { timeout: 60_000 });
    const api = await getJson("api/miner/" + encodeURIComponent(address));
    assert.ok(api.payouts.length > 0 && api.paid_sat > 0, "the API lists its confirmed payouts");
    assert.ok(api.window.shares > 0, "it has shares in the window");
    const workers = await page.$$eval("#workers tbody tr td:first-child", (tds) => tds.map((td) => td.textContent));
    assert.deepEqual(workers, [address + ".devnet"]);

    // A bad address is an error on the page, not a blank one.
    const bad = await context.newPage();
    await bad.goto(new URL("miner/not-an-address", url).href, { waitUntil: "load" });
    await bad.waitForFunction(() => !document.getElementById("error").classList.contains("hidden"), null, { timeout: 10_000 });
    await bad.close();

    await save(page, screenshot);
  });
});

test("the API explorer lists the OpenAPI document's operations and calls one", { timeout: 60_000 }, async () => {
  const doc = await getJson("api/docs");
  const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
  await withPage(url, { width: 1280, height: 1000 }, async ({ page }) => {
    await page.goto(new URL("docs", url).href, { waitUntil: "load" });
    await page.waitForFunction((n) => document.querySelectorAll("details.op").length === n, operations, { timeout: 10_000 });
    const status = page.locator("details.op", { hasText: "GET /api/status" });
    await status.locator("summary").click();
    await status.locator("button").click();
    await status.locator("pre.result").filter({ hasText: /^200 OK/ }).waitFor({ timeout: 10_000 });
    assert.match(await status.locator("pre.result").textContent(), /"chain": "ltc-regtest"/);
    await save(page, screenshot.replace(/\.png$/, "-docs.png"));
  });
});

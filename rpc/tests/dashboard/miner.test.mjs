// End-to-end test of the miner page (`/miner/ADDRESS`) in headless Chromium against a
// running devnet. Run by node/tests/dashboard.rs after the dashboard's test, with the same
// environment, plus OTEDAMA_MINER_SCREENSHOT for this page's screenshot.

import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { chromium } from "playwright-core";

const url = process.env.OTEDAMA_DASHBOARD_URL;
const screenshot = process.env.OTEDAMA_MINER_SCREENSHOT || "miner.png";
const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

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

  const profile = mkdtempSync(join(tmpdir(), "otedama-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport: { width: 1280, height: 1200 },
    args: [
      "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  try {
    const page = context.pages()[0] || (await context.newPage());
    const origin = new URL(url).origin;
    const foreign = [];
    const errors = [];
    page.on("request", (r) => { if (new URL(r.url()).origin !== origin) foreign.push(r.url()); });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });

    // The search box on the dashboard leads to the page.
    await page.goto(url, { waitUntil: "load" });
    await page.fill("#miner-address", address);
    await Promise.all([page.waitForURL(/\/miner\//), page.click("#miner-search button")]);
    assert.equal(decodeURIComponent(new URL(page.url()).pathname.split("/").pop()), address);

    // Right after load: the address, and a chart with the sharechain's view drawn.
    await page.waitForFunction((a) => document.getElementById("address").textContent === a, address, { timeout: 10_000 });
    await page.waitForFunction(() => current.view !== null && current.view.hashrate.series.length > 0, null, { timeout: 10_000 });
    const inked = await page.evaluate(() => {
      const c = document.getElementById("miner-chart");
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n += 1;
      return n;
    });
    assert.ok(inked > 500, `the chart is drawn right after load (${inked} pixels)`);

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

    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true });

    assert.deepEqual(foreign, [], "no request leaves the node (works offline)");
    assert.deepEqual(errors, [], "no script errors");
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

// Shared by the browser tests: headless Chromium (Debian's, never a downloaded build) on a
// throwaway profile, and a page that records requests leaving the node and script errors.

import assert from "node:assert/strict";
import { mkdtempSync, rmSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname } from "node:path";
import { chromium } from "playwright-core";

const executablePath = process.env.CHROMIUM || "/usr/bin/chromium";

// Runs `body({ context, page })` on a fresh page for the node at `url`, then asserts that
// no request left the node (the pages work offline) and no script error was logged.
export async function withPage(url, viewport, body) {
  const profile = mkdtempSync(join(tmpdir(), "otedama-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    viewport,
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
    page.on("request", (r) => {
      const u = new URL(r.url());
      if (u.origin !== origin && u.origin.replace(/^http/, "ws") !== origin.replace(/^http/, "ws")) foreign.push(r.url());
    });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    await body({ context, page });
    assert.deepEqual(foreign, [], "no request leaves the node (works offline)");
    assert.deepEqual(errors, [], "no script errors");
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

// Saves a full-page screenshot (a test artifact) at `path`.
export async function screenshot(page, path) {
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: true });
}

// How many pixels of the canvas `id` are drawn.
export async function inked(page, id) {
  return page.evaluate((canvasId) => {
    const c = document.getElementById(canvasId);
    const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n += 1;
    return n;
  }, id);
}

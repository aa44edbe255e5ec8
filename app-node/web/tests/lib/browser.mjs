// Headless Debian Chromium driven by playwright-core (no browser download),
// in a fresh profile directory per launch.
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { REPO_DIR } from './node.mjs';

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic'];

/** `bypassCSP` lets a test inject its own script (the axe audit) into pages. */
export async function launch({ bypassCSP = false } = {}) {
  const profile = mkdtempSync(join(tmpdir(), 'reel-chromium-'));
  // Playwright wants the profile as launchPersistentContext's argument
  // rather than a --user-data-dir flag; it passes it on as that flag.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    args: ARGS,
    viewport: { width: 1100, height: 760 },
    bypassCSP,
    timeout: 60_000,
  });
  context.setDefaultTimeout(20_000);
  const page = context.pages()[0] || await context.newPage();
  const dialogs = [];
  page.on('dialog', (d) => { dialogs.push(d.message()); d.dismiss().catch(() => {}); });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  return {
    context,
    page,
    dialogs,
    errors,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a screenshot under `<repo>/artifacts/`. */
export async function screenshot(page, name) {
  const dir = join(REPO_DIR, 'artifacts');
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: join(dir, name) });
}

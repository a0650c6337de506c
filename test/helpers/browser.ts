import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { IN_CI, REPO } from './dumps.js';

/**
 * Headless Chromium for the HTML report tests: Debian's `chromium` package driven by
 * playwright-core (which never downloads a browser). No network: the report must not need one,
 * and every request it makes is recorded as a problem.
 */
export const CHROMIUM = process.env.KDUMPKIT_CHROMIUM ?? '/usr/bin/chromium';

/** Screenshots and pages the browser tests leave for people to look at (gitignored). */
export const ARTIFACTS = join(REPO, 'test-artifacts');

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}

/** Chromium is needed: missing in CI is a failure, missing on a developer machine skips. */
export function needChromium(t: TestContext): boolean {
  if (existsSync(CHROMIUM)) return true;
  const how = "install Debian's chromium package (apt-get install chromium), or point KDUMPKIT_CHROMIUM at a Chromium binary";
  if (IN_CI) assert.fail(`missing ${CHROMIUM}: ${how}`);
  t.skip(`missing ${CHROMIUM}: ${how}`);
  return false;
}

export async function launchChromium(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  // playwright gives the browser a fresh temporary profile (--user-data-dir) and adds --headless.
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface OpenedPage {
  readonly page: Page;
  /** Console errors and warnings, page errors, failed requests, requests for anything but the page itself. */
  readonly problems: string[];
}

/** Opens a local HTML file in a new page and records everything that went wrong while it loaded. */
export async function openFile(browser: Browser, path: string, opts: { colorScheme?: 'light' | 'dark'; init?: string } = {}): Promise<OpenedPage> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 }, colorScheme: opts.colorScheme ?? 'light' });
  const problems: string[] = [];
  const url = pathToFileURL(path).href;
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText ?? '?'})`));
  page.on('request', (r) => {
    if (r.url() !== url) problems.push(`request: ${r.url()}`);
  });
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  if (opts.init) await page.addInitScript(opts.init);
  await page.goto(url, { waitUntil: 'load' });
  return { page, problems };
}

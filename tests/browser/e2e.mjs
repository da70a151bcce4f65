// End-to-end test of the bayestrial web app in headless Chromium.
//
// Starts `bayestrial serve` on a free loopback port with a fresh SQLite database, then runs the
// flows in flows/*.mjs in file-name order, each as the people it describes would work (see each
// file's header). Every page visited is saved as a screenshot in target/e2e/ at 1280 and 390 px
// wide, checked with axe-core (0 violations) and checked to be no wider than a 390 px screen
// (harness.mjs).
//
// Usage (from the repo root):
//   cargo build --bin bayestrial
//   npm ci --prefix tests/browser
//   BAYESTRIAL_BIN=target/debug/bayestrial node tests/browser/e2e.mjs [FLOW-NAME-SUBSTRING…]
//
// Environment: BAYESTRIAL_BIN (server binary, default target/debug/bayestrial relative to the
// repo root), CHROMIUM (browser, default /usr/bin/chromium).
// Exit status 0 when every step passed, 1 otherwise.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import {
  BIN, CHROMIUM, SHOTS, STEP_TIMEOUT_MS, WIDE, Server, Session, StepFailure, bounded, freePort, progress,
} from './harness.mjs';

const FLOWS = path.join(path.dirname(fileURLToPath(import.meta.url)), 'flows');
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  if (!fs.existsSync(BIN)) {
    console.error(`e2e: FAILED: server binary ${BIN} not found (build it with: cargo build --bin bayestrial)`);
    return 1;
  }
  if (!fs.existsSync(CHROMIUM)) {
    console.error(`e2e: FAILED: Chromium not found at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM)`);
    return 1;
  }
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const f of fs.readdirSync(SHOTS)) {
    if (/^\d{2,3}-.*\.png$/.test(f)) fs.rmSync(path.join(SHOTS, f), { force: true });
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bayestrial-e2e-'));
  const server = new Server(await freePort(), dir);
  let browser = null;
  let session = null;
  const cleanup = async () => {
    if (browser) await bounded(browser.close(), 10_000, null);
    browser = null;
    await server.stop().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  };
  // Last resort if this script dies some other way: never leave the server running.
  process.on('exit', () => {
    if (server.proc && !server.exited) server.proc.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.once(sig, () => {
      console.error(`e2e: interrupted (${sig})`);
      cleanup().finally(() => process.exit(1));
    });
  }

  try {
    try {
      await server.start();
    } catch (err) {
      console.error(`e2e: FAILED at step "start server": ${err.message}`);
      console.error(`  server output (last lines):\n${indent(server.tail())}`);
      return 1;
    }
    console.log(`e2e: server listening on ${server.base}`);

    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    const context = await browser.newContext({ viewport: WIDE });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
    session = new Session(page, server.base);

    // Flow files in name order; arguments (substrings of file names) pick some, after the core.
    const wanted = process.argv.slice(2);
    const files = fs.readdirSync(FLOWS).filter((f) => f.endsWith('.mjs')).sort()
      .filter((f) => f.startsWith('00-') || wanted.length === 0 || wanted.some((w) => f.includes(w)));
    const ctx = { s: session, server, adminPassword: server.password };
    for (const f of files) {
      const flow = (await import(pathToFileURL(path.join(FLOWS, f)).href)).default;
      console.log(`e2e: flow ${f}`);
      await flow(ctx);
    }

    for (const e of session.jsErrors) console.log(`e2e: warning: JavaScript error on ${e}`);
    console.log(`e2e: passed (${session.shots} pages)`);
    return 0;
  } catch (err) {
    const url = session ? session.page.url() : '(no page)';
    const expected = err instanceof StepFailure ? err.expected : `no error, got: ${err.message}`;
    let text = session ? await session.pageText() : '';
    if (session && text === '(page text unavailable)') {
      text = `(page text unavailable; the last page loaded showed:)\n${session.lastText}`;
    }
    text = text.slice(0, 500);
    if (session) {
      const file = path.join(SHOTS, `${String(session.shots + 1).padStart(3, '0')}-FAILED.png`);
      await bounded(session.page.screenshot({ path: file, fullPage: true, timeout: 10_000 }), 12_000, null);
    }
    console.error(`e2e: FAILED at step ${progress.stepNo} "${progress.currentStep}"`);
    console.error(`  url: ${url}`);
    console.error(`  expected: ${expected}`);
    console.error(`  page text (first 500 chars):\n${indent(text)}`);
    if (session) for (const e of session.jsErrors) console.error(`  JavaScript error on ${e}`);
    if (server.exited) console.error(`  server exited (code ${server.exited.code}, signal ${server.exited.signal})`);
    console.error(`  server output (last lines):\n${indent(server.tail())}`);
    return 1;
  } finally {
    await cleanup();
  }
}

function indent(text) {
  return text
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}

process.exit(await main());

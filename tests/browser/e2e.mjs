// End-to-end test of the bayestrial web app in headless Chromium.
//
// Starts `bayestrial serve` on a free loopback port with a fresh SQLite database, then walks
// through one trial as four people would: the admin creates users, a statistician uploads,
// validates, signs and starts a protocol, a coordinator enrols three participants and records
// their outcomes (and must never see allocation probabilities), and a regulator reads and
// verifies the audit trail. Every page visited is saved as a screenshot in target/e2e/.
//
// Usage (from the repo root):
//   cargo build --bin bayestrial
//   npm ci --prefix tests/browser
//   BAYESTRIAL_BIN=target/debug/bayestrial node tests/browser/e2e.mjs
//
// Environment: BAYESTRIAL_BIN (server binary, default target/debug/bayestrial relative to the
// repo root), CHROMIUM (browser, default /usr/bin/chromium).
// Exit status 0 when every step passed, 1 otherwise.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.resolve(REPO, process.env.BAYESTRIAL_BIN || 'target/debug/bayestrial');
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const SHOTS = path.join(REPO, 'target', 'e2e');
const STEP_TIMEOUT_MS = 30_000;
const STARTUP_TIMEOUT_MS = 60_000;
const USER_PASSWORD = 'correct-horse-battery-1';
const PROTOCOL = path.join(REPO, 'protocols', 'three-arm-pbest.toml');
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
// Failure reporting

class StepFailure extends Error {
  constructor(expected) {
    super(expected);
    this.expected = expected;
  }
}

// Resolves to `fallback` if `promise` takes longer than `ms` (for diagnostics and cleanup, which
// must not hang on a page stuck mid-navigation).
function bounded(promise, ms, fallback) {
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([Promise.resolve(promise).catch(() => fallback), late]).finally(() => clearTimeout(timer));
}

function expect(condition, expected) {
  if (!condition) throw new StepFailure(expected);
}

// ---------------------------------------------------------------------------------------------
// Server process

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

class Server {
  constructor(port, dir) {
    this.port = port;
    this.dir = dir;
    this.base = `http://127.0.0.1:${port}`;
    this.log = [];
    this.password = null;
    this.exited = null;
  }

  start() {
    const args = [
      'serve',
      '--bind', `127.0.0.1:${this.port}`,
      '--database-url', path.join(this.dir, 'bayestrial.db'),
      '--data-dir', this.dir,
    ];
    const shown = BIN.startsWith(REPO + path.sep) ? path.relative(REPO, BIN) : BIN;
    console.log(`e2e: starting ${shown} ${args.join(' ')}`);
    this.proc = spawn(BIN, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    return new Promise((resolve, reject) => {
      let listening = false;
      const timer = setTimeout(() => {
        reject(new Error(`server did not print "bayestrial: listening on ${this.base}" within ${STARTUP_TIMEOUT_MS / 1000} s`));
      }, STARTUP_TIMEOUT_MS);
      const onLine = (line) => {
        this.log.push(line);
        if (this.log.length > 400) this.log.shift();
        const pw = /password "([^"]+)"/.exec(line);
        if (pw && this.password === null) this.password = pw[1];
        if (!listening && /bayestrial: listening on http:\/\//.test(line)) {
          listening = true;
          clearTimeout(timer);
          if (this.password === null) {
            reject(new Error('server is listening but printed no admin login line (user "admin", password "...")'));
          } else {
            resolve();
          }
        }
      };
      for (const stream of [this.proc.stdout, this.proc.stderr]) {
        let buf = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk) => {
          buf += chunk;
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            onLine(buf.slice(0, nl).replace(/\r$/, ''));
            buf = buf.slice(nl + 1);
          }
        });
      }
      this.proc.on('error', (err) => {
        clearTimeout(timer);
        reject(new Error(`could not start ${BIN}: ${err.message}`));
      });
      this.proc.on('exit', (code, signal) => {
        this.exited = { code, signal };
        if (!listening) {
          clearTimeout(timer);
          reject(new Error(`server exited before listening (code ${code}, signal ${signal})`));
        }
      });
    });
  }

  async stop() {
    if (!this.proc || this.exited || this.proc.exitCode !== null) return;
    const gone = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!this.exited) this.proc.kill('SIGKILL');
    }, 5_000);
    await gone;
    clearTimeout(timer);
  }

  tail(n = 30) {
    return this.log.slice(-n).join('\n');
  }
}

// ---------------------------------------------------------------------------------------------
// Browser helpers

class Session {
  constructor(page, base) {
    this.page = page;
    this.base = base;
    this.shots = 0;
    this.role = null; // 'coordinator' turns on the blinding check for every page
    this.lastStatus = null;
    this.lastText = '';
    this.jsErrors = [];
    page.on('response', (res) => {
      const req = res.request();
      if (req.isNavigationRequest() && req.frame() === page.mainFrame()) this.lastStatus = res.status();
    });
    page.on('pageerror', (err) => this.jsErrors.push(`${page.url()}: ${err.message}`));
    page.on('dialog', (dialog) => dialog.accept().catch(() => {}));
  }

  url(p) {
    return this.base + p;
  }

  // Screenshot of the page just loaded, then the checks every page gets.
  async arrived(name) {
    this.shots += 1;
    const file = path.join(SHOTS, `${String(this.shots).padStart(2, '0')}-${name}.png`);
    await this.page.screenshot({ path: file, fullPage: true });
    this.lastText = await this.pageText();
    expect(
      this.lastStatus === null || this.lastStatus < 400,
      `an HTTP success status for ${this.page.url()}, got ${this.lastStatus}`,
    );
    if (this.role === 'coordinator') {
      const html = await this.page.content();
      for (const word of ['p(best)', 'probabilit']) {
        expect(
          !html.toLowerCase().includes(word),
          `a blinded coordinator page without "${word}" (case-insensitive) in ${this.page.url()}`,
        );
      }
    }
  }

  async visit(name, p) {
    this.lastStatus = null;
    const res = await this.page.goto(this.url(p), { waitUntil: 'load' });
    if (res) this.lastStatus = res.status();
    await this.arrived(name);
  }

  // Clicks a submit button and waits for the page the form leads to.
  async submit(name, selector) {
    this.lastStatus = null;
    await this.page.locator(selector).waitFor({ state: 'visible' });
    await Promise.all([this.page.waitForEvent('load'), this.page.click(selector)]);
    await this.arrived(name);
  }

  async present(selector) {
    return (await this.page.locator(selector).count()) > 0;
  }

  async text(selector) {
    const loc = this.page.locator(selector);
    expect((await loc.count()) > 0, `an element ${selector} on ${this.page.url()}`);
    return (await loc.first().innerText()).trim();
  }

  async pageText() {
    return bounded(
      this.page.evaluate(() => (document.body ? document.body.innerText : '')),
      5_000,
      '(page text unavailable)',
    );
  }

  async login(username, password) {
    await this.visit(`login-${username}`, '/login');
    await this.page.fill('#username', username);
    await this.page.fill('#password', password);
    await this.submit(`after-login-${username}`, '#login-submit');
    expect(
      await this.present('#logout-submit'),
      `to be logged in as ${username} (a #logout-submit button on the page after /login)`,
    );
  }

  async logout(who) {
    this.role = null;
    expect(await this.present('#logout-submit'), 'a #logout-submit button (logout form) on the current page');
    await this.submit(`logout-${who}`, '#logout-submit');
    expect(!(await this.present('#logout-submit')), 'to be logged out (no #logout-submit after logging out)');
  }
}

// ---------------------------------------------------------------------------------------------
// Steps

let stepNo = 0;
let currentStep = '(setup)';

async function step(name, fn) {
  stepNo += 1;
  currentStep = name;
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(
      () => reject(new StepFailure(`the step to finish within ${STEP_TIMEOUT_MS / 1000} s`)),
      STEP_TIMEOUT_MS,
    );
  });
  try {
    await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
  console.log(`e2e: ${String(stepNo).padStart(2, ' ')}. ${name}: ok`);
}

function protocolWithId(id) {
  const text = fs.readFileSync(PROTOCOL, 'utf8');
  const trialAt = text.search(/^\[trial\]\s*$/m);
  if (trialAt < 0) throw new Error(`${PROTOCOL} has no [trial] table`);
  const rest = text.slice(trialAt);
  const re = /^(\s*id\s*=\s*)"[^"]*"/m;
  if (!re.test(rest)) throw new Error(`${PROTOCOL} has no id = "..." line in [trial]`);
  return text.slice(0, trialAt) + rest.replace(re, `$1"${id}"`);
}

async function run(s, adminPassword) {
  const page = s.page;
  const trialId = `E2E-${Date.now()}`;
  const trialPath = `/trials/${encodeURIComponent(trialId)}`;
  const users = [
    { username: 'stat1', name: 'Stella Statistician', role: 'statistician' },
    { username: 'coord1', name: 'Colin Coordinator', role: 'coordinator' },
    { username: 'reg1', name: 'Rita Regulator', role: 'regulator' },
  ];
  const subjects = ['E2E-001', 'E2E-002', 'E2E-003'];

  // --- admin -------------------------------------------------------------------------------
  await step('admin: log in', () => s.login('admin', adminPassword));
  for (const u of users) {
    await step(`admin: create user ${u.username} (${u.role})`, async () => {
      await s.visit('admin-users', '/admin/users');
      expect(await s.present('#new-user'), 'a #new-user form on /admin/users');
      await page.fill('#new-username', u.username);
      await page.fill('#new-name', u.name);
      await page.fill('#new-email', `${u.username}@example.org`);
      await page.selectOption('#new-role', u.role);
      await page.fill('#new-password', USER_PASSWORD);
      await s.submit(`created-${u.username}`, '#new-user-submit');
    });
  }
  await step('admin: users listed', async () => {
    await s.visit('admin-users-list', '/admin/users');
    const text = await s.pageText();
    for (const u of users) expect(text.includes(u.username), `user ${u.username} listed on /admin/users`);
  });
  await step('admin: log out', () => s.logout('admin'));

  // --- statistician ------------------------------------------------------------------------
  await step('statistician: log in', () => s.login('stat1', USER_PASSWORD));
  const protocol = Buffer.from(protocolWithId(trialId), 'utf8');
  const file = { name: 'e2e.toml', mimeType: 'application/toml', buffer: protocol };
  await step(`statistician: upload and validate protocol ${trialId}`, async () => {
    await s.visit('trials-new', '/trials/new');
    await page.setInputFiles('#protocol-file', file);
    await s.submit('validated', '#validate-submit');
    expect(await s.present('#validation-ok'), 'a #validation-ok element after validating the protocol');
  });
  await step('statistician: create trial', async () => {
    // If the validation page offers the file input again (and it is empty), re-attach the file.
    const input = page.locator('#protocol-file');
    if ((await input.count()) > 0) {
      const empty = await input.first().evaluate((el) => !el.files || el.files.length === 0);
      if (empty) await page.setInputFiles('#protocol-file', file);
    }
    await s.submit('trial-created', '#create-submit');
    const got = new URL(page.url()).pathname;
    expect(got === trialPath, `a redirect to ${trialPath} after creating the trial, got ${got}`);
  });
  await step('statistician: sign protocol (approval)', async () => {
    await page.fill('#sign-password', USER_PASSWORD);
    await page.selectOption('#sign-meaning', 'approval');
    await s.submit('signed', '#sign-submit');
  });
  await step('statistician: start trial', async () => {
    if (!(await s.present('#start-submit'))) await s.visit('trial', trialPath);
    await s.submit('started', '#start-submit');
    if (!(await s.present('#trial-status'))) await s.visit('trial-after-start', trialPath);
    const status = await s.text('#trial-status');
    expect(/running/i.test(status), `#trial-status to contain "running", got "${status}"`);
  });
  await step('statistician: log out', () => s.logout('stat1'));

  // --- coordinator (blinded) ---------------------------------------------------------------
  await step('coordinator: log in', async () => {
    s.role = 'coordinator';
    await s.login('coord1', USER_PASSWORD);
  });
  for (const subject of subjects) {
    await step(`coordinator: enrol ${subject}`, async () => {
      await s.visit(`enrol-${subject}`, `${trialPath}/enrol`);
      await page.fill('#subject-id', subject);
      await page.check('#eligible');
      await s.submit(`enrolled-${subject}`, '#enrol-submit');
      const assignment = await s.text('#assignment');
      expect(assignment.length > 0, 'a non-empty #assignment after enrolment');
      expect(assignment.includes(subject), `#assignment to include "${subject}", got "${assignment}"`);
    });
  }
  for (const [i, subject] of subjects.entries()) {
    await step(`coordinator: record outcome for ${subject}`, async () => {
      const participantPath = `${trialPath}/participants/${encodeURIComponent(subject)}`;
      await s.visit(`participant-${subject}`, participantPath);
      const outcome = page.locator('#outcome-value');
      expect((await outcome.count()) > 0, `an #outcome-value control on ${participantPath}`);
      const tag = await outcome.first().evaluate((el) => el.tagName.toLowerCase());
      if (tag === 'select') {
        await page.selectOption('#outcome-value', i % 2 === 0 ? '1' : '0');
      } else {
        await page.fill('#outcome-value', String(3 + i));
      }
      await s.submit(`outcome-${subject}`, '#outcome-submit');
      if (!(await s.present('#timeline'))) await s.visit(`participant-${subject}-after`, participantPath);
      const timeline = await s.text('#timeline');
      expect(/outcome/i.test(timeline), `#timeline to mention "outcome", got "${timeline.slice(0, 200)}"`);
    });
  }
  await step('coordinator: participants listed', async () => {
    await s.visit('participants', `${trialPath}/participants`);
    const rows = await page.locator('#participants tbody tr').count();
    expect(rows === subjects.length, `table #participants with ${subjects.length} body rows, got ${rows}`);
  });
  await step('coordinator: log out', () => s.logout('coord1'));

  // --- regulator ---------------------------------------------------------------------------
  await step('regulator: log in', () => s.login('reg1', USER_PASSWORD));
  await step('regulator: audit trail', async () => {
    await s.visit('audit', `/audit?trial=${encodeURIComponent(trialId)}`);
    const rows = await page.locator('#audit-records tbody tr').count();
    expect(rows >= 5, `table #audit-records with at least 5 body rows, got ${rows}`);
  });
  await step('regulator: verify audit chain', async () => {
    await s.submit('audit-verified', '#verify-submit');
    const result = await s.text('#verify-result');
    expect(/verified/i.test(result), `#verify-result to contain "verified", got "${result}"`);
    expect(!result.includes('FAILED'), `#verify-result without "FAILED", got "${result}"`);
    expect(await s.present('#checkpoints'), 'a #checkpoints table on the verification page');
  });
  await step('regulator: log out', () => s.logout('reg1'));
}

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
    if (/^\d\d-.*\.png$/.test(f)) fs.rmSync(path.join(SHOTS, f), { force: true });
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
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
    session = new Session(page, server.base);

    await run(session, server.password);

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
      const file = path.join(SHOTS, `${String(session.shots + 1).padStart(2, '0')}-FAILED.png`);
      await bounded(session.page.screenshot({ path: file, fullPage: true, timeout: 10_000 }), 12_000, null);
    }
    console.error(`e2e: FAILED at step ${stepNo} "${currentStep}"`);
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

// The browser test's harness: the server process, the browser session and the steps. The flows
// in flows/*.mjs use it; e2e.mjs runs them in file-name order against one server.
//
// Every page a flow arrives at is checked the same way (Session.arrived): a screenshot at
// 1280 px and at 390 px wide (target/e2e/NN-name.png and NN-name-390.png), no page wider than
// the viewport at 390 px, and axe-core's rules (WCAG 2.1 A and AA) with 0 violations.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = path.resolve(REPO, process.env.BAYESTRIAL_BIN || 'target/debug/bayestrial');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SHOTS = path.join(REPO, 'target', 'e2e');
export const STEP_TIMEOUT_MS = 60_000;
const STARTUP_TIMEOUT_MS = 60_000;
export const USER_PASSWORD = 'correct-horse-battery-1';
export const WIDE = { width: 1280, height: 900 };
export const NARROW = { width: 390, height: 844 };
const AXE_SOURCE = fs.readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

// ---------------------------------------------------------------------------------------------
// Failure reporting

export class StepFailure extends Error {
  constructor(expected) {
    super(expected);
    this.expected = expected;
  }
}

// Resolves to `fallback` if `promise` takes longer than `ms` (for diagnostics and cleanup, which
// must not hang on a page stuck mid-navigation).
export function bounded(promise, ms, fallback) {
  let timer;
  const late = new Promise((resolve) => {
    timer = setTimeout(() => resolve(fallback), ms);
  });
  return Promise.race([Promise.resolve(promise).catch(() => fallback), late]).finally(() => clearTimeout(timer));
}

export function expect(condition, expected) {
  if (!condition) throw new StepFailure(expected);
}

// ---------------------------------------------------------------------------------------------
// Server process

export function freePort() {
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

export class Server {
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

export class Session {
  constructor(page, base) {
    this.page = page;
    this.base = base;
    this.shots = 0;
    this.role = null; // 'coordinator' turns on the blinding check for every page
    this.lastStatus = null;
    this.lastText = '';
    this.jsErrors = [];
    this.expectStatus = null;
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

  // Screenshots of the page just loaded at both widths, then the checks every page gets.
  async arrived(name) {
    this.shots += 1;
    const stem = path.join(SHOTS, `${String(this.shots).padStart(3, '0')}-${name}`);
    await this.page.screenshot({ path: `${stem}.png`, fullPage: true });
    this.lastText = await this.pageText();
    expect(
      this.lastStatus === null || this.lastStatus < 400 || this.expectStatus === this.lastStatus,
      `an HTTP success status for ${this.page.url()}, got ${this.lastStatus}`,
    );
    this.expectStatus = null;
    const html = await this.page.content();
    expect(!/javascript:/i.test(html), `no "javascript:" URL in ${this.page.url()}`);
    if (this.role === 'coordinator') {
      for (const word of ['p(best)', 'probabilit']) {
        expect(
          !html.toLowerCase().includes(word),
          `a blinded coordinator page without "${word}" (case-insensitive) in ${this.page.url()}`,
        );
      }
    }
    await this.checkAccessibility();
    await this.page.setViewportSize(NARROW);
    try {
      const overflow = await this.page.evaluate(() => {
        const wide = document.documentElement.scrollWidth;
        const culprits = [];
        if (wide > window.innerWidth) {
          for (const el of document.querySelectorAll('body *')) {
            const r = el.getBoundingClientRect();
            const spills = r.right > window.innerWidth + 1 || el.scrollWidth > el.clientWidth + 1;
            if (spills && getComputedStyle(el).overflowX === 'visible' && !el.closest('.table-wrap, pre, .scroll-x')) {
              culprits.push(`${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.className && typeof el.className === 'string' ? '.' + el.className.split(' ').join('.') : ''}`);
              if (culprits.length >= 5) break;
            }
          }
        }
        return { wide, inner: window.innerWidth, culprits };
      });
      await this.page.screenshot({ path: `${stem}-390.png`, fullPage: true });
      expect(
        overflow.wide <= overflow.inner,
        `${this.page.url()} no wider than the viewport at 390 px, got ${overflow.wide} px (widest: ${overflow.culprits.join(', ')})`,
      );
    } finally {
      await this.page.setViewportSize(WIDE);
    }
  }

  // axe-core's WCAG 2.1 A/AA rules on the current page: 0 violations.
  async checkAccessibility() {
    const violations = await this.page.evaluate(async (source) => {
      if (!window.axe) (0, eval)(source);
      const result = await window.axe.run(document, {
        runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] },
      });
      return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help} at ${v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join('; ')}`);
    }, AXE_SOURCE);
    expect(violations.length === 0, `0 axe-core violations on ${this.page.url()}, got:\n  ${violations.join('\n  ')}`);
  }

  // Submits a form that must fail: the answer's status must be `status` and the form must come
  // back (checked by the caller).
  async submitExpecting(name, selector, status) {
    this.expectStatus = status;
    await this.submit(name, selector);
    expect(this.lastStatus === status, `HTTP ${status} after submitting ${selector}, got ${this.lastStatus}`);
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

export const progress = { stepNo: 0, currentStep: '(setup)' };

export async function step(name, fn) {
  progress.stepNo += 1;
  progress.currentStep = name;
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
  console.log(`e2e: ${String(progress.stepNo).padStart(3, ' ')}. ${name}: ok`);
}

export function protocolWithId(file, id) {
  const text = fs.readFileSync(file, 'utf8');
  const trialAt = text.search(/^\[trial\]\s*$/m);
  if (trialAt < 0) throw new Error(`${file} has no [trial] table`);
  const rest = text.slice(trialAt);
  const re = /^(\s*id\s*=\s*)"[^"]*"/m;
  if (!re.test(rest)) throw new Error(`${file} has no id = "..." line in [trial]`);
  return text.slice(0, trialAt) + rest.replace(re, `$1"${id}"`);
}


// Four eyes: `author` (logged in, on the draft's page) signs for authorship, `approver` (another
// statistician) approves, and `author` is logged in again on the trial's page. `tag` prefixes
// the screenshots.
export async function approveByAnother(s, trialPath, author, approver, tag) {
  await s.page.fill('#sign-password', USER_PASSWORD);
  await s.page.selectOption('#sign-meaning', 'authorship');
  await s.submit(`${tag}-authored`, '#sign-submit');
  await s.logout(author);
  await s.login(approver, USER_PASSWORD);
  await s.visit(`${tag}-to-approve`, trialPath);
  await s.page.fill('#sign-password', USER_PASSWORD);
  await s.page.selectOption('#sign-meaning', 'approval');
  await s.submit(`${tag}-approved`, '#sign-submit');
  await s.logout(approver);
  await s.login(author, USER_PASSWORD);
  await s.visit(`${tag}-trial`, trialPath);
}

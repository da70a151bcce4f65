// The core flow: the admin adds two statisticians, a coordinator and a regulator; the first
// statistician uploads, validates and signs (authorship) a protocol, the second approves it (four
// eyes) and the first starts it; the coordinator enrols three participants and
// records their outcomes (and never sees allocation probabilities); the regulator reads and
// verifies the audit trail. Later flows reuse these users (ctx.users) and this trial (ctx.trialId).

import path from 'node:path';
import { REPO, USER_PASSWORD, expect, protocolWithId, step } from '../harness.mjs';

const PROTOCOL = path.join(REPO, 'protocols', 'three-arm-pbest.toml');

export default async function core(ctx) {
  const { s, adminPassword } = ctx;
  const page = s.page;
  const trialId = `E2E-${Date.now()}`;
  const trialPath = `/trials/${encodeURIComponent(trialId)}`;
  const users = [
    { username: 'stat1', name: 'Stella Statistician', role: 'statistician' },
    { username: 'coord1', name: 'Colin Coordinator', role: 'coordinator' },
    { username: 'reg1', name: 'Rita Regulator', role: 'regulator' },
    { username: 'stat2', name: 'Sam Second', role: 'statistician' },
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
  const protocol = Buffer.from(protocolWithId(PROTOCOL, trialId), 'utf8');
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
  await step('statistician: sign protocol (authorship)', async () => {
    await page.fill('#sign-password', USER_PASSWORD);
    await page.selectOption('#sign-meaning', 'authorship');
    await s.submit('signed', '#sign-submit');
  });
  await step('statistician: log out for the approval', () => s.logout('stat1'));
  await step('second statistician: approve the protocol (four eyes)', async () => {
    await s.login('stat2', USER_PASSWORD);
    await s.visit('trial-to-approve', trialPath);
    await page.fill('#sign-password', USER_PASSWORD);
    await page.selectOption('#sign-meaning', 'approval');
    await s.submit('approved', '#sign-submit');
    await s.logout('stat2');
    await s.login('stat1', USER_PASSWORD);
    await s.visit('trial-approved', trialPath);
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
  ctx.users = users;
  ctx.trialId = trialId;
  ctx.trialPath = trialPath;
}

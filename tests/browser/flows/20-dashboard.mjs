// The dashboard for the DMC: the admin adds a DMC member; the statistician starts a small trial
// whose looks come every 6 outcomes; the coordinator's participants and outcomes are entered
// through the API (12 of them: two looks, and the arm that never responds is dropped); the DMC
// member opens the dashboard, records a recommendation with a wrong password first (the form
// comes back with what they typed), then correctly, sees it in the look history and opens the
// printable report.

import { USER_PASSWORD, approveByAnother, expect, step } from '../harness.mjs';

const protocol = (id) => `[trial]
id = "${id}"
title = "DMC dashboard trial"
design = "platform"
max_participants = 60

[outcome]
kind = "binary"
name = "Response"
better = "higher"

[[arm]]
id = "placebo"
name = "Placebo"
control = true
[[arm]]
id = "low"
name = "Low dose"
[[arm]]
id = "high"
name = "High dose"

[allocation]
rule = "thompson"
power = 0.5
control = "sqrt-k"
min = 0.1
burn_in = 6

[analysis]
looks = { first = 6, every = 6 }

[decision]
superiority = 0.999
inferiority = 0.05
`;

async function api(s, method, path, token, body) {
  const response = await s.page.request.fetch(s.url(path), {
    method,
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    data: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  expect(response.status() < 300, `${method} ${path}: a success, got ${response.status()}: ${text.slice(0, 200)}`);
  return text ? JSON.parse(text) : null;
}

export default async function dashboard(ctx) {
  const { s, adminPassword } = ctx;
  const page = s.page;
  const trialId = `DMC-${Date.now()}`;
  const trialPath = `/trials/${encodeURIComponent(trialId)}`;
  const dmc = { username: 'dmc1', name: 'Dana Monitor', role: 'dmc' };
  const rationale = 'Low dose responds no better than placebo so far; keep watching it.';

  await step('admin: add a DMC member', async () => {
    await s.login('admin', adminPassword);
    await s.visit('dash-admin-users', '/admin/users');
    await page.fill('#new-username', dmc.username);
    await page.fill('#new-name', dmc.name);
    await page.fill('#new-email', `${dmc.username}@example.org`);
    await page.selectOption('#new-role', dmc.role);
    await page.fill('#new-password', USER_PASSWORD);
    await s.submit('dash-created-dmc1', '#new-user-submit');
    await s.logout('admin');
  });

  await step('statistician: start a trial with a look every 6 outcomes', async () => {
    await s.login('stat1', USER_PASSWORD);
    const file = { name: 'dmc.toml', mimeType: 'application/toml', buffer: Buffer.from(protocol(trialId), 'utf8') };
    await s.visit('dash-trials-new', '/trials/new');
    await page.setInputFiles('#protocol-file', file);
    await s.submit('dash-validated', '#validate-submit');
    const input = page.locator('#protocol-file');
    if ((await input.count()) > 0) {
      const empty = await input.first().evaluate((el) => !el.files || el.files.length === 0);
      if (empty) await page.setInputFiles('#protocol-file', file);
    }
    await s.submit('dash-trial-created', '#create-submit');
    await approveByAnother(s, trialPath, 'stat1', 'stat2', 'dash');
    if (!(await s.present('#start-submit'))) await s.visit('dash-trial', trialPath);
    await s.submit('dash-started', '#start-submit');
  });

  await step('statistician: the dashboard before any look says so', async () => {
    await s.visit('dash-empty-dashboard', `${trialPath}/dashboard`);
    expect(await s.present('#no-look'), 'a #no-look sentence before the first look');
    const text = await s.pageText();
    expect(text.includes('No participant has been randomised yet'), 'the allocation chart\'s empty state as a sentence');
    await s.logout('stat1');
  });

  await step('coordinator (API): enrol 12 participants and record their outcomes', async () => {
    const session = await api(s, 'POST', '/api/session', null, {
      username: 'coord1', password: USER_PASSWORD, role: 'coordinator',
    });
    for (let i = 0; i < 12; i += 1) {
      const subject = `DMC-${String(i).padStart(3, '0')}`;
      const assigned = await api(s, 'POST', `/api/trials/${encodeURIComponent(trialId)}/participants`, session.token, {
        subject_id: subject, idempotency_key: `${trialId}-${i}`,
      });
      await api(
        s, 'POST',
        `/api/trials/${encodeURIComponent(trialId)}/participants/${encodeURIComponent(subject)}/outcomes`,
        session.token,
        { value: assigned.arm === 'high' ? 0 : 1 },
      );
    }
  });

  await step('DMC: the dashboard shows the looks, decisions in words and the charts', async () => {
    await s.login(dmc.username, USER_PASSWORD);
    await s.visit('dash-dashboard', `${trialPath}/dashboard`);
    const rows = await page.locator('#looks-table tbody tr').count();
    expect(rows === 2, `two looks in #looks-table, got ${rows}`);
    const charts = await page.locator('figure.chart svg[role="img"]').count();
    expect(charts === 3, `three charts with role="img", got ${charts}`);
    const looks = await s.text('#looks-table');
    expect(/dropped as inferior/.test(looks), `a decision in words in #looks-table, got "${looks.slice(0, 300)}"`);
    expect(!/_/.test(looks), `no snake_case code in #looks-table, got "${looks.slice(0, 300)}"`);
  });

  await step('DMC: a wrong password keeps the form', async () => {
    await page.selectOption('#look', '2');
    await page.selectOption('#action', 'stop_arm');
    await page.selectOption('#arm', 'low');
    await page.fill('#rationale', rationale);
    await page.fill('#password', 'not-my-password-at-all');
    await s.submitExpecting('dash-recommend-wrong-password', '#recommend-submit', 401);
    expect(await s.present('#recommendation-form'), 'the recommendation form again after a wrong password');
    const kept = await page.inputValue('#rationale');
    expect(kept === rationale, `the rationale kept, got "${kept}"`);
    expect((await page.inputValue('#action')) === 'stop_arm', 'the action kept');
    expect(await s.present('#password-error'), 'the error next to the password');
  });

  await step('DMC: signed with the right password, the recommendation is recorded', async () => {
    await page.fill('#password', USER_PASSWORD);
    await s.submit('dash-recommended', '#recommend-submit');
    const notice = await s.text('#notice');
    expect(notice.length > 0, 'a confirmation after recording the recommendation');
    const look = await s.text('#look-2');
    expect(look.includes(rationale), `the rationale in look 2's row, got "${look.slice(0, 300)}"`);
    expect(/Stop arm low/.test(look), `the recommendation in words, got "${look.slice(0, 300)}"`);
    expect(look.includes(dmc.name), `the signer's name, got "${look.slice(0, 300)}"`);
  });

  await step('DMC: the printable report', async () => {
    await s.visit('dash-report', `${trialPath}/report`);
    const looks = await s.text('#looks-table');
    expect(looks.includes(rationale), 'the recommendation in the report\'s look history');
    expect(!(await s.present('#recommendation-form')), 'no form in the report');
    await page.emulateMedia({ media: 'print' });
    const navShown = await page.locator('header.top').isVisible();
    await page.emulateMedia({ media: 'screen' });
    expect(!navShown, 'the navigation hidden when printed');
    await s.logout(dmc.username);
  });
}

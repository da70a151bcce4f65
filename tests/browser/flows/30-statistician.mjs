// The statistician's protocol lifecycle: a protocol with an error is refused with its error line
// marked, fixed and created as a draft; the draft is edited and saved as version 2 (its diff is
// shown); the author's own approval is refused (four eyes) and a second statistician, added by
// the admin, approves; the author starts the trial and proposes an amendment, which is shown as
// a diff against the version in force, pending signature.

import path from 'node:path';
import { REPO, USER_PASSWORD, expect, protocolWithId, step } from '../harness.mjs';

const PROTOCOL = path.join(REPO, 'protocols', 'three-arm-pbest.toml');

export default async function statistician(ctx) {
  const { s, adminPassword } = ctx;
  const page = s.page;
  const trialId = `LIFE-${Date.now()}`;
  const trialPath = `/trials/${encodeURIComponent(trialId)}`;
  const valid = protocolWithId(PROTOCOL, trialId);
  const broken = valid.replace('max_participants = 450', 'max_participants = "many"');
  expect(broken !== valid, 'the protocol to break has a max_participants = 450 line');
  const revised = valid.replace(
    'Which of three counselling strategies gives the best quit rate?',
    'Which of three counselling strategies gives the best quit rate at six months?',
  );
  const reviewer = { username: 'stat-review', name: 'Rosa Reviewer' };

  await step('admin: add a second statistician for the approval', async () => {
    await s.login('admin', adminPassword);
    await s.visit('admin-users-stat-review', '/admin/users');
    await page.fill('#new-username', reviewer.username);
    await page.fill('#new-name', reviewer.name);
    await page.fill('#new-email', `${reviewer.username}@example.org`);
    await page.selectOption('#new-role', 'statistician');
    await page.fill('#new-password', USER_PASSWORD);
    await s.submit('created-stat-review', '#new-user-submit');
    await s.logout('admin');
  });

  await step('statistician: a protocol with an error is refused with its line marked', async () => {
    await s.login('stat1', USER_PASSWORD);
    await s.visit('lifecycle-new', '/trials/new');
    await page.fill('#protocol', broken);
    await s.submitExpecting('lifecycle-invalid', '#create-submit', 422);
    expect(await s.present('#validation-errors'), 'an error list #validation-errors');
    expect(await s.present('#numbered .line.bad'), 'the error line marked in the numbered text');
    const link = page.locator('#validation-errors a[href^="#L"]');
    expect((await link.count()) > 0, 'the error linked to its line');
    const target = await link.first().getAttribute('href');
    expect(await s.present(`${target}.bad`), `the linked line ${target} is the one marked`);
    const kept = await page.inputValue('#protocol');
    expect(kept.includes('"many"'), 'the text kept in the text area');
  });

  await step('statistician: fix it and create the draft', async () => {
    await page.fill('#protocol', valid);
    await s.submit('lifecycle-created', '#create-submit');
    const got = new URL(page.url()).pathname;
    expect(got === trialPath, `a redirect to ${trialPath}, got ${got}`);
    expect(await s.present('#notice'), 'a notice confirming the creation');
    expect(!(await s.present('#start')), 'no Start form before approval');
    expect(await s.present('#start-unavailable'), 'a sentence saying why the trial cannot start');
  });

  await step('statistician: edit the draft as version 2 and see the diff', async () => {
    await s.visit('lifecycle-edit', `${trialPath}/edit`);
    await page.fill('#protocol', revised);
    await s.submit('lifecycle-version-2', '#save-submit');
    const got = new URL(page.url()).pathname;
    expect(got === `${trialPath}/versions/2`, `the version page, got ${got}`);
    expect(await s.present('#diff .d.added'), 'an added line in the diff');
    expect(await s.present('#diff .d.removed'), 'a removed line in the diff');
    const diff = await s.text('#diff');
    expect(diff.includes('at six months'), 'the diff shows the new title');
  });

  await step('statistician: the author\'s own approval is refused', async () => {
    await s.visit('lifecycle-trial-draft', trialPath);
    await page.selectOption('#sign-meaning', 'approval');
    await page.fill('#sign-password', USER_PASSWORD);
    await s.submitExpecting('lifecycle-own-approval', '#sign-submit', 403);
    const error = await s.text('#sign-error');
    expect(/four eyes/.test(error), `the reason next to the form, got "${error}"`);
    await page.selectOption('#sign-meaning', 'authorship');
    await page.fill('#sign-password', USER_PASSWORD);
    await s.submit('lifecycle-authorship', '#sign-submit');
    await s.logout('stat1');
  });

  await step('second statistician: approval accepted, the Sign form gone', async () => {
    await s.login(reviewer.username, USER_PASSWORD);
    await s.visit('lifecycle-to-approve', trialPath);
    await page.selectOption('#sign-meaning', 'approval');
    await page.fill('#sign-password', USER_PASSWORD);
    await s.submit('lifecycle-approved', '#sign-submit');
    expect(await s.present('#notice'), 'a notice confirming the signature');
    expect(!(await s.present('#sign')), 'no Sign form once approved');
    expect(await s.present('#sign-done'), 'a sentence saying no signature is needed');
    await s.logout(reviewer.username);
  });

  await step('statistician: start the trial', async () => {
    await s.login('stat1', USER_PASSWORD);
    await s.visit('lifecycle-approved-trial', trialPath);
    await s.submit('lifecycle-started', '#start-submit');
    const status = await s.text('#trial-status');
    expect(/running/.test(status), `a running trial, got "${status}"`);
    expect(!(await s.present('#resume')), 'no Resume form on a running trial');
  });

  await step('statistician: propose an amendment and see its diff, pending signature', async () => {
    await page.fill('#amend-arm-id', 'group');
    await page.fill('#amend-arm-name', 'Group counselling');
    await page.fill('#amend-reason', 'a fourth strategy became available');
    await page.fill('#amend-password', USER_PASSWORD);
    await s.submit('lifecycle-amendment', '#amend-submit');
    const got = new URL(page.url()).pathname;
    expect(got === `${trialPath}/versions/3`, `the amendment's version page, got ${got}`);
    const state = await s.text('#version-state');
    expect(/pending signature/.test(state), `the state "pending signature", got "${state}"`);
    const diff = await s.text('#diff');
    expect(diff.includes('Group counselling'), 'the diff shows the new arm');
    expect(await s.present('#simulate-version'), 'a link to simulate the pending version');
  });

  await step('statistician: the trial page names the pending amendment', async () => {
    await s.visit('lifecycle-pending', trialPath);
    expect(await s.present('#pending-amendment'), 'the pending amendment on the trial page');
    expect(!(await s.present('#amend')), 'no second amendment while one is pending');
    await s.logout('stat1');
  });
}

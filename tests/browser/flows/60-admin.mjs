// The admin's flow: add a user with a mistake (a common password: the form comes back with the
// message next to the field and the values kept) and then correctly; grant a role that meets a
// blinded one (the warning) and revoke it again (the revoke choice offers the user's own roles
// only); reset the password and log in as that user with the temporary one (every page sends
// them to the password change until they choose a new one); the account page afterwards; then
// the demo trial the first start loaded, running, as the core flow's statistician.

import { USER_PASSWORD, expect, step } from '../harness.mjs';

const NEW_PASSWORD = 'a fresh passphrase for the site 7';

export default async function admin(ctx) {
  const { s, adminPassword } = ctx;
  const page = s.page;
  const name = `site${Date.now() % 1_000_000}`;
  const pathname = () => new URL(page.url()).pathname;

  await step('admin: log in', () => s.login('admin', adminPassword));
  await step(`admin: add ${name} with a common password (refused, values kept)`, async () => {
    await s.visit('users-before-add', '/admin/users');
    const chosen = await page.$eval('#new-role', (el) => el.value);
    expect(chosen === '', `no role chosen in #new-role before the admin picks one, got "${chosen}"`);
    await page.fill('#new-username', name);
    await page.fill('#new-name', 'Sam Site');
    await page.fill('#new-email', `${name}@example.org`);
    await page.selectOption('#new-role', 'coordinator');
    await page.fill('#new-password', 'password1234');
    await s.submitExpecting('add-user-weak-password', '#new-user-submit', 422);
    expect(await s.present('#password-error'), 'the message next to the password (#password-error)');
    expect((await page.inputValue('#new-username')) === name, 'the user name kept');
    expect((await page.inputValue('#new-email')) === `${name}@example.org`, 'the e-mail kept');
    expect((await page.$eval('#new-role', (el) => el.value)) === 'coordinator', 'the role kept');
    expect((await page.inputValue('#new-password')) === '', 'the password field empty again');
  });
  await step(`admin: add ${name} correctly`, async () => {
    await page.fill('#new-password', USER_PASSWORD);
    await s.submit('user-added', '#new-user-submit');
    expect(await s.present('#notice'), 'a confirmation (#notice) after adding the user');
    expect((await s.text('#users')).includes(name), `${name} listed`);
  });
  await step(`admin: grant ${name} statistician (blinding warning)`, async () => {
    await s.visit('user-page', `/admin/users/${name}`);
    await page.selectOption('#grant-role-select', 'statistician');
    await s.submit('role-granted', '#grant-submit');
    expect(await s.present('#notice'), 'a confirmation (#notice) after the grant');
    expect(await s.present('#blinding-warning'), 'the blinding warning (coordinator with statistician)');
  });
  await step(`admin: revoke statistician from ${name}`, async () => {
    const offered = await page.$$eval('#revoke-role-select option', (os) => os.map((o) => o.value).filter((v) => v));
    expect(offered.sort().join(',') === 'coordinator,statistician', `revoke offers the user's roles, got ${offered}`);
    await page.selectOption('#revoke-role-select', 'statistician');
    await s.submit('role-revoked', '#revoke-submit');
    expect(!(await s.present('#blinding-warning')), 'no blinding warning once statistician is revoked');
    expect((await s.text('#account-roles')) === 'coordinator', 'the roles: coordinator');
  });
  let temporary = '';
  await step(`admin: reset ${name}'s password`, async () => {
    await s.submit('password-reset', '#reset-submit');
    expect(await s.present('#notice'), 'a confirmation (#notice) after the reset');
    temporary = await s.text('#temporary-password-value');
    expect(temporary.length === 24, `a 24-character temporary password, got "${temporary}"`);
  });
  await step('admin: log out', () => s.logout('admin'));

  await step(`${name}: log in with the temporary password (sent to the password change)`, async () => {
    await s.visit(`login-${name}`, '/login');
    await page.fill('#username', name);
    await page.fill('#password', temporary);
    await s.submit('login-must-change', '#login-submit');
    expect(pathname() === '/account', `the login leads to /account, got ${pathname()}`);
    expect(await s.present('#must-change'), 'the account page asks for a new password (#must-change)');
  });
  await step(`${name}: other pages send back to the password change`, async () => {
    await s.visit('trials-before-change', '/trials');
    expect(pathname() === '/account', `/trials leads to /account before the change, got ${pathname()}`);
  });
  await step(`${name}: a confirmation that differs (refused)`, async () => {
    await page.fill('#current', temporary);
    await page.fill('#new', NEW_PASSWORD);
    await page.fill('#confirm', `${NEW_PASSWORD}!`);
    await s.submitExpecting('password-confirm-differs', '#password-change-submit', 422);
    expect(await s.present('#confirm-error'), 'the message next to the confirmation (#confirm-error)');
  });
  await step(`${name}: change the password`, async () => {
    await page.fill('#current', temporary);
    await page.fill('#new', NEW_PASSWORD);
    await page.fill('#confirm', NEW_PASSWORD);
    await s.submit('password-changed', '#password-change-submit');
    expect(pathname() === '/login', `the change ends the session and leads to /login, got ${pathname()}`);
    expect(await s.present('#notice'), 'a confirmation (#notice) on the login page');
  });
  await step(`${name}: log in with the new password`, async () => {
    await s.login(name, NEW_PASSWORD);
    expect(pathname() === '/trials', `the login leads to /trials now, got ${pathname()}`);
  });
  await step(`${name}: the account page`, async () => {
    await s.visit('account', '/account');
    expect(!(await s.present('#must-change')), 'no demand for a new password any more');
  });
  await step(`${name}: log out`, () => s.logout(name));

  // The demo trial the first start loaded: running, with participants and looks to show.
  const stat = ctx.users.find((u) => u.role === 'statistician');
  await step(`${stat.username}: the running demo trial PBEST-3ARM`, async () => {
    await s.login(stat.username, USER_PASSWORD);
    await s.visit('demo-trial', '/trials/PBEST-3ARM');
    const status = await s.text('#trial-status');
    expect(/running/i.test(status), `the demo trial is running, got "${status}"`);
    const text = await s.pageText();
    expect(/220 of 450/.test(text), 'the demo trial has 220 of 450 participants enrolled');
    await s.visit('demo-dashboard', '/trials/PBEST-3ARM/dashboard');
  });
  await step(`${stat.username}: log out`, () => s.logout(stat.username));
}

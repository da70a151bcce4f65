// Simulation reports: the statistician opens the simulate page of the core flow's trial, sends
// a replicate count the form refuses (shown next to the field, values kept), runs a small
// simulation, waits for it, and opens the stored report from the trial page (its page and the
// report itself).

import { USER_PASSWORD, expect, step } from '../harness.mjs';

const JOB_TIMEOUT_MS = 50_000;

// Follows a link and runs the checks every page gets.
async function follow(s, name, selector) {
  s.lastStatus = null;
  await s.page.locator(selector).first().waitFor({ state: 'visible' });
  await Promise.all([s.page.waitForEvent('load'), s.page.locator(selector).first().click()]);
  await s.arrived(name);
}

export default async function simulations(ctx) {
  const { s, trialPath } = ctx;
  const page = s.page;

  await step('statistician: log in', () => s.login('stat1', USER_PASSWORD));

  await step('statistician: the simulate page from the trial page', async () => {
    await s.visit('sim-trial', trialPath);
    expect(await s.present('#simulation-reports'), 'a #simulation-reports section on the trial page');
    await follow(s, 'sim-form', '#simulate-link');
    expect(await s.present('#simulate'), 'the #simulate form');
  });

  await step('statistician: a replicate count the form refuses', async () => {
    await page.selectOption('#sim-scenario', 'phone-best');
    await page.fill('#sim-reps', '12,5');
    await page.fill('#sim-seed', '4242');
    await s.submitExpecting('sim-form-error', '#simulate-submit', 422);
    const message = await s.text('#reps-error');
    expect(message.includes('12,5'), `#reps-error to name the value, got "${message}"`);
    expect((await page.inputValue('#sim-reps')) === '12,5', 'the replicates kept');
    expect((await page.inputValue('#sim-seed')) === '4242', 'the seed kept');
    expect((await page.inputValue('#sim-scenario')) === 'phone-best', 'the scenario kept');
  });

  await step('statistician: run a small simulation and wait for it', async () => {
    await page.fill('#sim-reps', '8');
    await s.submit('sim-started', '#simulate-submit');
    expect(await s.present('#notice'), 'a #notice confirming the start');
    // The job page shows the progress when it was loaded and a link to check again.
    const deadline = Date.now() + JOB_TIMEOUT_MS;
    let checks = 0;
    while (!(await s.present('#simulation-done'))) {
      expect(Date.now() < deadline, 'the simulation to finish');
      expect(await s.present('#simulation-check'), 'a #simulation-check link while the job runs');
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      checks += 1;
      await follow(s, `sim-progress-${checks}`, '#simulation-check');
    }
    expect(await s.present('#simulation-stored'), 'the finished job links to its stored report');
  });

  await step('statistician: the stored report, opened from the trial page', async () => {
    await s.visit('sim-trial-listed', trialPath);
    const list = await s.text('#simulation-report-list');
    expect(list.includes('phone-best') && list.includes('4242'), `the report listed with its scenario and seed, got "${list}"`);
    await follow(s, 'sim-report', '#simulation-report-list a');
    const facts = await s.text('#simulation-report-facts');
    expect(facts.includes('phone-best') && facts.includes('4242'), `the report's facts, got "${facts}"`);
    await follow(s, 'sim-report-html', '#simulation-report-open');
    expect(await s.present('svg'), 'the report page has its charts');
    await page.goBack({ waitUntil: 'load' });
  });

  await step('statistician: log out', () => s.logout('stat1'));
}

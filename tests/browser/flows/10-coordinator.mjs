// The coordinator's work: an enrolment that fails (a subject already enrolled) comes back with
// the message and the values, then works; an outcome is recorded from an empty choice and
// corrected from its current value with a reason; the work list; the participant list paged and
// searched; and, once the statistician pauses enrolment, the reason instead of an enrol form.
// The statistician resumes enrolment at the end, so later flows find the trial running.

import { USER_PASSWORD, expect, step } from '../harness.mjs';

export default async function coordinator(ctx) {
  const { s, trialPath } = ctx;
  const page = s.page;
  const subject = 'E2E-C01';
  const participantPath = `${trialPath}/participants/${encodeURIComponent(subject)}`;
  const visitTrialPage = async (name) => {
    const role = s.role;
    s.role = null;
    try {
      await s.visit(name, trialPath);
    } finally {
      s.role = role;
    }
  };

  await step('coordinator: log in (coordinator flow)', async () => {
    s.role = 'coordinator';
    await s.login('coord1', USER_PASSWORD);
  });

  await step('coordinator: enrol a subject already enrolled, then fix it', async () => {
    await s.visit('coord-enrol', `${trialPath}/enrol`);
    await page.fill('#subject-id', 'E2E-001');
    await page.check('#eligible');
    await s.submitExpecting('coord-enrol-duplicate', '#enrol-submit', 409);
    expect(await s.present('#form-error'), 'a #form-error message above the enrol form');
    const kept = await page.inputValue('#subject-id');
    expect(kept === 'E2E-001', `the subject ID typed kept in the form, got "${kept}"`);
    await page.fill('#subject-id', subject);
    await page.check('#eligible');
    await s.submit('coord-enrolled', '#enrol-submit');
    const assignment = await s.text('#assignment');
    expect(assignment.includes(subject), `#assignment to name ${subject}, got "${assignment}"`);
    expect(await s.present('#notice'), 'a #notice confirming the enrolment');
  });

  await step('coordinator: record an outcome from an empty, required choice', async () => {
    await s.visit('coord-participant', participantPath);
    const select = page.locator('select#outcome-value');
    expect((await select.count()) === 1, 'a binary #outcome-value select');
    const chosen = await page.inputValue('#outcome-value');
    expect(chosen === '', `nothing chosen at first, got "${chosen}"`);
    expect(await select.evaluate((el) => el.required), 'the outcome choice is required');
    await page.selectOption('#outcome-value', '1');
    await s.submit('coord-outcome-recorded', '#outcome-submit');
    const notice = await s.text('#notice');
    expect(/outcome was recorded/i.test(notice), `a notice that the outcome was recorded, got "${notice}"`);
  });

  await step('coordinator: correct the outcome, starting from its current value', async () => {
    const chosen = await page.inputValue('#outcome-value');
    expect(chosen === '1', `the correction form starts from the current value 1, got "${chosen}"`);
    expect(await s.present('#current-outcome'), 'the current value stated above the correction');
    await page.selectOption('#outcome-value', '0');
    await page.fill('#outcome-reason', 'transcription error in the case report form');
    await s.submit('coord-outcome-corrected', '#outcome-submit');
    const notice = await s.text('#notice');
    expect(/corrected/i.test(notice), `a notice that the outcome was corrected, got "${notice}"`);
    const now = await page.inputValue('#outcome-value');
    expect(now === '0', `the corrected value 0 now shown, got "${now}"`);
  });

  await step('coordinator: enrol 50 more participants (through the form endpoint)', async () => {
    await s.visit('coord-enrol-more', `${trialPath}/enrol`);
    const csrf = await page.inputValue('#enrol input[name="csrf"]');
    for (let k = 1; k <= 50; k += 1) {
      const res = await page.request.post(s.url(`${trialPath}/participants`), {
        form: { csrf, subject_id: `E2E-P${String(k).padStart(3, '0')}`, eligible: 'yes' },
        maxRedirects: 0,
      });
      expect(res.status() === 200, `enrolment ${k} answered 200, got ${res.status()}`);
    }
  });

  await step('coordinator: open the work list from the trial page', async () => {
    // The trial page shows the protocol's text, which every role may read and which names the
    // design's P(best) rule: the blinded-page word check is off for this one page.
    await visitTrialPage('coord-trial');
    expect(await s.present('#work-link'), 'a #work-link on the trial page');
    await Promise.all([page.waitForEvent('load'), page.click('#work-link')]);
    await s.arrived('coord-work');
    const due = await page.locator('#outcomes-due tbody tr').count();
    expect(due === 50, `50 outcomes awaited on the work list, got ${due}`);
    expect(await s.present('#expected-delay'), 'what the protocol expects of the outcome delay');
  });

  await step('coordinator: page through the participant list', async () => {
    await s.visit('coord-participants', `${trialPath}/participants`);
    const summary = await s.text('#list-summary');
    expect(/Participants 1–50 of 54/.test(summary), `"Participants 1–50 of 54", got "${summary}"`);
    const rows = await page.locator('#participants tbody tr').count();
    expect(rows === 50, `50 rows on the first page, got ${rows}`);
    await Promise.all([page.waitForEvent('load'), page.click('#pages a:has-text("next")')]);
    await s.arrived('coord-participants-page-2');
    const second = await s.text('#list-summary');
    expect(/Participants 51–54 of 54/.test(second), `"Participants 51–54 of 54", got "${second}"`);
  });

  await step('coordinator: search the participant list', async () => {
    await page.fill('#q', 'c01');
    await s.submit('coord-participants-search', '#search-submit');
    const summary = await s.text('#list-summary');
    expect(/1 matching/.test(summary), `one participant matching "c01", got "${summary}"`);
    expect(await s.present(`#participants a:has-text("${subject}")`), `${subject} found`);
    await page.fill('#q', '');
    await page.selectOption('#outcome-filter', 'awaited');
    await s.submit('coord-participants-awaited', '#search-submit');
    const awaited = await s.text('#list-summary');
    expect(/of 50 matching/.test(awaited), `50 participants awaiting an outcome, got "${awaited}"`);
  });
  await step('coordinator: log out (coordinator flow)', () => s.logout('coord1'));

  await step('statistician: pause enrolment with a reason', async () => {
    await s.login('stat1', USER_PASSWORD);
    await s.visit('stat-trial-to-pause', trialPath);
    await page.fill('form[action$="/pause"] input[name="reason"]', 'DSMB review of liver enzymes');
    await s.submit('stat-paused', 'form[action$="/pause"] button[type="submit"]');
  });
  await step('statistician: log out (pause)', () => s.logout('stat1'));

  await step('coordinator: a paused trial shows why, with no enrol form or link', async () => {
    s.role = 'coordinator';
    await s.login('coord1', USER_PASSWORD);
    for (const [name, path] of [
      ['coord-paused-trial', trialPath],
      ['coord-paused-enrol', `${trialPath}/enrol`],
      ['coord-paused-participants', `${trialPath}/participants`],
    ]) {
      if (path === trialPath) await visitTrialPage(name);
      else await s.visit(name, path);
      const closed = await s.text('#no-enrolment');
      expect(closed.includes('DSMB review of liver enzymes'), `the pause reason on ${path}, got "${closed}"`);
      expect(/statistician can resume/i.test(closed), `who can resume, on ${path}, got "${closed}"`);
      expect(!/resume it/i.test(closed), `no "resume it" told to a coordinator on ${path}`);
      expect(!(await s.present('#enrol')), `no enrol form on ${path}`);
      expect(!(await s.present('#enrol-link')), `no enrol link on ${path}`);
    }
  });
  await step('coordinator: log out (paused)', () => s.logout('coord1'));

  await step('statistician: resume enrolment', async () => {
    await s.login('stat1', USER_PASSWORD);
    await s.visit('stat-trial-to-resume', trialPath);
    await s.submit('stat-resumed', 'form[action$="/resume"] button[type="submit"]');
    if (!(await s.present('#trial-status'))) await s.visit('stat-trial-resumed', trialPath);
    const status = await s.text('#trial-status');
    expect(/running/i.test(status), `#trial-status "running" again, got "${status}"`);
  });
  await step('statistician: log out (resume)', () => s.logout('stat1'));
}

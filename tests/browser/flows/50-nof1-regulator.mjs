// The n-of-1 report and the regulator's audit trail: the statistician starts the shipped n-of-1
// protocol; the coordinator enrols patients, enters a few measurements through the form (the
// rest of each cycle through the same form's address) and reads a patient's report while the
// patient is in progress; the statistician reads the series' pooled results; the regulator
// pages through the audit trail with the page jumps, opens a record's hash and sees which
// trials can be exported and why the others cannot.

import path from 'node:path';
import { REPO, USER_PASSWORD, approveByAnother, expect, protocolWithId, step } from '../harness.mjs';

const PROTOCOL = path.join(REPO, 'protocols', 'nof1-pain.toml');

// The date `days` before today (UTC), as YYYY-MM-DD.
function daysAgo(days) {
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

// The planned measurement days of 1-based `period` of nof1-pain.toml (7 days of run-in,
// 14-day periods, 3 days of washout, 7 measurements every other day to the period's end).
function plannedDays(period) {
  const first = 8 + (period - 1) * 17;
  const last = first + 13;
  return Array.from({ length: 7 }, (_, i) => last - (6 - i) * 2);
}

export default async function nof1Regulator(ctx) {
  const { s, users } = ctx;
  const page = s.page;
  const stat = users.find((u) => u.role === 'statistician').username;
  const coord = users.find((u) => u.role === 'coordinator').username;
  const reg = users.find((u) => u.role === 'regulator').username;
  const trialId = `NOF1-E2E-${Date.now()}`;
  const trialPath = `/trials/${encodeURIComponent(trialId)}`;
  const patients = ['PAIN-01', 'PAIN-02', 'PAIN-03', 'PAIN-04'];
  const start = daysAgo(100);

  // --- statistician: the n-of-1 series ----------------------------------------------------
  await step('n-of-1: statistician starts the n-of-1 protocol', async () => {
    await s.login(stat, USER_PASSWORD);
    await s.visit('nof1-new', '/trials/new');
    await page.fill('#protocol', protocolWithId(PROTOCOL, trialId));
    await s.submit('nof1-created', '#create-submit');
    const got = new URL(page.url()).pathname;
    expect(got === trialPath, `a redirect to ${trialPath} after creating the trial, got ${got}`);
    await approveByAnother(s, trialPath, stat, 'stat2', 'nof1');
    if (!(await s.present('#start-submit'))) await s.visit('nof1-trial', trialPath);
    await s.submit('nof1-started', '#start-submit');
    await s.logout(stat);
  });

  // --- coordinator: patients and measurements ----------------------------------------------
  s.role = null; // an open-label n-of-1 series: the site sees the treatments
  await step('n-of-1: coordinator enrols four patients', async () => {
    await s.login(coord, USER_PASSWORD);
    for (const [i, subject] of patients.entries()) {
      if (i === 0) {
        await s.visit('nof1-enrol', `${trialPath}/enrol`);
      } else {
        await page.goto(s.url(`${trialPath}/enrol`));
      }
      await page.fill('#subject-id', subject);
      await page.fill('#start-date', start);
      await page.check('#eligible');
      if (i === 0) {
        await s.submit('nof1-enrolled', '#enrol-submit');
      } else {
        await Promise.all([page.waitForNavigation(), page.click('#enrol-submit')]);
      }
    }
  });

  const participantPath = (subject) => `${trialPath}/participants/${encodeURIComponent(subject)}`;
  // Posts a measurement through the measurement form's address, with the page's CSRF token.
  const measure = async (subject, day, value) => {
    const csrf = await page.locator('input[name="csrf"]').first().inputValue();
    const res = await page.request.post(s.url(`${participantPath(subject)}/measurements`), {
      form: { csrf, day: String(day), value: String(value), date: '' },
      maxRedirects: 0,
    });
    expect(res.status() === 303, `measurement of ${subject} on day ${day} saved (303), got ${res.status()}`);
  };
  // Ibuprofen lowers pain by about 1.5 points; the treatment of a period is read off the page.
  const pain = (treatment, day) => (treatment === 'ibuprofen' ? 3.5 : 5) + Math.round(90 * Math.sin(day * 1.3)) / 100;
  const periodTreatment = async (period) => {
    const cell = await page.locator(`#calendar tbody tr:nth-child(${period}) td:nth-child(3)`).innerText();
    return cell.includes('ibuprofen') ? 'ibuprofen' : 'paracetamol';
  };

  await step('n-of-1: coordinator enters measurements through the form', async () => {
    const subject = patients[0];
    await s.visit('nof1-participant', participantPath(subject));
    const first = await periodTreatment(1);
    for (const [i, day] of plannedDays(1).slice(0, 3).entries()) {
      await page.fill('#m-date', '');
      await page.fill('#m-day', String(day));
      await page.fill('#m-value', String(pain(first, day)));
      if (i === 2) {
        await s.submit('nof1-measured', '#measurement-submit');
      } else {
        await Promise.all([page.waitForNavigation(), page.click('#measurement-submit')]);
      }
    }
    expect(/Saved/.test(await s.pageText()), 'the participant page confirms the saved measurement');
  });

  await step('n-of-1: the rest of cycle 1 and part of cycle 2 for the first patient', async () => {
    const subject = patients[0];
    await page.goto(s.url(participantPath(subject)));
    const treatments = [await periodTreatment(1), await periodTreatment(2), await periodTreatment(3)];
    for (const day of plannedDays(1).slice(3)) await measure(subject, day, pain(treatments[0], day));
    for (const day of plannedDays(2)) await measure(subject, day, pain(treatments[1], day));
    for (const day of plannedDays(3).slice(0, 3)) await measure(subject, day, pain(treatments[2], day));
    await s.visit('nof1-participant-in-progress', participantPath(subject));
  });

  await step('n-of-1: the other patients (two through cycle 1, one to equivalence)', async () => {
    for (const subject of patients.slice(1)) {
      await page.goto(s.url(participantPath(subject)));
      const periods = subject === patients[3] ? [1, 2, 3, 4] : [1, 2];
      const treatments = [];
      for (const p of periods) treatments.push(await periodTreatment(p));
      for (const [k, p] of periods.entries()) {
        for (const day of plannedDays(p)) {
          const value = subject === patients[3] ? 5 + Math.round(10 * Math.sin(day * 0.7)) / 100 : pain(treatments[k], day);
          await measure(subject, day, value);
        }
      }
    }
  });

  await step('n-of-1: the report of a patient in progress says one thing', async () => {
    await s.visit('nof1-report-in-progress', `${participantPath(patients[0])}/report`);
    const headline = await s.text('#headline');
    expect(headline.startsWith('Not yet known'), `a headline "Not yet known…", got "${headline}"`);
    const analysed = await s.text('#analysed-count');
    const caption = await s.text('#effect-caption');
    expect(caption.includes(`${analysed} measurements`), `the chart's caption names the ${analysed} measurements of the table, got "${caption}"`);
    const mean = (await page.locator('#effects tbody td').first().innerText()).trim();
    expect(caption.includes(`mean ${mean}`), `the chart's caption gives the table's mean ${mean}, got "${caption}"`);
  });

  await step('n-of-1: the report after a stop for equivalence', async () => {
    await s.visit('nof1-report-equivalence', `${participantPath(patients[3])}/report`);
    const headline = await s.text('#headline');
    expect(/work equally well/.test(headline), `an equivalence headline, got "${headline}"`);
  });
  await step('n-of-1: coordinator logs out', () => s.logout(coord));

  await step('n-of-1: statistician reads the series with the MCID band', async () => {
    await s.login(stat, USER_PASSWORD);
    await s.visit('nof1-series', `${trialPath}/series`);
    expect(await s.present('#series'), 'the pooled results (#series) once three patients have had a look');
    const svg = page.locator('figure svg').first();
    expect((await svg.getAttribute('role')) === 'img', 'the forest plot is an image to assistive technology (role="img")');
    const forest = await svg.locator('title').first().textContent();
    expect(/MCID band/.test(forest || ''), `the forest plot draws the MCID band, got "${forest}"`);
    await s.logout(stat);
  });

  // --- regulator: the audit trail --------------------------------------------------------------
  await step('regulator: the audit trail of the n-of-1 series, page 1', async () => {
    await s.login(reg, USER_PASSWORD);
    await s.visit('audit-nof1', `/audit?trial=${encodeURIComponent(trialId)}`);
    const count = await s.text('#audit-count');
    expect(/^Records 1–50 of [\d,]+\./.test(count), `"Records 1–50 of N." in #audit-count, got "${count}"`);
    const cells = await page.locator('#audit-records tbody').innerText();
    expect(!cells.includes('{"'), 'no raw JSON in the records');
    expect(patients.some((p) => cells.includes(p)), 'subject ids in the records');
  });
  await step('regulator: page 2 through the page jumps', async () => {
    await s.submit('audit-nof1-page-2', '.pager a[aria-label="page 2"]');
    const count = await s.text('#audit-count');
    expect(/^Records 51–/.test(count), `"Records 51–…" on page 2, got "${count}"`);
  });
  await step('regulator: a hash opened to its full value', async () => {
    await page.locator('#audit-records details.hash summary').first().click();
    const full = await page.locator('#audit-records details.hash input').first().inputValue();
    expect(/^[0-9a-f]{64}$/.test(full), `a 64-hex hash, got "${full}"`);
    await s.arrived('audit-hash-open');
  });
  await step('regulator: the export form says why a running trial is not offered', async () => {
    await s.visit('audit-export', '/audit#exports');
    expect(!(await s.present('#export-odm')), 'no export button the regulator cannot use');
    const refused = await s.text('#export-refused');
    expect(refused.includes(trialId) && /still running/.test(refused), `the running trial with its reason, got "${refused}"`);
  });
  await step('regulator: log out', () => s.logout(reg));
}

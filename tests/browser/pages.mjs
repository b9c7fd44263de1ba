#!/usr/bin/env node
// sealgate's pages in a real browser (Debian's headless chromium, driven by
// playwright-core from tests/idp/node_modules), each checked and saved as a
// screenshot at a desktop (1280x800) and a phone (390x844) width:
//
//   signin          the sign-in page: a provider button, "or", the password form
//   signin-failed   after a wrong password: the message, the username kept
//   rate-limited    after too many wrong passwords: 429 and the wait
//   verify-signin   the e-mailed-code form (the code from --mail-dir)
//   home            signed in
//   signout         the confirmation, with Cancel
//   signed-out      the one-time "you have been signed out" notice
//
// Usage:
//   node tests/browser/pages.mjs --base-url URL --username alice --password PASSWORD \
//     --limited-username bob --mail-dir DIR --out DIR [--timeout-ms 20000] [--chromium PATH]
//
// Prints exactly one JSON line on stdout: {"ok":true,"checks":{..},"screenshots":[..]}
// or {"ok":false,"step":..,"error":..,"url":..}; exit status 1 on failure (2 for bad usage).

import { join } from 'node:path';
import { check, confirmWithMailedCode, parseArgs, runInBrowser, signIn } from './common.mjs';

const SCRIPT = 'pages.mjs';
const WIDTHS = [
  ['desktop', { width: 1280, height: 800 }],
  ['phone', { width: 390, height: 844 }],
];

const options = parseArgs(SCRIPT, process.argv.slice(2), {
  usage:
    'usage: node tests/browser/pages.mjs --base-url URL --username USERNAME --password PASSWORD ' +
    '--limited-username USERNAME --mail-dir DIR --out DIR [--timeout-ms MS] [--chromium PATH]',
  flags: {
    '--base-url': 'baseUrl',
    '--username': 'username',
    '--password': 'password',
    '--limited-username': 'limitedUsername',
    '--mail-dir': 'mailDir',
    '--out': 'out',
  },
  required: ['baseUrl', 'username', 'password', 'limitedUsername', 'mailDir', 'out'],
});
const { baseUrl } = options;

await runInBrowser(
  SCRIPT,
  options,
  { viewport: WIDTHS[0][1], result: { checks: {}, screenshots: [] } },
  async ({ page, step, result }) => {
    const { checks } = result;

    /** Screenshots of the page as it is, at each width. */
    async function shoot(name) {
      for (const [label, size] of WIDTHS) {
        await page.setViewportSize(size);
        const path = join(options.out, `pages-${name}-${label}.png`);
        await page.screenshot({ path, fullPage: true });
        result.screenshots.push(path);
      }
      await page.setViewportSize(WIDTHS[0][1]);
    }

    /** Whether every visible input has a label tied to it. */
    async function labelled() {
      return page.evaluate(() =>
        [...document.querySelectorAll('input:not([type=hidden])')].every(
          (input) => input.labels && input.labels.length > 0,
        ),
      );
    }

    step('the sign-in page');
    const signin = await page.goto(`${baseUrl}/auth/signin`, { waitUntil: 'load' });
    checks.signin_status = signin.status();
    checks.title = await page.title();
    checks.provider_button = await page.locator('a.provider').first().innerText();
    checks.divider = await page.locator('.divider').innerText();
    checks.remember_checked = await page.locator('#remember').isChecked();
    checks.labelled = await labelled();
    checks.styled = await page.evaluate(() => getComputedStyle(document.querySelector('.card')).borderRadius);
    await shoot('signin');

    step('a wrong password');
    await signIn(page, {
      username: options.username,
      password: 'not-the-password',
      until: (url) => url.pathname === '/auth/signin' && url.searchParams.has('error'),
    });
    checks.failed_url = page.url();
    checks.failed_message = await page.locator('.error').innerText();
    checks.username_kept = await page.locator('#username').inputValue();
    checks.password_emptied = (await page.locator('#password').inputValue()) === '';
    await shoot('signin-failed');
    await page.reload({ waitUntil: 'load' });
    checks.username_after_reload = await page.locator('#username').inputValue();

    step('too many wrong passwords');
    let limited;
    for (let i = 0; i < 5 && !limited; i += 1) {
      const response = await signIn(page, {
        url: `${baseUrl}/auth/signin`,
        username: options.limitedUsername,
        password: 'wrong',
      });
      const posted = response.request().redirectedFrom() ?? response.request();
      const answer = await posted.response();
      if (answer && answer.status() === 429) limited = answer;
    }
    check(limited, 'no sign-in was rate limited');
    checks.limited_status = limited.status();
    checks.limited_retry_after = await limited.headerValue('retry-after');
    checks.limited_message = await page.locator('.error').innerText();
    checks.limited_username = await page.locator('#username').inputValue();
    await shoot('rate-limited');

    step('the right password, then the e-mailed code');
    await signIn(page, {
      url: `${baseUrl}/auth/signin`,
      username: options.username,
      password: options.password,
      until: (url) => url.pathname === '/auth/verify-signin',
    });
    checks.verify_labelled = await labelled();
    await shoot('verify-signin');
    await confirmWithMailedCode(page, {
      mailDir: options.mailDir,
      timeoutMs: options.timeoutMs,
      until: (url) => url.pathname === '/',
    });

    step('home, signed in');
    checks.home_heading = await page.locator('h1').innerText();
    checks.home_who = await page.locator('.who').innerText();
    await shoot('home');

    step('the sign-out confirmation');
    await page.getByRole('link', { name: 'Sign out', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/auth/signout', { waitUntil: 'load' });
    checks.cancel_href = await page.getByRole('link', { name: 'Cancel', exact: true }).getAttribute('href');
    await shoot('signout');
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/', { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Sign out', exact: true }).click(),
    ]);

    step('the signed-out notice');
    checks.signed_out_notice = await page.locator('.notice').innerText();
    checks.signed_out_heading = await page.locator('h1').innerText();
    await shoot('signed-out');
    await page.reload({ waitUntil: 'load' });
    checks.notice_after_reload = await page.locator('.notice').count();
  },
);

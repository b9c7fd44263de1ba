#!/usr/bin/env node
// A person signing themselves up and changing their password, in a real
// browser (Debian's headless chromium, driven by playwright-core from
// tests/idp/node_modules):
//
//   /auth/signin?redirect_to=/auth/session -> "Create an account"
//     -> /auth/signup: username, e-mail, password, "Create account"
//     -> /auth/verify-signin -> the code from the first message the SMTP
//        server saved in --mail-dir -> "Confirm"
//     -> /auth/session, which must say authenticated
//   /auth/password -> current and new password, "Change password"
//     -> the page's notice
//
// Usage:
//   node tests/browser/signup.mjs --base-url URL --username carol \
//     --email carol@example.com --password PASSWORD --new-password PASSWORD \
//     --mail-dir DIR [--screenshot FILE] [--timeout-ms 20000] [--chromium /usr/bin/chromium]
//
// Prints exactly one JSON line on stdout: {"ok":true,"signup_url":..,
// "verify_url":..,"landed_url":..,"session":..,"notice":..} or
// {"ok":false,"step":..,"error":..,"url":..}, exit status 1 on failure
// (2 for bad usage).

import { confirmWithMailedCode, pageText, parseArgs, runInBrowser } from './common.mjs';

const SCRIPT = 'signup.mjs';
const options = parseArgs(SCRIPT, process.argv.slice(2), {
  usage:
    'usage: node tests/browser/signup.mjs --base-url URL --username USERNAME --email ADDRESS ' +
    '--password PASSWORD --new-password PASSWORD --mail-dir DIR [--screenshot FILE] [--timeout-ms MS] [--chromium PATH]',
  flags: {
    '--base-url': 'baseUrl',
    '--username': 'username',
    '--email': 'email',
    '--password': 'password',
    '--new-password': 'newPassword',
    '--mail-dir': 'mailDir',
    '--screenshot': 'screenshot',
  },
  required: ['baseUrl', 'username', 'email', 'password', 'newPassword', 'mailDir'],
});

await runInBrowser(SCRIPT, options, { watchdog: 8 }, async ({ page, step, result }) => {
  step('open the sign-up form from the sign-in page');
  await page.goto(`${options.baseUrl}/auth/signin?redirect_to=/auth/session`, { waitUntil: 'load' });
  await Promise.all([
    page.waitForURL((url) => url.pathname === '/auth/signup', { waitUntil: 'load' }),
    page.getByRole('link', { name: 'Create an account', exact: true }).click(),
  ]);
  result.signup_url = page.url();
  if (options.screenshot) await page.screenshot({ path: options.screenshot, fullPage: true });

  step('sign up');
  await page.getByLabel('Username').fill(options.username);
  await page.getByLabel('E-mail address').fill(options.email);
  await page.getByLabel('Password', { exact: true }).fill(options.password);
  await Promise.all([
    page.waitForURL((url) => url.pathname === '/auth/verify-signin', { waitUntil: 'load' }),
    page.getByRole('button', { name: 'Create account', exact: true }).click(),
  ]);
  result.verify_url = page.url();

  step('enter the e-mailed code');
  await confirmWithMailedCode(page, {
    mailDir: options.mailDir,
    timeoutMs: options.timeoutMs,
    until: (url) => url.pathname === '/auth/session',
  });

  step('read the session');
  result.landed_url = page.url();
  result.session = JSON.parse(await pageText(page));

  step('change the password');
  await page.goto(`${options.baseUrl}/auth/password`, { waitUntil: 'load' });
  await page.getByLabel('Current password').fill(options.password);
  await page.getByLabel('New password').fill(options.newPassword);
  await page.getByRole('button', { name: 'Change password', exact: true }).click();
  await page.locator('.notice').waitFor();
  result.notice = await page.locator('.notice').innerText();
});

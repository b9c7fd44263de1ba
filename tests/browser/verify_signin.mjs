#!/usr/bin/env node
// A person confirming an unusual sign-in with the e-mailed code, in a real
// browser (Debian's headless chromium, driven by playwright-core from
// tests/idp/node_modules):
//
//   /auth/signin?redirect_to=/auth/session -> username, password, "Sign in"
//     -> /auth/verify-signin -> the code from the newest message the SMTP
//        server saved in --mail-dir -> "Confirm"
//     -> /auth/session, which must say authenticated
//
// Usage:
//   node tests/browser/verify_signin.mjs --base-url URL --username alice \
//     --password PASSWORD --mail-dir DIR [--timeout-ms 20000] [--chromium /usr/bin/chromium]
//
// Prints exactly one JSON line on stdout: {"ok":true,"verify_url":..,
// "landed_url":..,"session":..} or {"ok":false,"step":..,"error":..,"url":..},
// exit status 1 on failure (2 for bad usage).

import { confirmWithMailedCode, pageText, parseArgs, runInBrowser, signIn } from './common.mjs';

const SCRIPT = 'verify_signin.mjs';
const options = parseArgs(SCRIPT, process.argv.slice(2), {
  usage:
    'usage: node tests/browser/verify_signin.mjs --base-url URL --username USERNAME --password PASSWORD ' +
    '--mail-dir DIR [--timeout-ms MS] [--chromium PATH]',
  flags: { '--base-url': 'baseUrl', '--username': 'username', '--password': 'password', '--mail-dir': 'mailDir' },
  required: ['baseUrl', 'username', 'password', 'mailDir'],
});

await runInBrowser(SCRIPT, options, { watchdog: 6 }, async ({ page, step, result }) => {
  step('sign in with a password');
  await signIn(page, {
    url: `${options.baseUrl}/auth/signin?redirect_to=/auth/session`,
    username: options.username,
    password: options.password,
    until: (url) => url.pathname === '/auth/verify-signin',
  });
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
});

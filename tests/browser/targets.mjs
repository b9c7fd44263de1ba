#!/usr/bin/env node
// A person signing in with a password in a real browser (Debian's headless
// chromium, driven by playwright-core from tests/idp/node_modules) from a
// sign-in page that carries success_to and failure_to:
//
//   the sign-in page -> a wrong password -> failure_to?error=invalid_credentials
//   the sign-in page -> the right password -> success_to
//
// Usage:
//   node tests/browser/targets.mjs --signin-url URL --login alice \
//     --password PASSWORD --wrong-password WRONG \
//     [--timeout-ms 20000] [--chromium /usr/bin/chromium]
//
// Prints exactly one JSON line on stdout: on success
//   {"ok":true,"failed_url":..,"failed_text":..,"succeeded_url":..,"succeeded_text":..}
// and on failure {"ok":false,"step":..,"error":..,"url":..} with the reason
// on stderr too and exit status 1 (2 for bad usage).

import { pageText, parseArgs, runInBrowser, signIn } from './common.mjs';

const SCRIPT = 'targets.mjs';
const options = parseArgs(SCRIPT, process.argv.slice(2), {
  usage:
    'usage: node tests/browser/targets.mjs --signin-url URL --login LOGIN --password PASSWORD ' +
    '--wrong-password WRONG [--timeout-ms MS] [--chromium PATH]',
  flags: {
    '--signin-url': 'signinUrl',
    '--login': 'login',
    '--password': 'password',
    '--wrong-password': 'wrongPassword',
  },
  required: ['signinUrl', 'login', 'password', 'wrongPassword'],
});

await runInBrowser(SCRIPT, options, { watchdog: 6 }, async ({ page, step, result }) => {
  step('read the sign-in URL');
  const signin = new URL(options.signinUrl);
  const failureTo = new URL(signin.searchParams.get('failure_to'), signin.origin);
  const successTo = new URL(signin.searchParams.get('success_to'), signin.origin);
  const at = (target) => (url) => url.origin === target.origin && url.pathname === target.pathname;

  step('sign in with a wrong password');
  await signIn(page, {
    url: signin.href,
    username: options.login,
    password: options.wrongPassword,
    until: at(failureTo),
  });
  result.failed_url = page.url();
  result.failed_text = await pageText(page);

  step('sign in with the right password');
  await signIn(page, { url: signin.href, username: options.login, password: options.password, until: at(successTo) });
  result.succeeded_url = page.url();
  result.succeeded_text = await pageText(page);
});

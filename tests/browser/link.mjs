#!/usr/bin/env node
// A person linking a second provider to their session, in a real browser
// (Debian's headless chromium, driven by playwright-core from
// tests/idp/node_modules):
//
//   /auth/signin?redirect_to=/auth/session -> username, password, "Sign in"
//     -> /auth/session (signed in, nothing linked)
//   /auth/link/{provider}?redirect_to=/auth/session
//     -> the IdP's login form (login, password, "Sign in")
//     -> /auth/session, which must list the link
//   POST /auth/unlink/{provider} (a same-origin fetch from the page)
//     -> /auth/session lists nothing linked
//
// Usage:
//   node tests/browser/link.mjs --base-url URL --username alice --password PASSWORD \
//     --provider corp --idp-login alice --idp-password PASSWORD \
//     [--timeout-ms 20000] [--chromium /usr/bin/chromium]
//
// Prints exactly one JSON line on stdout: {"ok":true,"idp_login_url":..,
// "before":..,"linked":..,"unlinked_status":..,"after":..} or
// {"ok":false,"step":..,"error":..,"url":..}, exit status 1 on failure
// (2 for bad usage).

import { check, pageText, parseArgs, runInBrowser, signIn } from './common.mjs';

const SCRIPT = 'link.mjs';
const options = parseArgs(SCRIPT, process.argv.slice(2), {
  usage:
    'usage: node tests/browser/link.mjs --base-url URL --username USERNAME --password PASSWORD ' +
    '--provider ID --idp-login LOGIN --idp-password PASSWORD [--timeout-ms MS] [--chromium PATH]',
  flags: {
    '--base-url': 'baseUrl',
    '--username': 'username',
    '--password': 'password',
    '--provider': 'provider',
    '--idp-login': 'idpLogin',
    '--idp-password': 'idpPassword',
  },
  required: ['baseUrl', 'username', 'password', 'provider', 'idpLogin', 'idpPassword'],
});

await runInBrowser(SCRIPT, options, { watchdog: 8 }, async ({ page, step, result }) => {
  const base = new URL(options.baseUrl);
  const session = async () => {
    await page.goto(`${options.baseUrl}/auth/session`, { waitUntil: 'load' });
    return JSON.parse(await pageText(page));
  };

  step('sign in with a password');
  await signIn(page, {
    url: `${options.baseUrl}/auth/signin?redirect_to=/auth/session`,
    username: options.username,
    password: options.password,
    until: (url) => url.pathname === '/auth/session',
  });
  result.before = await session();

  step(`link ${options.provider}`);
  await page.goto(`${options.baseUrl}/auth/link/${options.provider}?redirect_to=/auth/session`, { waitUntil: 'load' });
  check(new URL(page.url()).host !== base.host, `not sent to the IdP: ${page.url()}`);
  result.idp_login_url = page.url();

  step("fill in the IdP's login form");
  await page.locator('input[name="login"]').fill(options.idpLogin);
  await page.locator('input[name="password"]').fill(options.idpPassword);
  await Promise.all([
    page.waitForURL((url) => url.host === base.host && url.pathname === '/auth/session', { waitUntil: 'load' }),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  result.linked = await session();

  step(`unlink ${options.provider}`);
  result.unlinked_status = await page.evaluate(
    (provider) => fetch(`/auth/unlink/${provider}`, { method: 'POST' }).then((r) => r.status),
    options.provider,
  );
  result.after = await session();
});

#!/usr/bin/env node
// A person signing in through sealgate with a real browser (Debian's
// headless chromium, driven by playwright-core from tests/idp/node_modules):
//
//   protected URL (through the reverse proxy)
//     -> sealgate's sign-in page -> "Sign in with <provider>"
//     -> the IdP's login form (login, password, "Sign in")
//     -> back on the protected URL (screenshot, URL and text recorded)
//   then /auth/signout -> "Sign out" -> the protected URL again must lead
//   to sealgate's sign-in page.
//
// Usage:
//   node tests/browser/signin.mjs --protected-url URL --login alice \
//     --password alice-password --screenshot PATH \
//     [--provider-name "Test IdP"] [--timeout-ms 20000] \
//     [--chromium /usr/bin/chromium]
//
// Prints exactly one JSON line on stdout: on success
//   {"ok":true,"signin_page_url":..,"idp_login_url":..,"landed_url":..,
//    "landed_text":..,"landed_json":..,"screenshot":..,
//    "after_signout_click_url":..,"after_signout_url":..}
// and on failure {"ok":false,"step":..,"error":..,"url":..,"failure_screenshot":..}
// with the reason on stderr too and exit status 1 (2 for bad usage).
// Every wait is bounded by --timeout-ms; the whole run by a watchdog.

import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { check, pageText, parseArgs, runInBrowser } from './common.mjs';

const SCRIPT = 'signin.mjs';
const USAGE =
  'usage: node tests/browser/signin.mjs --protected-url URL --login LOGIN --password PASSWORD ' +
  '--screenshot PATH [--provider-name NAME] [--timeout-ms MS] [--chromium PATH]';

const options = parseArgs(SCRIPT, process.argv.slice(2), {
  usage: USAGE,
  flags: {
    '--protected-url': 'protectedUrl',
    '--login': 'login',
    '--password': 'password',
    '--screenshot': 'screenshot',
    '--provider-name': 'providerName',
  },
  required: ['protectedUrl', 'login', 'password', 'screenshot'],
  defaults: { providerName: 'Test IdP' },
});
let protectedPage;
try {
  protectedPage = new URL(options.protectedUrl);
} catch {
  process.stderr.write(`${SCRIPT}: --protected-url is not a URL: ${options.protectedUrl}\n${USAGE}\n`);
  process.exit(2);
}
const screenshot = resolve(options.screenshot);
const protectedUrl = protectedPage.href;
const { origin } = protectedPage;
const sameUrl = (a, b) => new URL(a).href === new URL(b).href;

await runInBrowser(
  SCRIPT,
  options,
  {
    viewport: { width: 1024, height: 640 },
    failureScreenshot: screenshot.replace(/(\.png)?$/i, '-failure.png'),
  },
  async ({ page, step, result }) => {
    step('open the protected URL');
    await page.goto(protectedUrl, { waitUntil: 'load' });
    const signinPage = new URL(page.url());
    check(
      signinPage.origin === origin && signinPage.pathname === '/auth/signin',
      `expected sealgate's sign-in page at ${origin}/auth/signin, got ${page.url()}`,
    );
    const redirectTo = signinPage.searchParams.get('redirect_to');
    check(
      redirectTo !== null && sameUrl(new URL(redirectTo, origin).href, protectedUrl),
      `the sign-in page should carry redirect_to=${protectedUrl}, got ${redirectTo}`,
    );
    result.signin_page_url = page.url();

    step(`click "Sign in with ${options.providerName}"`);
    const providerLink = page.getByRole('link', { name: `Sign in with ${options.providerName}`, exact: true });
    check((await providerLink.count()) === 1, `no "Sign in with ${options.providerName}" link on ${page.url()}`);
    await Promise.all([
      page.waitForURL((url) => url.pathname.startsWith('/interaction/'), { waitUntil: 'load' }),
      providerLink.click(),
    ]);
    result.idp_login_url = page.url();

    step("fill in the IdP's login form");
    await page.locator('input[name="login"]').fill(options.login);
    await page.locator('input[name="password"]').fill(options.password);
    await Promise.all([
      page.waitForURL((url) => sameUrl(url.href, protectedUrl), { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);

    step('record the landed page');
    result.landed_url = page.url();
    result.landed_text = await pageText(page);
    try {
      result.landed_json = JSON.parse(result.landed_text);
    } catch {
      result.landed_json = null;
    }
    mkdirSync(dirname(screenshot), { recursive: true });
    await page.screenshot({ path: screenshot, fullPage: true, timeout: options.timeoutMs });
    result.screenshot = screenshot;

    step('sign out');
    await page.goto(`${origin}/auth/signout`, { waitUntil: 'load' });
    check(new URL(page.url()).pathname === '/auth/signout', `expected the sign-out page, got ${page.url()}`);
    const signOut = page.getByRole('button', { name: 'Sign out', exact: true });
    check((await signOut.count()) === 1, `no "Sign out" button on ${page.url()}`);
    const signedOut = page.waitForResponse(
      (response) => response.request().method() === 'POST' && new URL(response.url()).pathname === '/auth/signout',
    );
    await signOut.click();
    const signoutResponse = await signedOut;
    check(
      signoutResponse.status() === 303,
      `POST /auth/signout answered ${signoutResponse.status()}, expected 303`,
    );
    await page.waitForLoadState('load');
    result.after_signout_click_url = page.url();

    step('open the protected URL again');
    await page.goto(protectedUrl, { waitUntil: 'load' });
    result.after_signout_url = page.url();
    const again = new URL(page.url());
    check(
      again.origin === origin && again.pathname === '/auth/signin',
      `after signing out, the protected URL should lead to ${origin}/auth/signin, got ${page.url()}`,
    );
    check(
      (await page.getByRole('link', { name: `Sign in with ${options.providerName}`, exact: true }).count()) === 1,
      `the page at ${page.url()} after signing out is not the sign-in page`,
    );
  },
);

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

import { createRequire } from 'node:module';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const require = createRequire(new URL('../idp/package.json', import.meta.url));

const USAGE =
  'usage: node tests/browser/signin.mjs --protected-url URL --login LOGIN --password PASSWORD ' +
  '--screenshot PATH [--provider-name NAME] [--timeout-ms MS] [--chromium PATH]';

function parseArgs(argv) {
  const options = {
    providerName: 'Test IdP',
    timeoutMs: 20000,
    chromium: '/usr/bin/chromium',
  };
  const names = {
    '--protected-url': 'protectedUrl',
    '--login': 'login',
    '--password': 'password',
    '--screenshot': 'screenshot',
    '--provider-name': 'providerName',
    '--timeout-ms': 'timeoutMs',
    '--chromium': 'chromium',
  };
  for (let i = 0; i < argv.length; i += 1) {
    let flag = argv[i];
    let value;
    const eq = flag.indexOf('=');
    if (flag.startsWith('--') && eq > 0) {
      value = flag.slice(eq + 1);
      flag = flag.slice(0, eq);
    } else {
      i += 1;
      value = argv[i];
    }
    const key = names[flag];
    if (!key || value === undefined) usage(`bad or incomplete flag: ${flag}`);
    options[key] = value;
  }
  for (const key of ['protectedUrl', 'login', 'password', 'screenshot']) {
    if (!options[key]) usage(`missing --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  }
  options.timeoutMs = Number(options.timeoutMs);
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) usage('--timeout-ms must be a positive number');
  try {
    options.protected = new URL(options.protectedUrl);
  } catch {
    usage(`--protected-url is not a URL: ${options.protectedUrl}`);
  }
  options.screenshot = resolve(options.screenshot);
  return options;
}

function usage(message) {
  process.stderr.write(`signin.mjs: ${message}\n${USAGE}\n`);
  process.exit(2);
}

class StepError extends Error {}

/** Fail the current step with a message that says what was expected. */
function check(condition, message) {
  if (!condition) throw new StepError(message);
}

/** `promise`, or a rejection after `ms` naming `what`. */
function bounded(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new StepError(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

const sameUrl = (a, b) => new URL(a).href === new URL(b).href;

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const { timeoutMs } = options;
  const protectedUrl = options.protected.href;
  const origin = options.protected.origin;

  // The whole run: every step is bounded, this is the backstop.
  const watchdog = setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ ok: false, step: 'watchdog', error: 'the run took too long' })}\n`);
    process.stderr.write('signin.mjs: the run took too long; exiting\n');
    process.exit(1);
  }, timeoutMs * 8);
  watchdog.unref();

  let chromium;
  try {
    ({ chromium } = require('playwright-core'));
  } catch (e) {
    throw new StepError(
      `playwright-core is not installed in tests/idp/node_modules (run bash scripts/install-test-deps.sh): ${e.message}`,
    );
  }

  const result = { ok: false };
  let step = 'launch chromium';
  let browser;
  let page;
  try {
    browser = await chromium.launch({
      executablePath: options.chromium,
      headless: true,
      timeout: timeoutMs,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    // A fresh context: no cookies, no storage (playwright also gives the
    // browser a fresh temporary profile directory).
    const context = await browser.newContext({ viewport: { width: 1024, height: 640 } });
    context.setDefaultTimeout(timeoutMs);
    context.setDefaultNavigationTimeout(timeoutMs);
    page = await context.newPage();

    step = 'open the protected URL';
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

    step = `click "Sign in with ${options.providerName}"`;
    const providerLink = page.getByRole('link', { name: `Sign in with ${options.providerName}`, exact: true });
    check((await providerLink.count()) === 1, `no "Sign in with ${options.providerName}" link on ${page.url()}`);
    await Promise.all([
      page.waitForURL((url) => url.pathname.startsWith('/interaction/'), { waitUntil: 'load' }),
      providerLink.click(),
    ]);
    result.idp_login_url = page.url();

    step = "fill in the IdP's login form";
    await page.locator('input[name="login"]').fill(options.login);
    await page.locator('input[name="password"]').fill(options.password);
    await Promise.all([
      page.waitForURL((url) => sameUrl(url.href, protectedUrl), { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);

    step = 'record the landed page';
    result.landed_url = page.url();
    // Chromium shows a JSON response as text in a <pre>; take that when there
    // is one, else the page's visible text.
    result.landed_text = await page.evaluate(
      () => (document.querySelector('body > pre') ?? document.body)?.innerText ?? '',
    );
    try {
      result.landed_json = JSON.parse(result.landed_text);
    } catch {
      result.landed_json = null;
    }
    mkdirSync(dirname(options.screenshot), { recursive: true });
    await page.screenshot({ path: options.screenshot, fullPage: true, timeout: timeoutMs });
    result.screenshot = options.screenshot;

    step = 'sign out';
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

    step = 'open the protected URL again';
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
    result.ok = true;
  } catch (e) {
    result.ok = false;
    result.step = step;
    result.error = e instanceof StepError ? e.message : String(e?.stack ?? e);
    result.url = page ? page.url() : null;
    if (page) {
      const failure = options.screenshot.replace(/(\.png)?$/i, '-failure.png');
      try {
        await page.screenshot({ path: failure, fullPage: true, timeout: 5000 });
        result.failure_screenshot = failure;
      } catch {
        // best effort
      }
    }
  } finally {
    if (browser) {
      await bounded(browser.close(), timeoutMs, 'closing the browser').catch((e) => {
        process.stderr.write(`signin.mjs: ${e.message}\n`);
      });
    }
  }

  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (!result.ok) {
    process.stderr.write(`signin.mjs: failed at step "${result.step}": ${result.error} (page: ${result.url})\n`);
    process.exitCode = 1;
  }
  clearTimeout(watchdog);
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ ok: false, step: 'setup', error: e.message })}\n`);
  process.stderr.write(`signin.mjs: ${e instanceof StepError ? e.message : e?.stack ?? e}\n`);
  process.exit(1);
});

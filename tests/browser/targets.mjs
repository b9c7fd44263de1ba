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

import { createRequire } from 'node:module';

const require = createRequire(new URL('../idp/package.json', import.meta.url));

const USAGE =
  'usage: node tests/browser/targets.mjs --signin-url URL --login LOGIN --password PASSWORD ' +
  '--wrong-password WRONG [--timeout-ms MS] [--chromium PATH]';

function usage(message) {
  process.stderr.write(`targets.mjs: ${message}\n${USAGE}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const options = { timeoutMs: 20000, chromium: '/usr/bin/chromium' };
  const names = {
    '--signin-url': 'signinUrl',
    '--login': 'login',
    '--password': 'password',
    '--wrong-password': 'wrongPassword',
    '--timeout-ms': 'timeoutMs',
    '--chromium': 'chromium',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || argv[i + 1] === undefined) usage(`bad or incomplete flag: ${argv[i]}`);
    options[key] = argv[i + 1];
  }
  for (const key of ['signinUrl', 'login', 'password', 'wrongPassword']) {
    if (!options[key]) usage(`missing --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  }
  options.timeoutMs = Number(options.timeoutMs);
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) usage('--timeout-ms must be a positive number');
  return options;
}

async function main() {
  const options = parseArgs(process.argv.slice(2));
  const { timeoutMs } = options;
  const watchdog = setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ ok: false, step: 'watchdog', error: 'the run took too long' })}\n`);
    process.exit(1);
  }, timeoutMs * 6);
  watchdog.unref();

  const { chromium } = require('playwright-core');
  const signin = new URL(options.signinUrl);
  const failureTo = new URL(signin.searchParams.get('failure_to'), signin.origin);
  const successTo = new URL(signin.searchParams.get('success_to'), signin.origin);
  const result = { ok: false };
  let step = 'launch chromium';
  let browser;
  let page;
  try {
    browser = await chromium.launch({
      executablePath: options.chromium,
      headless: true,
      timeout: timeoutMs,
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run'],
    });
    const context = await browser.newContext();
    context.setDefaultTimeout(timeoutMs);
    context.setDefaultNavigationTimeout(timeoutMs);
    page = await context.newPage();
    const text = () => page.evaluate(() => (document.querySelector('body > pre') ?? document.body)?.innerText ?? '');

    const submit = async (password, target) => {
      await page.goto(signin.href, { waitUntil: 'load' });
      await page.locator('input[name="username"]').fill(options.login);
      await page.locator('input[name="password"]').fill(password);
      await Promise.all([
        page.waitForURL((url) => url.origin === target.origin && url.pathname === target.pathname, {
          waitUntil: 'load',
        }),
        page.getByRole('button', { name: 'Sign in', exact: true }).click(),
      ]);
    };

    step = 'sign in with a wrong password';
    await submit(options.wrongPassword, failureTo);
    result.failed_url = page.url();
    result.failed_text = await text();

    step = 'sign in with the right password';
    await submit(options.password, successTo);
    result.succeeded_url = page.url();
    result.succeeded_text = await text();
    result.ok = true;
  } catch (error) {
    result.step = step;
    result.error = String(error?.message ?? error);
    result.url = page?.url();
    process.stderr.write(`targets.mjs: ${step}: ${result.error}\n`);
  } finally {
    await browser?.close().catch(() => {});
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  process.exit(result.ok ? 0 : 1);
}

main().catch((error) => {
  process.stdout.write(`${JSON.stringify({ ok: false, step: 'start', error: String(error?.message ?? error) })}\n`);
  process.exit(1);
});

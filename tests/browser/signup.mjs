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

import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(new URL('../idp/package.json', import.meta.url));

function parseArgs(argv) {
  const options = { timeoutMs: 20000, chromium: '/usr/bin/chromium' };
  const names = {
    '--base-url': 'baseUrl',
    '--username': 'username',
    '--email': 'email',
    '--password': 'password',
    '--new-password': 'newPassword',
    '--mail-dir': 'mailDir',
    '--screenshot': 'screenshot',
    '--timeout-ms': 'timeoutMs',
    '--chromium': 'chromium',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || argv[i + 1] === undefined) {
      process.stderr.write(`signup.mjs: bad or incomplete flag: ${argv[i]}\n`);
      process.exit(2);
    }
    options[key] = argv[i + 1];
  }
  for (const key of ['baseUrl', 'username', 'email', 'password', 'newPassword', 'mailDir']) {
    if (!options[key]) {
      process.stderr.write(`signup.mjs: missing ${key}\n`);
      process.exit(2);
    }
  }
  options.timeoutMs = Number(options.timeoutMs);
  return options;
}

class StepError extends Error {}

function check(condition, message) {
  if (!condition) throw new StepError(message);
}

/** The code in the first message saved in `dir`, waiting up to `ms` for it. */
async function codeFromMail(dir, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const files = readdirSync(dir).filter((name) => name.endsWith('.eml')).sort();
    if (files.length > 0) {
      const text = readFileSync(join(dir, files[0]), 'utf8');
      const match = /code is:\s*(\d{6,})/.exec(text);
      check(match !== null, `no code in the message ${files[0]}`);
      return match[1];
    }
    check(Date.now() < deadline, `no message arrived in ${dir} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
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

    step = 'open the sign-up form from the sign-in page';
    await page.goto(`${options.baseUrl}/auth/signin?redirect_to=/auth/session`, { waitUntil: 'load' });
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/auth/signup', { waitUntil: 'load' }),
      page.getByRole('link', { name: 'Create an account', exact: true }).click(),
    ]);
    result.signup_url = page.url();
    if (options.screenshot) await page.screenshot({ path: options.screenshot, fullPage: true });

    step = 'sign up';
    await page.getByLabel('Username').fill(options.username);
    await page.getByLabel('E-mail address').fill(options.email);
    await page.getByLabel('Password', { exact: true }).fill(options.password);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/auth/verify-signin', { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Create account', exact: true }).click(),
    ]);
    result.verify_url = page.url();

    step = 'enter the e-mailed code';
    const code = await codeFromMail(options.mailDir, timeoutMs);
    await page.locator('input[name="code"]').fill(code);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/auth/session', { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Confirm', exact: true }).click(),
    ]);

    step = 'read the session';
    result.landed_url = page.url();
    const text = await page.evaluate(() => (document.querySelector('body > pre') ?? document.body)?.innerText ?? '');
    result.session = JSON.parse(text);

    step = 'change the password';
    await page.goto(`${options.baseUrl}/auth/password`, { waitUntil: 'load' });
    await page.getByLabel('Current password').fill(options.password);
    await page.getByLabel('New password').fill(options.newPassword);
    await Promise.all([
      page.waitForLoadState('load'),
      page.getByRole('button', { name: 'Change password', exact: true }).click(),
    ]);
    await page.locator('.notice').waitFor();
    result.notice = await page.locator('.notice').innerText();
    result.ok = true;
  } catch (e) {
    result.step = step;
    result.error = e instanceof StepError ? e.message : String(e?.stack ?? e);
    result.url = page ? page.url() : null;
  } finally {
    if (browser) await browser.close().catch(() => {});
  }
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (!result.ok) {
    process.stderr.write(`signup.mjs: failed at step "${result.step}": ${result.error} (page: ${result.url})\n`);
    process.exitCode = 1;
  }
  clearTimeout(watchdog);
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ ok: false, step: 'setup', error: e.message })}\n`);
  process.exit(1);
});

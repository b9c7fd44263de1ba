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
// or {"ok":false,"step":..,"error":..,"url":..}; exit status 1 on failure.

import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const require = createRequire(new URL('../idp/package.json', import.meta.url));

const WIDTHS = [
  ['desktop', { width: 1280, height: 800 }],
  ['phone', { width: 390, height: 844 }],
];

function parseArgs(argv) {
  const options = { timeoutMs: 20000, chromium: '/usr/bin/chromium' };
  const names = {
    '--base-url': 'baseUrl',
    '--username': 'username',
    '--password': 'password',
    '--limited-username': 'limitedUsername',
    '--mail-dir': 'mailDir',
    '--out': 'out',
    '--timeout-ms': 'timeoutMs',
    '--chromium': 'chromium',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || argv[i + 1] === undefined) {
      process.stderr.write(`pages.mjs: bad or incomplete flag: ${argv[i]}\n`);
      process.exit(2);
    }
    options[key] = argv[i + 1];
  }
  for (const key of ['baseUrl', 'username', 'password', 'limitedUsername', 'mailDir', 'out']) {
    if (!options[key]) {
      process.stderr.write(`pages.mjs: missing ${key}\n`);
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
  const { timeoutMs, baseUrl } = options;
  const watchdog = setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ ok: false, step: 'watchdog', error: 'the run took too long' })}\n`);
    process.exit(1);
  }, timeoutMs * 8);
  watchdog.unref();

  const { chromium } = require('playwright-core');
  const result = { ok: false, checks: {}, screenshots: [] };
  const checks = result.checks;
  let step = 'launch chromium';
  let browser;
  let page;

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
      [...document.querySelectorAll('input:not([type=hidden])')].every((input) => input.labels && input.labels.length > 0),
    );
  }

  try {
    browser = await chromium.launch({
      executablePath: options.chromium,
      headless: true,
      timeout: timeoutMs,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-dev-shm-usage', '--no-first-run'],
    });
    const context = await browser.newContext({ viewport: WIDTHS[0][1] });
    context.setDefaultTimeout(timeoutMs);
    context.setDefaultNavigationTimeout(timeoutMs);
    page = await context.newPage();

    step = 'the sign-in page';
    const signin = await page.goto(`${baseUrl}/auth/signin`, { waitUntil: 'load' });
    checks.signin_status = signin.status();
    checks.title = await page.title();
    checks.provider_button = await page.locator('a.provider').first().innerText();
    checks.divider = await page.locator('.divider').innerText();
    checks.remember_checked = await page.locator('#remember').isChecked();
    checks.labelled = await labelled();
    checks.styled = await page.evaluate(() => getComputedStyle(document.querySelector('.card')).borderRadius);
    await shoot('signin');

    step = 'a wrong password';
    await page.locator('#username').fill(options.username);
    await page.locator('#password').fill('not-the-password');
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/auth/signin' && url.searchParams.has('error'), { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
    checks.failed_url = page.url();
    checks.failed_message = await page.locator('.error').innerText();
    checks.username_kept = await page.locator('#username').inputValue();
    checks.password_emptied = (await page.locator('#password').inputValue()) === '';
    await shoot('signin-failed');
    await page.reload({ waitUntil: 'load' });
    checks.username_after_reload = await page.locator('#username').inputValue();

    step = 'too many wrong passwords';
    let limited;
    for (let i = 0; i < 5 && !limited; i += 1) {
      await page.goto(`${baseUrl}/auth/signin`, { waitUntil: 'load' });
      await page.locator('#username').fill(options.limitedUsername);
      await page.locator('#password').fill('wrong');
      const [response] = await Promise.all([
        page.waitForNavigation({ waitUntil: 'load' }),
        page.getByRole('button', { name: 'Sign in', exact: true }).click(),
      ]);
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

    step = 'the right password, then the e-mailed code';
    await page.goto(`${baseUrl}/auth/signin`, { waitUntil: 'load' });
    await page.locator('#username').fill(options.username);
    await page.locator('#password').fill(options.password);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/auth/verify-signin', { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
    checks.verify_labelled = await labelled();
    await shoot('verify-signin');
    const code = await codeFromMail(options.mailDir, timeoutMs);
    await page.locator('#code').fill(code);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/', { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Confirm', exact: true }).click(),
    ]);

    step = 'home, signed in';
    checks.home_heading = await page.locator('h1').innerText();
    checks.home_who = await page.locator('.who').innerText();
    await shoot('home');

    step = 'the sign-out confirmation';
    await page.getByRole('link', { name: 'Sign out', exact: true }).click();
    await page.waitForURL((url) => url.pathname === '/auth/signout', { waitUntil: 'load' });
    checks.cancel_href = await page.getByRole('link', { name: 'Cancel', exact: true }).getAttribute('href');
    await shoot('signout');
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/', { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Sign out', exact: true }).click(),
    ]);

    step = 'the signed-out notice';
    checks.signed_out_notice = await page.locator('.notice').innerText();
    checks.signed_out_heading = await page.locator('h1').innerText();
    await shoot('signed-out');
    await page.reload({ waitUntil: 'load' });
    checks.notice_after_reload = await page.locator('.notice').count();
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
    process.stderr.write(`pages.mjs: failed at step "${result.step}": ${result.error} (page: ${result.url})\n`);
    process.exitCode = 1;
  }
  clearTimeout(watchdog);
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ ok: false, step: 'setup', error: e.message })}\n`);
  process.exit(1);
});

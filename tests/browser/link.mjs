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

import { createRequire } from 'node:module';

const require = createRequire(new URL('../idp/package.json', import.meta.url));

function parseArgs(argv) {
  const options = { timeoutMs: 20000, chromium: '/usr/bin/chromium' };
  const names = {
    '--base-url': 'baseUrl',
    '--username': 'username',
    '--password': 'password',
    '--provider': 'provider',
    '--idp-login': 'idpLogin',
    '--idp-password': 'idpPassword',
    '--timeout-ms': 'timeoutMs',
    '--chromium': 'chromium',
  };
  for (let i = 0; i < argv.length; i += 2) {
    const key = names[argv[i]];
    if (!key || argv[i + 1] === undefined) {
      process.stderr.write(`link.mjs: bad or incomplete flag: ${argv[i]}\n`);
      process.exit(2);
    }
    options[key] = argv[i + 1];
  }
  for (const key of ['baseUrl', 'username', 'password', 'provider', 'idpLogin', 'idpPassword']) {
    if (!options[key]) {
      process.stderr.write(`link.mjs: missing ${key}\n`);
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

    const session = async () => {
      await page.goto(`${options.baseUrl}/auth/session`, { waitUntil: 'load' });
      const text = await page.evaluate(() => (document.querySelector('body > pre') ?? document.body)?.innerText ?? '');
      return JSON.parse(text);
    };

    step = 'sign in with a password';
    await page.goto(`${options.baseUrl}/auth/signin?redirect_to=/auth/session`, { waitUntil: 'load' });
    await page.locator('input[name="username"]').fill(options.username);
    await page.locator('input[name="password"]').fill(options.password);
    await Promise.all([
      page.waitForURL((url) => url.pathname === '/auth/session', { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
    result.before = await session();

    step = `link ${options.provider}`;
    const base = new URL(options.baseUrl);
    await page.goto(`${options.baseUrl}/auth/link/${options.provider}?redirect_to=/auth/session`, { waitUntil: 'load' });
    check(new URL(page.url()).host !== base.host, `not sent to the IdP: ${page.url()}`);
    result.idp_login_url = page.url();

    step = "fill in the IdP's login form";
    await page.locator('input[name="login"]').fill(options.idpLogin);
    await page.locator('input[name="password"]').fill(options.idpPassword);
    await Promise.all([
      page.waitForURL((url) => url.host === base.host && url.pathname === '/auth/session', { waitUntil: 'load' }),
      page.getByRole('button', { name: 'Sign in', exact: true }).click(),
    ]);
    result.linked = await session();

    step = `unlink ${options.provider}`;
    result.unlinked_status = await page.evaluate(
      (provider) => fetch(`/auth/unlink/${provider}`, { method: 'POST' }).then((r) => r.status),
      options.provider,
    );
    result.after = await session();
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
    process.stderr.write(`link.mjs: failed at step "${result.step}": ${result.error} (page: ${result.url})\n`);
    process.exitCode = 1;
  }
  clearTimeout(watchdog);
}

main().catch((e) => {
  process.stdout.write(`${JSON.stringify({ ok: false, step: 'setup', error: e.message })}\n`);
  process.exit(1);
});

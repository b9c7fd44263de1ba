// What every browser script in tests/browser shares: its flags, a headless
// chromium (Debian's, driven by playwright-core from tests/idp/node_modules)
// in a fresh profile, the run that records which step failed and prints one
// JSON line, and the steps of signing in through sealgate's password form
// and confirming a sign-in with the e-mailed code.
//
// A script is a story told to `runInBrowser`:
//
//   const options = parseArgs('x.mjs', process.argv.slice(2), { usage, flags, required });
//   runInBrowser('x.mjs', options, async ({ page, step, result }) => {
//     step('open the sign-in page');
//     ...
//     result.landed_url = page.url();
//   });
//
// which prints {"ok":true,...result} on stdout, or on failure
// {"ok":false,"step":..,"error":..,"url":..,...result} with the reason on
// stderr too and exit status 1; bad usage exits with status 2.

import { createRequire } from 'node:module';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const require = createRequire(new URL('../idp/package.json', import.meta.url));

/** The flags every script takes, with their defaults. */
const COMMON_FLAGS = { '--timeout-ms': 'timeoutMs', '--chromium': 'chromium' };
const COMMON_DEFAULTS = { timeoutMs: 20000, chromium: '/usr/bin/chromium' };

/** What chromium runs with: no sandbox (CI containers), no GPU, nothing fetched in the background. */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-dev-shm-usage',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/** Print `message` and the usage line, and exit with status 2. */
function usageError(script, usage, message) {
  process.stderr.write(`${script}: ${message}\n${usage}\n`);
  process.exit(2);
}

/**
 * The options in `argv` (`--flag value` or `--flag=value`): `flags` maps a
 * script's own flags to option names, `required` names the options that
 * must be given, `defaults` gives the others' values. `--timeout-ms` (a
 * positive number, default 20000) and `--chromium` (default
 * /usr/bin/chromium) are every script's.
 */
export function parseArgs(script, argv, { usage, flags, required, defaults = {} }) {
  const names = { ...flags, ...COMMON_FLAGS };
  const options = { ...COMMON_DEFAULTS, ...defaults };
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
    if (!key || value === undefined) usageError(script, usage, `bad or incomplete flag: ${flag}`);
    options[key] = value;
  }
  for (const key of required) {
    if (!options[key]) usageError(script, usage, `missing --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
  }
  options.timeoutMs = Number(options.timeoutMs);
  if (!Number.isFinite(options.timeoutMs) || options.timeoutMs <= 0) {
    usageError(script, usage, '--timeout-ms must be a positive number');
  }
  return options;
}

/** A step's failure: its message says what was expected (no stack trace). */
export class StepError extends Error {}

/** Fail the current step with a message that says what was expected. */
export function check(condition, message) {
  if (!condition) throw new StepError(message);
}

/** `promise`, or a rejection after `ms` naming `what`. */
export function bounded(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new StepError(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** The page's text: the `<pre>` chromium shows a JSON response in, else the body's visible text. */
export function pageText(page) {
  return page.evaluate(() => (document.querySelector('body > pre') ?? document.body)?.innerText ?? '');
}

/** The code in the first message the SMTP sink saved in `dir`, waiting up to `ms` for it. */
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

/**
 * Fill sealgate's password form on `page` and press "Sign in", opening
 * `url` first when given. Waits for the page `until` (a URL predicate)
 * accepts; without `until`, for the next navigation, whose response it
 * returns.
 */
export async function signIn(page, { url, username, password, until }) {
  if (url) await page.goto(url, { waitUntil: 'load' });
  await page.locator('input[name="username"]').fill(username);
  await page.locator('input[name="password"]').fill(password);
  const [landed] = await Promise.all([
    until ? page.waitForURL(until, { waitUntil: 'load' }) : page.waitForNavigation({ waitUntil: 'load' }),
    page.getByRole('button', { name: 'Sign in', exact: true }).click(),
  ]);
  return landed;
}

/**
 * On sealgate's verify-signin page, enter the code e-mailed to `mailDir`
 * (waiting up to `timeoutMs` for it) and press "Confirm"; waits for the
 * page `until` (a URL predicate) accepts.
 */
export async function confirmWithMailedCode(page, { mailDir, timeoutMs, until }) {
  const code = await codeFromMail(mailDir, timeoutMs);
  await page.locator('input[name="code"]').fill(code);
  await Promise.all([
    page.waitForURL(until, { waitUntil: 'load' }),
    page.getByRole('button', { name: 'Confirm', exact: true }).click(),
  ]);
}

/** playwright-core's chromium, or a step error naming the install script. */
function playwrightChromium() {
  try {
    return require('playwright-core').chromium;
  } catch (e) {
    throw new StepError(
      `playwright-core is not installed in tests/idp/node_modules (run bash scripts/install-test-deps.sh): ${e.message}`,
    );
  }
}

/**
 * Run `story` in a fresh headless chromium and report it as one JSON line.
 *
 * `options` are `parseArgs`'s (`timeoutMs`, `chromium`); `settings` may give
 * `viewport` (the page's size), `result` (the report's starting members),
 * `watchdog` (the whole run's bound, in multiples of `timeoutMs`; default 8)
 * and `failureScreenshot` (where to save the page when a step fails).
 * Every wait in the page is bounded by `timeoutMs`.
 *
 * `story({ page, context, step, result })` names each step with
 * `step(name)` before taking it and records what it saw in `result`.
 */
export async function runInBrowser(script, options, settings, story) {
  const { timeoutMs } = options;
  const { viewport, watchdog = 8, failureScreenshot } = settings;
  const result = { ok: false, ...settings.result };
  let step = 'launch chromium';
  let browser;
  let page;

  // The whole run: every step is bounded, this is the backstop.
  const backstop = setTimeout(() => {
    process.stdout.write(`${JSON.stringify({ ok: false, step: 'watchdog', error: 'the run took too long' })}\n`);
    process.stderr.write(`${script}: the run took too long; exiting\n`);
    process.exit(1);
  }, timeoutMs * watchdog);
  backstop.unref();

  try {
    browser = await playwrightChromium().launch({
      executablePath: options.chromium,
      headless: true,
      timeout: timeoutMs,
      args: CHROMIUM_ARGS,
    });
    // A fresh context: no cookies, no storage (playwright also gives the
    // browser a fresh temporary profile directory).
    const context = await browser.newContext(viewport ? { viewport } : {});
    context.setDefaultTimeout(timeoutMs);
    context.setDefaultNavigationTimeout(timeoutMs);
    page = await context.newPage();
    await story({
      page,
      context,
      result,
      step: (name) => {
        step = name;
      },
    });
    result.ok = true;
  } catch (e) {
    result.ok = false;
    result.step = step;
    result.error = e instanceof StepError ? e.message : String(e?.stack ?? e);
    result.url = page ? page.url() : null;
    if (page && failureScreenshot) {
      try {
        mkdirSync(dirname(failureScreenshot), { recursive: true });
        await page.screenshot({ path: failureScreenshot, fullPage: true, timeout: 5000 });
        result.failure_screenshot = failureScreenshot;
      } catch {
        // best effort
      }
    }
  } finally {
    if (browser) {
      await bounded(browser.close(), timeoutMs, 'closing the browser').catch((e) => {
        process.stderr.write(`${script}: ${e.message}\n`);
      });
    }
  }

  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (!result.ok) {
    process.stderr.write(`${script}: failed at step "${result.step}": ${result.error} (page: ${result.url})\n`);
    process.exitCode = 1;
  }
  clearTimeout(backstop);
}

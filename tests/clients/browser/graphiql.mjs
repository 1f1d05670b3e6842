// GraphiQL in headless Chromium with no internet: the page at GET /graphql must be served
// entirely by Amity (SPEC 12.2), so every request that leaves 127.0.0.1 is blocked, and one
// being attempted fails the check. Then: the docs explorer shows the schema's root types, a
// query typed into the editor runs, and its result shows in the response pane.
//
//   AMITY_TEST_URL=http://127.0.0.1:8080 \
//   AMITY_TEST_SCREENSHOT=/tmp/graphiql.png \
//   [AMITY_TEST_CHROMIUM=/usr/bin/chromium] node browser/graphiql.mjs
//
// Written against GraphiQL 3 (CodeMirror 5 editors, its aria-labels). Exits 0 on success,
// 1 with a message on any failure.

import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

import { chromium } from 'playwright-core';

const BASE_URL = (process.env.AMITY_TEST_URL ?? '').replace(/\/+$/, '');
const SCREENSHOT = process.env.AMITY_TEST_SCREENSHOT;
const EXECUTABLE = process.env.AMITY_TEST_CHROMIUM || '/usr/bin/chromium';
const STEP_TIMEOUT_MS = 15_000;

const QUERY = '{ __typename }';
const EXPECTED = /"__typename"\s*:\s*"Query"/;

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Whether a request may go out: only to this machine (data: and blob: never leave it). */
function allowed(url) {
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  if (parsed.protocol === 'data:' || parsed.protocol === 'blob:' || parsed.protocol === 'about:') return true;
  return LOOPBACK.has(parsed.hostname);
}

function fail(message) {
  const error = new Error(message);
  error.expected = true;
  throw error;
}

async function main() {
  if (!BASE_URL) fail('AMITY_TEST_URL is not set (e.g. http://127.0.0.1:8080)');
  if (!SCREENSHOT) fail('AMITY_TEST_SCREENSHOT is not set (the path of the screenshot to write)');
  mkdirSync(dirname(SCREENSHOT), { recursive: true });

  const blocked = [];
  const consoleErrors = [];
  const browser = await chromium.launch({
    executablePath: EXECUTABLE,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  let page;
  try {
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(STEP_TIMEOUT_MS);

    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (allowed(url)) return route.continue();
      blocked.push(url);
      return route.abort('blockedbyclient');
    });
    page.on('websocket', (ws) => {
      if (!allowed(ws.url())) blocked.push(ws.url());
    });
    page.on('console', (msg) => {
      if (msg.type() === 'error') consoleErrors.push(msg.text());
    });
    page.on('pageerror', (error) => consoleErrors.push(`uncaught: ${error.message}`));

    const report = (what) => {
      const lines = [what];
      if (blocked.length) lines.push(`requests off this machine (blocked): ${blocked.join(', ')}`);
      if (consoleErrors.length) lines.push(`console errors:\n  ${consoleErrors.join('\n  ')}`);
      return lines.join('\n');
    };

    // A normal navigation: Chromium sends Accept: text/html, so the server answers with GraphiQL.
    const response = await page.goto(`${BASE_URL}/graphql`, { waitUntil: 'load' });
    if (!response || !response.ok()) fail(report(`GET /graphql answered ${response?.status()}`));
    const type = response.headers()['content-type'] ?? '';
    if (!type.includes('text/html')) fail(report(`GET /graphql answered ${type}, not HTML`));

    try {
      await page.waitForSelector('.graphiql-container', { state: 'visible' });
      await page.waitForSelector('.graphiql-query-editor', { state: 'visible' });
    } catch {
      fail(report('GraphiQL did not render (.graphiql-container / .graphiql-query-editor never appeared)'));
    }

    // The docs explorer lists the root types once the schema has been introspected.
    const docsButton = page.locator('button[aria-label="Show Documentation Explorer"]');
    try {
      await docsButton.click();
      const explorer = page.locator('.graphiql-doc-explorer');
      await explorer.waitFor({ state: 'visible' });
      for (const root of ['Query', 'Mutation', 'Subscription']) {
        await explorer.getByText(root, { exact: true }).first().waitFor({ state: 'visible' });
      }
    } catch (error) {
      fail(report(`the docs explorer did not show the root types Query, Mutation, Subscription: ${error.message}`));
    }

    // Type the query into the editor (replacing the default text).
    const editor = page.locator('.graphiql-query-editor .CodeMirror').first();
    await editor.click();
    await page.keyboard.press('ControlOrMeta+a');
    await page.keyboard.press('Backspace');
    await page.keyboard.type(QUERY, { delay: 20 });
    await page.keyboard.press('Escape'); // close any autocomplete popup
    const typed = await editorValue(page);
    if (typed !== null && typed.replace(/\s+/g, ' ').trim() !== QUERY) {
      // Auto-closed brackets can leave extra characters; put exactly the query there.
      console.log(`the editor shows ${JSON.stringify(typed)} after typing; setting ${QUERY} instead`);
      await page.evaluate((q) => {
        document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror.setValue(q);
      }, QUERY);
    }

    // GraphiQL takes an edit 100 ms later (debounced), storing the query in localStorage; a
    // click before that is lost about one time in four. Wait for it as a person would.
    const taken = await page
      .waitForFunction((q) => localStorage.getItem('graphiql:query') === q, QUERY, { timeout: 3000 })
      .then(() => true)
      .catch(() => false);
    if (!taken) await page.waitForTimeout(1000); // storage unavailable: wait a little instead

    const run = page.locator('button[aria-label="Execute query (Ctrl-Enter)"]');
    try {
      await run.click();
    } catch (error) {
      fail(report(`the run button (aria-label "Execute query (Ctrl-Enter)") could not be clicked: ${error.message}`));
    }

    try {
      await page.waitForFunction(
        (source) => {
          const pane = document.querySelector('.graphiql-response');
          return pane && new RegExp(source).test(pane.textContent ?? '');
        },
        EXPECTED.source,
        { timeout: STEP_TIMEOUT_MS },
      );
    } catch {
      const shown = await page
        .locator('.graphiql-response')
        .textContent()
        .catch(() => null);
      fail(report(`the response pane never showed ${EXPECTED}; it shows: ${JSON.stringify(shown)}`));
    }

    if (blocked.length) fail(report('GraphiQL tried to load something from off this machine'));

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    console.log(`GraphiQL OK: docs explorer, ${QUERY} ran; screenshot ${SCREENSHOT}`);
    if (consoleErrors.length) console.log(`console errors (not fatal):\n  ${consoleErrors.join('\n  ')}`);
  } catch (error) {
    if (page && SCREENSHOT) {
      await page.screenshot({ path: SCREENSHOT, fullPage: true }).catch(() => {});
      console.error(`screenshot of the failure: ${SCREENSHOT}`);
    }
    throw error;
  } finally {
    await browser.close();
  }
}

/** The query editor's text through CodeMirror 5's API, or null if it is not CodeMirror 5. */
function editorValue(page) {
  return page.evaluate(() => {
    const element = document.querySelector('.graphiql-query-editor .CodeMirror');
    return element && element.CodeMirror ? element.CodeMirror.getValue() : null;
  });
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`GraphiQL check FAILED: ${error.expected ? error.message : error.stack}`);
    process.exit(1);
  },
);

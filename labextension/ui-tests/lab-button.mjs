/**
 * Browser test of the Dockerize button, driven by tests/browser/test_lab_button.py.
 *
 * Uses playwright-core with Debian's Chromium (never a downloaded browser). Reads its
 * settings from the environment:
 *   DM_LAB_URL        base URL of a running JupyterLab, e.g. http://127.0.0.1:8899
 *   DM_LAB_TOKEN      its token
 *   DM_NOTEBOOK       notebook path relative to the server root (heart_roc.ipynb)
 *   DM_TAG            the image tag to type into the dialog (unique per test run)
 *   DM_SCREENSHOT     where to save the screenshot of the success summary
 *   DM_RUN_AFTER      "1" to tick "Run after build" and wait for the run's figures
 *   DM_TIMEOUT_S      overall budget for the build (+ run), default 900
 *   CHROMIUM          browser binary, default /usr/bin/chromium
 * Prints one line "DM_RESULT {json}" and exits 0 when every check passed.
 */
import { chromium } from 'playwright-core';

const env = process.env;
const base = (env.DM_LAB_URL || '').replace(/\/$/, '');
const token = env.DM_LAB_TOKEN || '';
const notebook = env.DM_NOTEBOOK || 'heart_roc.ipynb';
const tag = env.DM_TAG;
const screenshot = env.DM_SCREENSHOT;
const runAfter = env.DM_RUN_AFTER === '1';
const budget = Number(env.DM_TIMEOUT_S || 900) * 1000;

const result = { checks: [], stage: null, headline: null, summary: null, error: null };
function check(name, ok, detail) {
  result.checks.push({ name, ok: !!ok, detail: detail ?? null });
  console.log(`${ok ? 'PASS' : 'FAIL'} ${name}${detail ? `: ${detail}` : ''}`);
  if (!ok) {
    throw new Error(`check failed: ${name}${detail ? `: ${detail}` : ''}`);
  }
}
function log(msg) {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage']
});
const page = await browser.newPage({ viewport: { width: 1500, height: 900 } });
const consoleErrors = [];
page.on('console', msg => {
  if (msg.type() === 'error') {
    consoleErrors.push(msg.text());
  }
});
page.on('pageerror', err => consoleErrors.push(`pageerror: ${err.message}`));

// The toolbar button is a <jp-button> web component carrying title and aria-disabled.
const button = '.jp-NotebookPanel-toolbar .jp-dockermagic-button .jp-ToolbarButtonComponent';
const panel = '.jp-dockermagic-panel';
let exitCode = 1;
try {
  log(`opening ${notebook}`);
  await page.goto(`${base}/lab/tree/${encodeURIComponent(notebook)}?reset&token=${encodeURIComponent(token)}`);
  await page.waitForSelector('.jp-NotebookPanel', { timeout: 120000 });
  await page.waitForSelector(button, { timeout: 60000 });
  check('toolbar has the Dockerize button', true);

  // Enabled as soon as the kernel is there (needs notifyCommandChanged).
  await page.waitForSelector(`${button}[aria-disabled="false"]`, { timeout: 120000 });
  const title = await page.getAttribute(button, 'title');
  check('button enabled with a kernel', /docker image/i.test(title || ''), title);

  // The command is in the command palette.
  await page.keyboard.press('Control+Shift+C');
  await page.waitForSelector('.lm-CommandPalette-input, #command-palette input', { timeout: 10000 });
  await page.keyboard.type('Dockerize');
  const paletteItem = page.locator('.lm-CommandPalette-item[data-command="dockermagic:dockerize"]');
  await paletteItem.first().waitFor({ timeout: 10000 });
  check('command palette lists Dockerize', (await paletteItem.count()) > 0);
  await page.keyboard.press('Escape');
  await page.click('.jp-NotebookPanel .jp-Cell');

  log('clicking Dockerize');
  await page.click(button);
  await page.waitForSelector('.jp-Dialog input.jp-dockermagic-tag', { timeout: 30000 });
  const prefilled = await page.inputValue('.jp-Dialog input.jp-dockermagic-tag');
  const expected = notebook.replace(/\.ipynb$/, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');
  check('tag pre-filled from the notebook name', prefilled === expected, prefilled);

  // An invalid tag is refused with a reason.
  await page.fill('.jp-Dialog input.jp-dockermagic-tag', 'Not A Tag');
  const reason = await page.textContent('.jp-Dialog .jp-dockermagic-dialog-error');
  check('invalid tag explained in the dialog', /lowercase|spaces|valid/i.test(reason || ''), reason);

  await page.fill('.jp-Dialog input.jp-dockermagic-tag', tag);
  await page.selectOption('.jp-Dialog select.jp-dockermagic-form-select', 'script');
  await page.setChecked('.jp-Dialog input.jp-dockermagic-run-after', runAfter);
  await page.click('.jp-Dialog .jp-mod-accept');
  await page.waitForSelector(panel, { timeout: 30000 });
  check('progress panel opened', true);

  // Live progress: steps appear while building.
  const t0 = Date.now();
  await page.waitForFunction(
    sel => {
      const p = document.querySelector(sel);
      return p && (p.querySelector('.jp-dockermagic-step') || ['built', 'ran', 'failed'].includes(p.dataset.dmStage));
    },
    panel,
    { timeout: budget }
  );
  const sawSteps = (await page.locator(`${panel} .jp-dockermagic-step`).count()) > 0;
  log(`first progress after ${((Date.now() - t0) / 1000).toFixed(1)}s (steps: ${sawSteps})`);

  // A second click during the build starts nothing: no dialog, still one panel.
  const stage = await page.getAttribute(panel, 'data-dm-stage');
  if (stage === 'building') {
    await page.click(button);
    await page.waitForTimeout(1000);
    const dialogs = await page.locator('.jp-Dialog').count();
    const panels = await page.locator(panel).count();
    check('second click during a build starts nothing', dialogs === 0 && panels === 1, `dialogs=${dialogs} panels=${panels}`);
  } else {
    log(`build already finished (${stage}) before the second-click check`);
  }

  const final = runAfter ? ['ran', 'failed'] : ['built', 'failed'];
  await page.waitForFunction(
    ([sel, stages]) => {
      const p = document.querySelector(sel);
      return p && stages.includes(p.dataset.dmStage);
    },
    [panel, final],
    { timeout: budget, polling: 500 }
  );
  log(`finished after ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  result.stage = await page.getAttribute(panel, 'data-dm-stage');
  result.headline = await page.textContent(`${panel} .jp-dockermagic-headline`);
  if (result.stage === 'failed') {
    result.error = await page.locator(`${panel} .jp-dockermagic-error`).innerText();
  }
  const failedOp = await page.getAttribute(panel, 'data-dm-failed-op');
  const built = (await page.locator(`${panel} .jp-dockermagic-summary`).count()) > 0;
  check('build succeeded', built && failedOp !== 'dockerize', built ? result.headline : result.error);
  if (runAfter) {
    check('run succeeded', result.stage === 'ran', result.stage === 'ran' ? result.headline : result.error);
  }

  const summaryTag = await page.textContent(`${panel} .jp-dockermagic-fact-tag`);
  const imageId = await page.textContent(`${panel} .jp-dockermagic-fact-image-id`);
  result.summary = { tag: summaryTag, imageId };
  check('summary names the tag', (summaryTag || '').startsWith(tag), summaryTag);
  check('summary shows the image id', /^[0-9a-f]{12}$/.test(imageId || ''), imageId);
  check('summary offers Run', (await page.locator(`${panel} .jp-dockermagic-run-button`).count()) > 0);

  if (runAfter) {
    const runTitle = await page.textContent(`${panel} .jp-dockermagic-run .jp-dockermagic-section-title`);
    check('run exited with code 0', /exit code 0/.test(runTitle || ''), runTitle);
    const figures = await page.locator(`${panel} .jp-dockermagic-figure img`).count();
    result.summary.figures = figures;
    check('run shows its figures', figures > 0, `${figures} figure(s)`);
    await page.locator(`${panel} .jp-dockermagic-figure img`).first().evaluate(img => img.decode());
  }

  if (screenshot) {
    await page.screenshot({ path: screenshot });
    log(`screenshot saved to ${screenshot}`);
  }

  // A kernel that cannot import dockermagic: the panel says how to install it.
  await page.click('.jp-NotebookPanel .jp-Cell');
  await page.keyboard.press('Escape');
  await page.keyboard.press('a');
  await page.keyboard.press('Enter');
  await page.keyboard.insertText("import sys; sys.modules['dockermagic.lab'] = None  # hide dockermagic");
  await page.keyboard.press('Shift+Enter');
  await page.waitForFunction(
    () => Array.from(document.querySelectorAll('.jp-CodeCell .jp-InputPrompt')).some(p => /\[\d+\]/.test(p.textContent || '')),
    undefined,
    { timeout: 60000 }
  );
  await page.click(button);
  await page.waitForSelector('.jp-Dialog input.jp-dockermagic-tag', { timeout: 30000 });
  await page.setChecked('.jp-Dialog input.jp-dockermagic-run-after', false);
  await page.click('.jp-Dialog .jp-mod-accept');
  await page.waitForSelector(`${panel}[data-dm-stage="failed"] .jp-dockermagic-error`, { timeout: 60000 });
  const missing = await page.locator(`${panel} .jp-dockermagic-error`).innerText();
  check(
    'missing dockermagic explained with %pip install',
    (await page.locator(`${panel} .jp-dockermagic-error-not-installed`).count()) === 1 && missing.includes('%pip install dockermagic'),
    missing.replace(/\s+/g, ' ')
  );

  // Without a kernel the button is disabled and says why.
  await page.click('.jp-NotebookPanel .jp-Cell');
  await page.click('.lm-MenuBar-item:has-text("Kernel")');
  await page.click('.lm-Menu-item[data-command="kernelmenu:shutdown"]');
  const confirm = page.locator('.jp-Dialog .jp-mod-accept');
  if (await confirm.count()) {
    await confirm.click();
  }
  await page.waitForSelector(`${button}[aria-disabled="true"]`, { timeout: 60000 });
  const disabledTitle = await page.getAttribute(button, 'title');
  check('button disabled without a kernel, with a tooltip', /kernel/i.test(disabledTitle || ''), disabledTitle);

  const relevant = consoleErrors.filter(e => /dockermagic/i.test(e));
  check('no dockermagic errors in the browser console', relevant.length === 0, relevant.join(' | ') || undefined);
  exitCode = 0;
} catch (err) {
  result.error = result.error || String(err && err.message ? err.message : err);
  console.log(`ERROR ${result.error}`);
  try {
    const text = await page.locator(panel).first().innerText({ timeout: 2000 });
    console.log(`--- panel text ---\n${text}\n---`);
  } catch {
    // no panel
  }
  if (env.DM_FAILURE_SCREENSHOT) {
    await page.screenshot({ path: env.DM_FAILURE_SCREENSHOT }).catch(() => undefined);
    console.log(`failure screenshot: ${env.DM_FAILURE_SCREENSHOT}`);
  }
  if (consoleErrors.length) {
    console.log(`browser console errors:\n${consoleErrors.slice(-20).join('\n')}`);
  }
} finally {
  result.ok = exitCode === 0;
  console.log(`DM_RESULT ${JSON.stringify(result)}`);
  await browser.close();
}
process.exit(exitCode);

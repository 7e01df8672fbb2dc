/**
 * Browser test of the Dockerize button and panel, driven by tests/browser/test_lab_button.py
 * against a real JupyterLab, kernel and Docker engine.
 *
 * Uses playwright-core with Debian's Chromium (never a downloaded browser). Settings come
 * from the environment:
 *   DM_LAB_URL, DM_LAB_TOKEN   the JupyterLab server (started with expose_app_in_browser)
 *   DM_NOTEBOOK                the notebook that builds and runs (heart_roc.ipynb)
 *   DM_FAIL_NOTEBOOK           a notebook whose program fails when it runs
 *   DM_CANCEL_NOTEBOOK         a notebook whose build is cancelled during its install step
 *   DM_TAG                     the tag prefix (unique per test run; "-fail", "-cancel" added)
 *   DM_DOCS                    where to save the screenshots (lab-*.png)
 *   DM_TIMEOUT_S               budget of each build (+ run), default 900
 *   CHROMIUM                   browser binary, default /usr/bin/chromium
 * Prints "PASS name" / "FAIL name" per check, "DM_CHECKPOINT {json}" where the Python test
 * looks at the engine (it answers with one JSON line on stdin), and finally
 * "DM_RESULT {json}"; exits 0 when every check passed.
 */
import { createInterface } from 'node:readline';
import path from 'node:path';

import { chromium } from 'playwright-core';

const env = process.env;
const base = (env.DM_LAB_URL || '').replace(/\/$/, '');
const token = env.DM_LAB_TOKEN || '';
const notebook = env.DM_NOTEBOOK || 'heart_roc.ipynb';
const failNotebook = env.DM_FAIL_NOTEBOOK;
const cancelNotebook = env.DM_CANCEL_NOTEBOOK;
const tag = env.DM_TAG;
const docs = env.DM_DOCS;
const budget = Number(env.DM_TIMEOUT_S || 900) * 1000;

const result = { checks: [], summary: {}, error: null, screenshots: [] };
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

// One JSON line from the Python test per checkpoint.
const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
async function checkpoint(name, data = {}) {
  console.log(`DM_CHECKPOINT ${JSON.stringify({ name, ...data })}`);
  const { value, done } = await stdin.next();
  return done ? {} : JSON.parse(value);
}

const browser = await chromium.launch({
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-dev-shm-usage'
  ]
});
const page = await browser.newPage({ viewport: { width: 1800, height: 900 } });
const consoleErrors = [];
page.on('console', msg => {
  if (msg.type() === 'error') {
    consoleErrors.push(msg.text());
  }
});
page.on('pageerror', err => consoleErrors.push(`pageerror: ${err.message}`));

// The visible notebook and its toolbar button (a <jp-button> carrying title and aria-disabled).
const nbPanel = '.jp-NotebookPanel:not(.lm-mod-hidden)';
const button = `${nbPanel} .jp-NotebookPanel-toolbar .jp-dockermagic-button .jp-ToolbarButtonComponent`;
const panel = '.jp-dockermagic-view:not(.lm-mod-hidden) .jp-dockermagic-panel';
const dialog = '.jp-Dialog';

async function screenshot(name) {
  if (!docs) {
    return;
  }
  const file = path.join(docs, name);
  await page.screenshot({ path: file });
  result.screenshots.push(file);
  log(`screenshot ${file}`);
}

async function command(id, args = {}) {
  await page.evaluate(
    ([c, a]) => window.jupyterapp.commands.execute(c, a),
    [id, args]
  );
}

/** Close every tab and open `nb`; resolves when its Dockerize button is enabled. */
async function openNotebook(nb) {
  log(`opening ${nb}`);
  await command('docmanager:save-all');
  await command('application:close-all');
  await page.waitForFunction(
    () => !document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)'),
    undefined,
    {
      timeout: 30000
    }
  );
  await command('docmanager:open', { path: nb });
  await page.waitForSelector(`${nbPanel}`, { timeout: 60000 });
  await page.waitForSelector(`${button}[aria-disabled="false"]`, {
    timeout: 120000
  });
}

async function stage() {
  return page.getAttribute(panel, 'data-dm-stage');
}

async function waitForStage(stages, timeout = budget) {
  await page.waitForFunction(
    ([sel, wanted]) => {
      const p = document.querySelector(sel);
      return p && wanted.includes(p.dataset.dmStage);
    },
    [panel, stages],
    { timeout, polling: 250 }
  );
  return stage();
}

/** Click Dockerize and fill in the dialog; `before` runs just before Build is clicked. */
async function dockerize(imageTag, runAfter, before) {
  await page.click(button);
  await page.waitForSelector(`${dialog} input.jp-dockermagic-tag`, {
    timeout: 30000
  });
  await page.fill(`${dialog} input.jp-dockermagic-tag`, imageTag);
  await page.selectOption(
    `${dialog} select.jp-dockermagic-form-select`,
    'script'
  );
  await page.fill(`${dialog} input.jp-dockermagic-port`, '');
  await page.setChecked(`${dialog} input.jp-dockermagic-run-after`, runAfter);
  if (before) {
    await before();
  }
  await page.click(`${dialog} .jp-mod-accept`);
  await page.waitForSelector(panel, { timeout: 30000 });
}

async function phaseLabels() {
  return page.$$eval(`${panel} .jp-dockermagic-phase`, lis =>
    lis.map(
      li =>
        `${li.querySelector('.jp-dockermagic-phase-label').textContent} ${li.querySelector('.jp-dockermagic-time').textContent}`
    )
  );
}

async function runCellsAndWait() {
  await command('notebook:run-all-cells');
  await page.waitForFunction(
    sel => {
      const prompts = Array.from(
        document.querySelectorAll(`${sel} .jp-CodeCell .jp-InputPrompt`)
      );
      return (
        prompts.length > 0 &&
        prompts.every(p => /\[\d+\]/.test(p.textContent || ''))
      );
    },
    nbPanel,
    { timeout: 180000 }
  );
}

let exitCode = 1;
try {
  log(`loading JupyterLab`);
  await page.goto(`${base}/lab?reset&token=${encodeURIComponent(token)}`);
  await page.waitForFunction(
    () =>
      window.jupyterapp &&
      window.jupyterapp.commands.hasCommand('docmanager:open'),
    undefined,
    {
      timeout: 120000
    }
  );

  // ---- 1. The button, the palette and the dialog ------------------------------------
  await openNotebook(notebook);
  check('toolbar has the Dockerize button', true);
  const title = await page.getAttribute(button, 'title');
  check(
    'button enabled with a kernel',
    /docker image/i.test(title || ''),
    title
  );

  // Through its command, and typed into its own input: keys typed before the palette has the
  // focus would reach the notebook (in command mode "r" makes a cell raw). The modal palette
  // closes when the notebook takes the focus back (as its kernel starts): then open it again.
  const paletteInput = page.locator('.lm-CommandPalette-input').first();
  const paletteItem = page.locator(
    '.lm-CommandPalette-item[data-command="dockermagic:dockerize"]'
  );
  let listed = false;
  for (let attempt = 0; attempt < 5 && !listed; attempt++) {
    await command('apputils:activate-command-palette');
    try {
      await paletteInput.fill('Dockerize', { timeout: 3000 });
      await paletteItem.first().waitFor({ timeout: 3000 });
      listed = true;
    } catch {
      log(`the palette closed before it listed Dockerize (${attempt + 1})`);
    }
  }
  check('command palette lists Dockerize', listed);
  await page.keyboard.press('Escape');
  await page.click(`${nbPanel} .jp-Cell`);

  await page.click(button);
  await page.waitForSelector(`${dialog} input.jp-dockermagic-tag`, {
    timeout: 30000
  });
  const prefilled = await page.inputValue(`${dialog} input.jp-dockermagic-tag`);
  const expected = notebook
    .replace(/\.ipynb$/, '')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  check(
    'tag pre-filled from the notebook name',
    prefilled === expected,
    prefilled
  );
  const forms = await page.$$eval(
    `${dialog} select.jp-dockermagic-form-select option`,
    os => os.map(o => o.value)
  );
  check(
    'dialog offers script, notebook and lab',
    forms.join(',') === 'script,notebook,lab',
    forms.join(',')
  );

  await page.fill(`${dialog} input.jp-dockermagic-tag`, 'heart roc');
  let reason = await page.textContent(`${dialog} .jp-dockermagic-dialog-error`);
  check(
    'a space in the tag is named, with its position',
    /space at position 6/.test(reason || ''),
    reason
  );
  check(
    'Build is disabled while the tag is invalid',
    await page.isDisabled(`${dialog} .jp-mod-accept`)
  );
  await page.fill(`${dialog} input.jp-dockermagic-tag`, 'heart!roc');
  reason = await page.textContent(`${dialog} .jp-dockermagic-dialog-error`);
  check(
    'a wrong character in the tag is named',
    /"!" at position 6 is not allowed/.test(reason || ''),
    reason
  );
  await page.keyboard.press('Enter');
  await page.waitForTimeout(300);
  check(
    'Enter does not build with an invalid tag',
    (await page.locator(dialog).count()) === 1
  );
  await page.fill(`${dialog} input.jp-dockermagic-tag`, 'heart-roc');
  check(
    'Build is enabled again once the tag is valid',
    !(await page.isDisabled(`${dialog} .jp-mod-accept`))
  );
  await page.click(`${dialog} .jp-mod-reject`);

  // ---- 2. A build and a run that succeed --------------------------------------------
  await dockerize(tag, true);
  const t0 = Date.now();
  await page.waitForSelector(`${panel} .jp-dockermagic-phase`, {
    timeout: 2000
  });
  const first = await phaseLabels();
  check(
    'the panel shows a phase at once (no empty "Starting")',
    first.length > 0,
    first.join(' / ')
  );

  if ((await stage()) === 'building') {
    try {
      await page.click(button, { timeout: 5000 });
    } catch {
      // with the panel split beside it, a narrow notebook toolbar may move the button into
      // its overflow menu: the click is the button's command either way
      log(
        'the Dockerize button is in the toolbar overflow: running its command'
      );
      await command('dockermagic:dockerize');
    }
    await page.waitForTimeout(800);
    const dialogs = await page.locator(dialog).count();
    const panels = await page.locator('.jp-dockermagic-panel').count();
    check(
      'second click during a build starts nothing',
      dialogs === 0 && panels === 1,
      `dialogs=${dialogs} panels=${panels}`
    );
  }
  const final = await waitForStage(['ran', 'failed']);
  log(`build and run took ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  if (final === 'failed') {
    result.error = await page
      .locator(`${panel} .jp-dockermagic-error`)
      .innerText();
  }
  check(
    'build and run succeeded',
    final === 'ran',
    final === 'ran'
      ? await page.textContent(`${panel} .jp-dockermagic-headline`)
      : result.error
  );
  const summaryTag = await page.textContent(
    `${panel} .jp-dockermagic-fact-tag`
  );
  const imageId = await page.textContent(
    `${panel} .jp-dockermagic-fact-image-id`
  );
  result.summary = { tag: summaryTag, imageId };
  check(
    'summary names the tag',
    (summaryTag || '').startsWith(tag),
    summaryTag
  );
  check(
    'summary shows the image id',
    /^[0-9a-f]{12}$/.test(imageId || ''),
    imageId
  );
  check(
    'summary offers Run',
    (await page.locator(`${panel} .jp-dockermagic-run-button`).count()) > 0
  );
  const runTitle = await page.textContent(
    `${panel} .jp-dockermagic-run .jp-dockermagic-section-title`
  );
  check('run exited with code 0', /exit code 0/.test(runTitle || ''), runTitle);

  const phases = await phaseLabels();
  const wanted = [
    'Saving the notebook',
    'Reading the notebook',
    'Finding the requirements',
    'Writing the build context',
    'Sending the context to the engine',
    'Building',
    'Running'
  ];
  const missing = wanted.filter(w => !phases.some(p => p.startsWith(w)));
  check(
    'each phase is shown with its time',
    missing.length === 0 && phases.every(p => /\d\.\ds|\dm \d\ds$/.test(p)),
    phases.join(' / ')
  );
  const wall = await page.textContent(`${panel} .jp-dockermagic-wall`);
  check(
    'the wall time of the build is shown',
    /^Build: [\d.]+s in all$|^Build: \d+m \d\ds in all$/.test(wall || ''),
    wall
  );

  const figures = await page
    .locator(`${panel} .jp-dockermagic-figure img`)
    .count();
  result.summary.figures = figures;
  check('run shows its figures', figures > 0, `${figures} figure(s)`);
  await page
    .locator(`${panel} .jp-dockermagic-figure img`)
    .first()
    .evaluate(img => img.decode());
  await screenshot('lab-succeeded.png');
  await screenshot('lab-button.png');

  await page.click(`${panel} details.jp-dockermagic-requirements > summary`);
  const origins = await page.$$eval(`${panel} .jp-dockermagic-origin`, tds =>
    tds.map(td => td.textContent)
  );
  check(
    'requirements show where they came from',
    origins.some(o => /^import sklearn in cell \d+$/.test(o || '')),
    origins.slice(0, 4).join(' / ')
  );

  await page.click(`${panel} .jp-dockermagic-figure img`);
  await page.waitForSelector('.jp-dockermagic-lightbox img', { timeout: 5000 });
  check('a figure enlarges on click', true);
  await page.keyboard.press('Escape');
  await page.waitForSelector('.jp-dockermagic-lightbox', {
    state: 'detached',
    timeout: 5000
  });

  const outside = await page
    .locator(`${panel} .jp-dockermagic-fact-build-context .jp-dockermagic-copy`)
    .count();
  check(
    'the build context (outside the server root) has a copy button',
    outside === 1
  );

  const files = await page.$$eval(
    `${panel} .jp-dockermagic-files a.jp-dockermagic-link`,
    as => as.map(a => a.dataset.path)
  );
  result.summary.files = files;
  const csv = files.find(f => f.endsWith('metrics.csv'));
  check('the run lists metrics.csv as a link', !!csv, files.join(' / '));
  await page.click(`${panel} .jp-dockermagic-files a[data-path="${csv}"]`);
  await page.waitForSelector('.jp-CSVViewer', { timeout: 30000 });
  check('metrics.csv opens in the CSV viewer', true);
  const png = files.find(f => f.endsWith('.png'));
  await page.click(`${panel} .jp-dockermagic-files a[data-path="${png}"]`);
  await page.waitForSelector('.jp-ImageViewer img', { timeout: 30000 });
  check('a figure opens in the image viewer', true);
  const outputs = await page.getAttribute(
    `${panel} .jp-dockermagic-outputs a.jp-dockermagic-link`,
    'data-path'
  );
  await page.click(`${panel} .jp-dockermagic-outputs a.jp-dockermagic-link`);
  await page.waitForFunction(
    folder => {
      const crumbs = document.querySelector('.jp-FileBrowser .jp-BreadCrumbs');
      return (
        crumbs && (crumbs.textContent || '').includes(folder.split('/').pop())
      );
    },
    outputs,
    { timeout: 30000 }
  );
  check(
    'the outputs folder opens in the file browser',
    outputs.startsWith('dockermagic-outputs/'),
    outputs
  );

  // ---- 3. The dialog remembers the options across a reload --------------------------
  await page.waitForTimeout(2000); // the workspace (and its state database) is saved with a delay
  await page.goto(`${base}/lab?token=${encodeURIComponent(token)}`);
  await page.waitForFunction(
    () =>
      window.jupyterapp &&
      window.jupyterapp.commands.hasCommand('docmanager:open'),
    undefined,
    {
      timeout: 120000
    }
  );
  await openNotebook(notebook);
  await page.click(button);
  await page.waitForSelector(`${dialog} input.jp-dockermagic-tag`, {
    timeout: 30000
  });
  const remembered = await page.inputValue(
    `${dialog} input.jp-dockermagic-tag`
  );
  const rememberedRun = await page.isChecked(
    `${dialog} input.jp-dockermagic-run-after`
  );
  check(
    'the dialog remembers the last options after a reload',
    remembered === tag && rememberedRun,
    `${remembered}, run after: ${rememberedRun}`
  );
  await page.click(`${dialog} .jp-mod-reject`);

  // ---- 4. A run that fails ----------------------------------------------------------
  if (failNotebook) {
    await openNotebook(failNotebook);
    await dockerize(`${tag}-fail`, true);
    const failed = await waitForStage(['ran', 'failed']);
    const op = await page.getAttribute(panel, 'data-dm-failed-op');
    const box = await page
      .locator(`${panel} .jp-dockermagic-error`)
      .innerText()
      .catch(() => '');
    check(
      'a failing program ends in the failed state',
      failed === 'failed' && op === 'run',
      `${failed} ${op}: ${box.replace(/\s+/g, ' ').slice(0, 300)}`
    );
    check(
      'the failure names the error',
      /ValueError/.test(box),
      box.replace(/\s+/g, ' ').slice(0, 300)
    );
    await screenshot('lab-failed.png');
  }

  // ---- 5. A build cancelled during its install step ---------------------------------
  if (cancelNotebook) {
    await openNotebook(cancelNotebook);
    // The notebook sets a new index setting in the kernel: the install step cannot come from the cache.
    await runCellsAndWait();
    await dockerize(`${tag}-cancel`, false, () =>
      checkpoint('cancel-start', { tag: `${tag}-cancel` })
    );
    await page.waitForFunction(
      sel => {
        const p = document.querySelector(sel);
        const step =
          p &&
          Array.from(
            p.querySelectorAll(
              '.jp-dockermagic-step-running .jp-dockermagic-step-instruction'
            )
          );
        return (
          (step && step.some(s => /pip install/.test(s.textContent || ''))) ||
          (p && p.dataset.dmStage !== 'building')
        );
      },
      panel,
      { timeout: budget, polling: 200 }
    );
    const during = await stage();
    check(
      'the install step of the build to cancel runs',
      during === 'building',
      during === 'building'
        ? undefined
        : (await page.locator(panel).innerText())
            .replace(/\s+/g, ' ')
            .slice(0, 600)
    );
    log('the install step is running');
    await screenshot('lab-running.png');

    // Updates keep what the user did: a collapsed <details> stays collapsed, a selection stays.
    await page.evaluate(sel => {
      const p = document.querySelector(sel);
      const steps = p.querySelector('details.jp-dockermagic-build');
      steps.open = false;
      steps.dataset.dmMark = 'user';
      const text = p.querySelector('.jp-dockermagic-notebook').firstChild;
      const range = document.createRange();
      range.selectNodeContents(text);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
    }, panel);
    const before = await page.textContent(
      `${panel} .jp-dockermagic-phase.jp-mod-running .jp-dockermagic-time`
    );
    await page.waitForTimeout(2200);
    const kept = await page.evaluate(sel => {
      const p = document.querySelector(sel);
      const steps = p.querySelector('details.jp-dockermagic-build');
      return {
        mark: steps && steps.dataset.dmMark,
        open: steps && steps.open,
        selection: window.getSelection().toString(),
        time: p.querySelector(
          '.jp-dockermagic-phase.jp-mod-running .jp-dockermagic-time'
        )?.textContent
      };
    }, panel);
    check(
      'the running time moves between messages',
      kept.time !== before,
      `${before} -> ${kept.time}`
    );
    check(
      "updates keep the user's <details> and selection",
      kept.mark === 'user' &&
        kept.open === false &&
        kept.selection === cancelNotebook,
      JSON.stringify(kept)
    );
    await page.click(`${panel} details.jp-dockermagic-build > summary`);

    await page.click(`${panel} .jp-dockermagic-cancel-button`);
    const label = await page.textContent(`${panel} .jp-dockermagic-headline`);
    check('Cancel says it is under way', /Cancelling/.test(label || ''), label);
    const after = await waitForStage(['cancelled', 'failed', 'built'], 180000);
    const text = await page
      .locator(`${panel} .jp-dockermagic-error`)
      .innerText()
      .catch(() => '');
    check(
      'the build ends cancelled',
      after === 'cancelled',
      `${after}: ${text.replace(/\s+/g, ' ').slice(0, 300)}`
    );
    check(
      'the panel says it was cancelled',
      /Build cancelled/.test(text) && /interrupted/.test(text),
      text.replace(/\s+/g, ' ').slice(0, 300)
    );
    const stopped = await page
      .locator(`${panel} .jp-dockermagic-step-interrupted`)
      .count();
    check(
      'the running step shows as interrupted',
      stopped === 1,
      `${stopped} step(s)`
    );
    await screenshot('lab-cancelled.png');
    const engine = await checkpoint('cancelled', { tag: `${tag}-cancel` });
    check(
      'nothing of the cancelled build is left on the engine',
      engine.ok,
      engine.detail
    );
  }

  // ---- 6. A kernel without dockermagic, then no kernel ------------------------------
  await openNotebook(notebook);
  await page.click(`${nbPanel} .jp-Cell`);
  await page.keyboard.press('Escape');
  await page.keyboard.press('a');
  await page.keyboard.press('Enter');
  await page.keyboard.insertText(
    "import sys; sys.modules['dockermagic.lab'] = None  # hide dockermagic"
  );
  await page.keyboard.press('Shift+Enter');
  await page.waitForFunction(
    sel =>
      Array.from(
        document.querySelectorAll(`${sel} .jp-CodeCell .jp-InputPrompt`)
      ).some(p => /\[\d+\]/.test(p.textContent || '')),
    nbPanel,
    { timeout: 60000 }
  );
  await dockerize(tag, false);
  await page.waitForSelector(
    `${panel}[data-dm-stage="failed"] .jp-dockermagic-error`,
    { timeout: 60000 }
  );
  const missingText = await page
    .locator(`${panel} .jp-dockermagic-error`)
    .innerText();
  check(
    'missing dockermagic explained with %pip install',
    (await page
      .locator(`${panel} .jp-dockermagic-error-not-installed`)
      .count()) === 1 && missingText.includes('%pip install dockermagic'),
    missingText.replace(/\s+/g, ' ')
  );

  await page.click(`${nbPanel} .jp-Cell`);
  await command('kernelmenu:shutdown');
  const confirm = page.locator(`${dialog} .jp-mod-accept`);
  if (await confirm.count()) {
    await confirm.click();
  }
  await page.waitForSelector(`${button}[aria-disabled="true"]`, {
    timeout: 60000
  });
  const disabledTitle = await page.getAttribute(button, 'title');
  check(
    'button disabled without a kernel, with a tooltip',
    /kernel/i.test(disabledTitle || ''),
    disabledTitle
  );

  const relevant = consoleErrors.filter(e => /dockermagic/i.test(e));
  check(
    'no dockermagic errors in the browser console',
    relevant.length === 0,
    relevant.join(' | ') || undefined
  );
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
    await page
      .screenshot({ path: env.DM_FAILURE_SCREENSHOT })
      .catch(() => undefined);
    console.log(`failure screenshot: ${env.DM_FAILURE_SCREENSHOT}`);
  }
  if (consoleErrors.length) {
    console.log(
      `browser console errors:\n${consoleErrors.slice(-20).join('\n')}`
    );
  }
} finally {
  result.ok = exitCode === 0;
  console.log(`DM_RESULT ${JSON.stringify(result)}`);
  await browser.close();
}
process.exit(exitCode);

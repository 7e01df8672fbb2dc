/**
 * @jest-environment jsdom
 */

import * as fs from 'fs';
import * as path from 'path';
import * as React from 'react';
import { createRoot, Root } from 'react-dom/client';

import { IBuildProgress, KernelPayload } from '../src/protocol';
import { Action, initialState, IPanelState, reduce } from '../src/state';
import { IPanelActions, PanelView } from '../src/view';

// React's act() warns unless the environment says it is a test.
(
  globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }
).IS_REACT_ACT_ENVIRONMENT = true;

function fixture<T extends KernelPayload>(name: string): T {
  return JSON.parse(
    fs.readFileSync(path.join(__dirname, 'fixtures', `${name}.json`), 'utf8')
  );
}

const options = {
  tag: 'heart-roc',
  form: 'script' as const,
  runAfter: false,
  port: null
};

function apply(
  actions: Action[],
  state: IPanelState = initialState('examples/heart_roc.ipynb')
): IPanelState {
  return actions.reduce(reduce, state);
}

const started: Action[] = [
  { type: 'start-build', options, at: 0 },
  { type: 'saved', at: 300 },
  { type: 'started', at: 400 }
];

function snapshot(p: Partial<IBuildProgress>, at: number): Action {
  return {
    type: 'payload',
    payload: { ...fixture<IBuildProgress>('build-running'), ...p },
    at
  };
}

/** Step 1 done with a log (shown folded), step 2 running. */
function buildAt(at: number, line: string): Action {
  return snapshot(
    {
      steps: [
        {
          n: 1,
          instruction: 'RUN apt-get install',
          state: 'done',
          seconds: 1,
          log: ['Reading package lists']
        },
        {
          n: 2,
          instruction: 'RUN pip install',
          state: 'running',
          seconds: null,
          log: [line]
        }
      ],
      elapsed: at / 1000
    },
    at
  );
}

function actions(): jest.Mocked<IPanelActions> {
  return {
    run: jest.fn(),
    rebuild: jest.fn(),
    cancel: jest.fn(),
    openFolder: jest.fn(),
    openFile: jest.fn(),
    copy: jest.fn()
  };
}

let container: HTMLDivElement;
let root: Root;

function render(state: IPanelState, a: IPanelActions, now = 50_000): void {
  React.act(() =>
    root.render(<PanelView state={state} actions={a} now={() => now} />)
  );
}

function q<T extends Element = HTMLElement>(selector: string): T {
  const node = container.querySelector<T>(selector);
  if (!node) {
    throw new Error(`no ${selector} in ${container.innerHTML}`);
  }
  return node;
}

function click(node: Element): void {
  React.act(() => {
    node.dispatchEvent(
      new MouseEvent('click', { bubbles: true, cancelable: true })
    );
  });
}

beforeEach(() => {
  container = document.createElement('div');
  document.body.appendChild(container);
  root = createRoot(container);
});

afterEach(() => {
  React.act(() => root.unmount());
  container.remove();
});

describe('the panel updates only what changed', () => {
  it('keeps a <details> the user opened, and the nodes of unchanged lines', () => {
    const a = actions();
    let s = apply([...started, buildAt(5000, 'Collecting numpy')]);
    render(s, a);
    const log = q<HTMLDetailsElement>('details.jp-dockermagic-step-log');
    expect(log.open).toBe(false);
    log.open = true; // the user opens step 1's log
    const phaseNode = q('.jp-dockermagic-phase[data-phase="saving"]');
    const pathText = q('.jp-dockermagic-notebook').firstChild as Text;
    // the user selects the notebook path
    const range = document.createRange();
    range.selectNodeContents(pathText);
    window.getSelection()?.removeAllRanges();
    window.getSelection()?.addRange(range);

    for (let i = 1; i <= 5; i++) {
      s = reduce(s, buildAt(5000 + i * 1000, `Downloading part ${i}`));
      s = reduce(s, { type: 'stream', text: `note ${i}\n` });
      render(s, a, 5000 + i * 1000);
    }
    expect(q('.jp-dockermagic-step-running pre').textContent).toBe(
      'Downloading part 5'
    );
    expect(q<HTMLDetailsElement>('details.jp-dockermagic-step-log')).toBe(log);
    expect(log.open).toBe(true);
    expect(q('.jp-dockermagic-phase[data-phase="saving"]')).toBe(phaseNode);
    expect(pathText.isConnected).toBe(true);
    expect(window.getSelection()?.anchorNode).toBe(pathText);
    expect(window.getSelection()?.toString()).toBe('examples/heart_roc.ipynb');
  });

  it('keeps the kernel output open while lines arrive', () => {
    const a = actions();
    let s = apply([...started, { type: 'stream', text: 'first\n' }]);
    render(s, a);
    const out = q<HTMLDetailsElement>('details.jp-dockermagic-stream');
    out.open = true;
    s = reduce(s, { type: 'stream', text: 'second\n' });
    render(s, a);
    expect(q<HTMLDetailsElement>('details.jp-dockermagic-stream')).toBe(out);
    expect(out.open).toBe(true);
    expect(out.querySelector('pre')?.textContent).toBe('first\nsecond');
  });
});

describe('the timeline', () => {
  it('shows each phase with its time, and the wall time', () => {
    const s = apply([
      ...started,
      snapshot(
        {
          phase: 'send',
          phases: [
            { phase: 'capture', at: 0, seconds: 1.5 },
            { phase: 'requirements', at: 1.5, seconds: 0.5 },
            { phase: 'context', at: 2, seconds: 0.25 },
            { phase: 'send', at: 2.25, seconds: null }
          ],
          steps: [],
          elapsed: 3
        },
        5000
      )
    ]);
    render(s, actions(), 6000);
    const rows = Array.from(
      container.querySelectorAll('.jp-dockermagic-phase')
    ).map(li =>
      [
        li.getAttribute('data-state'),
        li.querySelector('.jp-dockermagic-phase-label')?.textContent,
        li.querySelector('.jp-dockermagic-time')?.textContent
      ].join(' | ')
    );
    expect(rows).toEqual([
      'done | Saving the notebook | 0.3s',
      'done | Starting dockermagic in the kernel | 1.7s',
      'done | Reading the notebook | 1.5s',
      'done | Finding the requirements | 0.5s',
      'done | Writing the build context | 0.3s',
      'running | Sending the context to the engine | 1.8s'
    ]);
    expect(q('.jp-dockermagic-wall').textContent).toBe('Build: 6.0s in all');
    expect(q('.jp-dockermagic-headline').textContent).toBe(
      'Sending the context to the engine…'
    );
  });
});

describe('cancel', () => {
  it('is offered while busy, and says when it is under way', () => {
    const a = actions();
    let s = apply([...started, buildAt(5000, 'x')]);
    render(s, a);
    const button = q<HTMLButtonElement>('.jp-dockermagic-cancel-button');
    click(button);
    expect(a.cancel).toHaveBeenCalledTimes(1);
    s = reduce(s, { type: 'cancel', at: 6000 });
    render(s, a);
    expect(button.disabled).toBe(true);
    expect(button.textContent).toBe('Cancelling…');
    s = reduce(s, {
      type: 'payload',
      payload: fixture('build-interrupted'),
      at: 7000
    });
    s = reduce(s, {
      type: 'payload',
      payload: fixture('error-interrupted'),
      at: 7100
    });
    render(s, a);
    expect(container.querySelector('.jp-dockermagic-cancel-button')).toBeNull();
    expect(q('.jp-dockermagic-panel').dataset.dmStage).toBe('cancelled');
    expect(
      q('.jp-dockermagic-error.jp-mod-cancelled .jp-dockermagic-error-title')
        .textContent
    ).toBe('Build cancelled');
    expect(
      q('.jp-dockermagic-step-interrupted .jp-dockermagic-step-instruction')
        .textContent
    ).toBe('RUN pip install -r /tmp/r.txt');
  });
});

describe('outputs one click away', () => {
  function ran(): IPanelState {
    return apply([
      ...started,
      { type: 'payload', payload: fixture('result-dockerize'), at: 10_000 },
      { type: 'start-run', at: 11_000 },
      { type: 'payload', payload: fixture('run-exited'), at: 14_000 },
      { type: 'payload', payload: fixture('result-run'), at: 14_500 }
    ]);
  }

  it('opens the outputs folder in the file browser and files in JupyterLab', () => {
    const a = actions();
    render(ran(), a);
    const folder = q('.jp-dockermagic-outputs a.jp-dockermagic-link');
    expect(folder.textContent).toBe(
      'dockermagic-outputs/heart-roc-20261130-120000'
    );
    click(folder);
    expect(a.openFolder).toHaveBeenCalledWith(
      'dockermagic-outputs/heart-roc-20261130-120000'
    );
    click(q('.jp-dockermagic-files a.jp-dockermagic-link'));
    expect(a.openFile).toHaveBeenCalledWith(
      'dockermagic-outputs/heart-roc-20261130-120000/figures/figure-001.png'
    );
  });

  it('shows a path outside the server root as text with a copy button', () => {
    const a = actions();
    render(ran(), a);
    const context = q('.jp-dockermagic-fact-build-context');
    expect(context.querySelector('a')).toBeNull();
    expect(context.querySelector('code')?.textContent).toBe(
      '/root/.cache/dockermagic/contexts/heart-roc-latest'
    );
    click(q('.jp-dockermagic-fact-build-context button.jp-dockermagic-copy'));
    expect(a.copy).toHaveBeenCalledWith(
      '/root/.cache/dockermagic/contexts/heart-roc-latest'
    );
  });

  it('enlarges a figure on click; Escape closes it', () => {
    render(ran(), actions());
    expect(container.querySelector('.jp-dockermagic-lightbox')).toBeNull();
    click(q('.jp-dockermagic-figure img'));
    expect(q<HTMLImageElement>('.jp-dockermagic-lightbox img').src).toBe(
      'data:image/png;base64,iVBORw0KGgo='
    );
    React.act(() => {
      document.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' }));
    });
    expect(container.querySelector('.jp-dockermagic-lightbox')).toBeNull();
  });

  it('lists requirements with where they came from', () => {
    render(ran(), actions());
    const rows = Array.from(
      container.querySelectorAll('.jp-dockermagic-requirements-table tr')
    ).map(tr =>
      Array.from(tr.querySelectorAll('td')).map(td => td.textContent)
    );
    expect(rows).toEqual([
      ['scikit-learn==1.5.2', 'import sklearn in cell 3'],
      ['numpy==2.0.1', 'dependency of scikit-learn']
    ]);
  });

  it("shows a failed run's traceback once", () => {
    const s = apply([
      ...started,
      { type: 'payload', payload: fixture('result-dockerize'), at: 10_000 },
      { type: 'start-run', at: 11_000 },
      { type: 'payload', payload: fixture('run-running'), at: 12_000 },
      { type: 'payload', payload: fixture('error-run-failed'), at: 13_000 }
    ]);
    render(s, actions());
    expect(q('.jp-dockermagic-headline').textContent).toBe('Run failed');
    expect(container.querySelector('.jp-dockermagic-error pre')).toBeNull();
    expect(q('.jp-dockermagic-run-log').textContent).toBe('training\nauc 0.91');
  });

  it('names a finished build by its steps', () => {
    const s = apply([
      ...started,
      { type: 'payload', payload: fixture('build-done'), at: 9000 }
    ]);
    render(s, actions());
    expect(
      q(
        '.jp-dockermagic-phase[data-phase="build"] .jp-dockermagic-phase-detail'
      ).textContent
    ).toBe('6 steps, 1 cached');
  });

  it('summarises the image and the run', () => {
    render(ran(), actions());
    expect(q('.jp-dockermagic-fact-tag').textContent).toBe('heart-roc:latest');
    expect(q('.jp-dockermagic-fact-image-id').textContent).toBe('5523456789ab');
    expect(q('.jp-dockermagic-fact-size').textContent).toBe('123.5 MB');
    expect(
      q('.jp-dockermagic-run .jp-dockermagic-section-title').textContent
    ).toBe('Run dm-heart-roc-1a2b3c (exit code 0)');
    expect(q('.jp-dockermagic-headline').textContent).toBe(
      'Run finished (exit code 0)'
    );
  });
});

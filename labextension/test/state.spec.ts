import { dockerizeCode, pyString, runCode } from '../src/code';
import { BusyGuard } from '../src/guard';
import { IBuildProgress, isKernelPayload } from '../src/protocol';
import { Action, formatBytes, formatSeconds, headline, initialState, IPanelState, isBusy, MAX_LOG_LINES, reduce, reducePull } from '../src/state';

const options = { tag: 'heart-roc', form: 'script' as const, runAfter: false, port: null };

function run(actions: Action[], state: IPanelState = initialState('examples/heart_roc.ipynb')): IPanelState {
  return actions.reduce(reduce, state);
}

function build(p: Partial<IBuildProgress>): Action {
  return { type: 'payload', payload: { kind: 'build', phase: 'build', ...p } };
}

describe('reduce: builds', () => {
  it('starts a build', () => {
    const s = run([{ type: 'start-build', options }]);
    expect(s.stage).toBe('building');
    expect(isBusy(s)).toBe(true);
    expect(s.build?.tag).toBe('heart-roc');
    expect(headline(s)).toBe('Starting heart-roc…');
  });

  it('follows steps and their logs', () => {
    const s = run([
      { type: 'start-build', options },
      build({ phase: 'requirements' }),
      build({
        steps: [
          { n: 1, instruction: 'FROM python:3.11-slim', state: 'cached', seconds: 0.1, log: [] },
          { n: 2, instruction: 'RUN pip install -r requirements.txt', state: 'running', seconds: null, log: ['Collecting numpy'] },
          { n: 3, instruction: 'COPY program.py .', state: 'pending' }
        ],
        elapsed: 3.5
      })
    ]);
    expect(s.build?.phase).toBe('build');
    expect(s.build?.steps.map(x => x.state)).toEqual(['cached', 'running', 'pending']);
    expect(s.build?.steps[1].log).toEqual(['Collecting numpy']);
    expect(s.build?.steps[2].log).toEqual([]);
    expect(s.build?.steps[2].seconds).toBeNull();
    expect(headline(s)).toBe('Building heart-roc: step 2 of 3');
  });

  it('keeps earlier facts when a snapshot omits them', () => {
    const s = run([
      { type: 'start-build', options },
      build({ steps: [{ n: 1, instruction: 'FROM x', state: 'done' }], elapsed: 1 }),
      build({ phase: 'done', image_id: 'sha256:abc', size: 123 })
    ]);
    expect(s.build?.steps).toHaveLength(1);
    expect(s.build?.imageId).toBe('sha256:abc');
    expect(s.build?.elapsed).toBe(1);
  });

  it('truncates long step logs', () => {
    const log = Array.from({ length: 500 }, (_, i) => `line ${i}`);
    const s = run([{ type: 'start-build', options }, build({ steps: [{ n: 1, instruction: 'RUN x', state: 'running', log }] })]);
    expect(s.build?.steps[0].log.length).toBeLessThan(500);
    expect(s.build?.steps[0].log.slice(-1)).toEqual(['line 499']);
  });

  it('ends with a summary', () => {
    const s = run([
      { type: 'start-build', options },
      build({ steps: [{ n: 1, instruction: 'FROM x', state: 'done' }] }),
      { type: 'payload', payload: { kind: 'result', op: 'dockerize', summary: { tag: 'heart-roc:latest', image_id: 'sha256:0123456789abcdef', size: 169000000, requirements: ['numpy==2.0.0'] } } },
      { type: 'done', status: 'ok' }
    ]);
    expect(s.stage).toBe('built');
    expect(isBusy(s)).toBe(false);
    expect(s.image?.tag).toBe('heart-roc:latest');
    expect(s.build?.phase).toBe('done');
    expect(s.build?.size).toBe(169000000);
    expect(headline(s)).toBe('Built heart-roc:latest');
  });

  it('ignores progress that arrives after the result', () => {
    const s1 = run([{ type: 'start-build', options }, { type: 'payload', payload: { kind: 'result', op: 'dockerize', summary: { tag: 't' } } }]);
    const s2 = reduce(s1, build({ phase: 'build' }));
    expect(s2).toBe(s1);
  });

  it('marks the running step failed on a build error', () => {
    const s = run([
      { type: 'start-build', options },
      build({ steps: [{ n: 1, instruction: 'FROM x', state: 'done' }, { n: 2, instruction: 'RUN pip install', state: 'running', log: ['boom'] }] }),
      { type: 'payload', payload: { kind: 'error', op: 'dockerize', type: 'BuildError', mro: ['BuildError', 'DockermagicError'], message: 'step failed', step: 'RUN pip install', exit_code: 1, log_tail: ['boom'] } },
      { type: 'done', status: 'ok' }
    ]);
    expect(s.stage).toBe('failed');
    expect(s.failedOp).toBe('dockerize');
    expect(s.error?.kind).toBe('build-failed');
    expect(s.build?.steps[1].state).toBe('failed');
    expect(s.build?.phase).toBe('failed');
    expect(isBusy(s)).toBe(false);
    expect(headline(s)).toBe('Dockerize failed');
  });

  it('explains a kernel without dockermagic', () => {
    const s = run([
      { type: 'start-build', options },
      { type: 'kernel-error', ename: 'ModuleNotFoundError', evalue: "No module named 'dockermagic'", traceback: [] },
      { type: 'done', status: 'error' }
    ]);
    expect(s.stage).toBe('failed');
    expect(s.error?.kind).toBe('not-installed');
    expect(s.error?.hint).toContain('%pip install dockermagic');
  });

  it('never stays busy when the request ends without a result', () => {
    const ok = run([{ type: 'start-build', options }, { type: 'done', status: 'ok' }]);
    expect(ok.stage).toBe('failed');
    expect(ok.error?.title).toBe('No result');
    const aborted = run([{ type: 'start-build', options }, { type: 'done', status: 'abort' }]);
    expect(aborted.error?.kind).toBe('interrupted');
  });

  it('reports a kernel that died mid-build', () => {
    const s = run([{ type: 'start-build', options }, { type: 'transport-error', kind: 'interrupted', message: 'Canceled future for execute_request message before replies were done' }]);
    expect(s.stage).toBe('failed');
    expect(s.error?.title).toBe('Kernel stopped');
  });

  it('keeps the first error', () => {
    const s = run([
      { type: 'start-build', options },
      { type: 'payload', payload: { kind: 'error', op: 'dockerize', type: 'EngineUnavailable', mro: ['EngineUnavailable', 'DockermagicError'], message: 'no Docker engine answers' } },
      { type: 'transport-error', kind: 'interrupted', message: 'later' },
      { type: 'done', status: 'ok' }
    ]);
    expect(s.error?.kind).toBe('no-engine');
  });

  it('collects kernel output lines', () => {
    const s = run([{ type: 'start-build', options }, { type: 'stream', text: 'a\nb\n' }, { type: 'stream', text: 'c' }]);
    expect(s.stream).toEqual(['a', 'b', 'c']);
  });

  it('a new build starts from a clean state', () => {
    const failed = run([{ type: 'start-build', options }, { type: 'done', status: 'ok' }]);
    const again = reduce(failed, { type: 'start-build', options: { ...options, tag: 'other' } });
    expect(again.error).toBeNull();
    expect(again.stage).toBe('building');
    expect(again.options?.tag).toBe('other');
  });
});

describe('reduce: runs', () => {
  const built = run([{ type: 'start-build', options }, { type: 'payload', payload: { kind: 'result', op: 'dockerize', summary: { tag: 'heart-roc:latest' } } }]);

  it('streams logs and ends with figures', () => {
    const s = run(
      [
        { type: 'start-run' },
        { type: 'payload', payload: { kind: 'run', state: 'running', name: 'dm-1', logs: ['AUC 0.91'] } },
        { type: 'payload', payload: { kind: 'run', state: 'exited', exit_code: 0, outputs: '/tmp/out', figures: ['/tmp/out/figures/fig-1.png'] } },
        {
          type: 'payload',
          payload: {
            kind: 'result',
            op: 'run',
            summary: { name: 'dm-1', exit_code: 0, logs: 'AUC 0.91\ndone', outputs: '/tmp/out', ports: {} },
            figures: [{ name: 'fig-1.png', png: 'iVBOR', path: '/tmp/out/figures/fig-1.png' }],
            files: ['figures/fig-1.png', 'roc.csv']
          }
        },
        { type: 'done', status: 'ok' }
      ],
      built
    );
    expect(s.stage).toBe('ran');
    expect(s.image?.tag).toBe('heart-roc:latest');
    expect(s.run?.exitCode).toBe(0);
    expect(s.run?.logs).toEqual(['AUC 0.91', 'done']);
    expect(s.run?.figures[0].png).toBe('iVBOR');
    expect(s.run?.files).toEqual(['figures/fig-1.png', 'roc.csv']);
    expect(headline(s)).toBe('Run finished (exit code 0)');
  });

  it('shows figure paths before the result inlines them', () => {
    const s = run([{ type: 'start-run' }, { type: 'payload', payload: { kind: 'run', state: 'running', figures: ['/o/figures/a.png'] } }], built);
    expect(s.run?.figures).toEqual([{ name: 'a.png', path: '/o/figures/a.png' }]);
  });

  it('keeps only the tail of long logs', () => {
    const logs = Array.from({ length: 1000 }, (_, i) => `${i}`);
    const s = run([{ type: 'start-run' }, { type: 'payload', payload: { kind: 'run', state: 'running', logs } }], built);
    expect(s.run?.logs).toHaveLength(MAX_LOG_LINES);
    expect(s.run?.logs[MAX_LOG_LINES - 1]).toBe('999');
  });

  it('a failed run keeps the image and its logs', () => {
    const s = run(
      [
        { type: 'start-run' },
        { type: 'payload', payload: { kind: 'run', state: 'running', logs: ['Traceback', 'ValueError'] } },
        { type: 'payload', payload: { kind: 'error', op: 'run', type: 'RunError', mro: ['RunError', 'DockermagicError'], message: 'the program exited with code 1' } }
      ],
      built
    );
    expect(s.stage).toBe('failed');
    expect(s.failedOp).toBe('run');
    expect(s.image?.tag).toBe('heart-roc:latest');
    expect(s.run?.logs).toEqual(['Traceback', 'ValueError']);
    expect(s.run?.state).toBe('failed');
    expect(s.error?.kind).toBe('run-failed');
    expect(headline(s)).toBe('Run failed');
  });
});

describe('reducePull', () => {
  it('sums layer progress', () => {
    expect(reducePull(null)).toBeNull();
    expect(reducePull({})).toBeNull();
    expect(
      reducePull({
        a: { status: 'Pull complete', current: 10, total: 10 },
        b: { status: 'Downloading', current: 5, total: 20 },
        c: { status: 'Already exists' }
      })
    ).toEqual({ layers: 3, done: 2, current: 15, total: 30 });
  });
});

describe('formatting', () => {
  it('formats sizes and durations', () => {
    expect(formatBytes(641 * 1024 * 1024)).toBe('641.0 MB');
    expect(formatBytes(1536)).toBe('1.5 kB');
    expect(formatBytes(3 * 1024 ** 4)).toBe('3072.0 GB');
    expect(formatBytes(12)).toBe('12 B');
    expect(formatBytes(null)).toBe('');
    expect(formatSeconds(4.21)).toBe('4.2s');
    expect(formatSeconds(65)).toBe('1m 05s');
    expect(formatSeconds(undefined)).toBe('');
  });
});

describe('code sent to the kernel', () => {
  it('is one expression calling dockermagic.lab with JSON', () => {
    const code = dockerizeCode('examples/heart "roc".ipynb', { ...options, form: 'notebook' });
    expect(code.startsWith("__import__('dockermagic.lab').lab.dockerize_from_lab(")).toBe(true);
    expect(code).not.toContain('\n');
    const literal = code.slice(code.indexOf('(') + 1, -1).replace(/^'dockermagic\.lab'\)\.lab\.dockerize_from_lab\(/, '');
    expect(JSON.parse(JSON.parse(literal))).toEqual({ notebook: 'examples/heart "roc".ipynb', tag: 'heart-roc', form: 'notebook' });
  });

  it('passes the port to a run', () => {
    const code = runCode('heart-roc', 5000);
    const literal = code.slice(code.indexOf('run_from_lab(') + 'run_from_lab('.length, -1);
    expect(JSON.parse(JSON.parse(literal))).toEqual({ image: 'heart-roc', port: 5000 });
  });

  it('escapes like Python', () => {
    expect(pyString('a\\b"c\n')).toBe('"a\\\\b\\"c\\n"');
  });
});

describe('isKernelPayload', () => {
  it('accepts only known kinds', () => {
    expect(isKernelPayload({ kind: 'build', phase: 'x' })).toBe(true);
    expect(isKernelPayload({ kind: 'other' })).toBe(false);
    expect(isKernelPayload(null)).toBe(false);
    expect(isKernelPayload('build')).toBe(false);
  });
});

describe('BusyGuard', () => {
  it('lets only one operation per notebook run', () => {
    const g = new BusyGuard();
    expect(g.tryAcquire('nb1')).toBe(true);
    expect(g.tryAcquire('nb1')).toBe(false);
    expect(g.tryAcquire('nb2')).toBe(true);
    expect(g.isBusy('nb1')).toBe(true);
    g.release('nb1');
    expect(g.isBusy('nb1')).toBe(false);
    expect(g.tryAcquire('nb1')).toBe(true);
  });
});

describe('reduce: detached runs', () => {
  it('a server run stays in the background', () => {
    const built = run([{ type: 'start-build', options: { ...options, port: 5000 } }, { type: 'payload', payload: { kind: 'result', op: 'dockerize', summary: { tag: 'app:latest' } } }]);
    const s = run(
      [
        { type: 'start-run' },
        { type: 'payload', payload: { kind: 'run', state: 'running', name: 'dm-app-1' } },
        { type: 'payload', payload: { kind: 'result', op: 'run', summary: { name: 'dm-app-1', exit_code: null, logs: '', outputs: null, detached: true, ports: { '5000/tcp': '127.0.0.1:5000' } }, figures: [], files: [] } }
      ],
      built
    );
    expect(s.stage).toBe('ran');
    expect(isBusy(s)).toBe(false);
    expect(s.run?.detached).toBe(true);
    expect(s.run?.ports).toEqual({ '5000/tcp': '127.0.0.1:5000' });
    expect(headline(s)).toBe('Running in the background: dm-app-1');
  });
});

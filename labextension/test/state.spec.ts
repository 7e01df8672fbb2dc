import * as fs from 'fs';
import * as path from 'path';

import { dockerizeCode, pyString, runCode } from '../src/code';
import {
  IBuildProgress,
  IBuildStep,
  IErrorPayload,
  IRunProgress,
  isKernelPayload,
  KernelPayload
} from '../src/protocol';
import {
  Action,
  buildWallSeconds,
  formatBytes,
  formatSeconds,
  headline,
  initialState,
  IPanelState,
  isBusy,
  MAX_STEP_LOG_LINES,
  phaseSeconds,
  reduce,
  reducePull
} from '../src/state';

const options = {
  tag: 'heart-roc',
  form: 'script' as const,
  runAfter: false,
  port: null
};

function fixture<T extends KernelPayload>(name: string): T {
  return JSON.parse(
    fs.readFileSync(path.join(__dirname, 'fixtures', `${name}.json`), 'utf8')
  );
}

function apply(
  actions: Action[],
  state: IPanelState = initialState('examples/heart_roc.ipynb')
): IPanelState {
  return actions.reduce(reduce, state);
}

/** A build snapshot: the running fixture with some fields replaced. */
function build(p: Partial<IBuildProgress>, at: number): Action {
  return {
    type: 'payload',
    payload: { ...fixture<IBuildProgress>('build-running'), ...p },
    at
  };
}

function step(
  n: number,
  state: IBuildStep['state'],
  log: string[] = []
): IBuildStep {
  return {
    n,
    instruction: `RUN step ${n}`,
    state,
    seconds: state === 'running' || state === 'pending' ? null : 0.5,
    log
  };
}

function error(
  kind: string,
  op: 'dockerize' | 'run' = 'dockerize',
  message = 'boom'
): Action {
  const payload = fixture<IErrorPayload>('error-usage');
  return {
    type: 'payload',
    payload: {
      ...payload,
      op,
      error: {
        ...payload.error,
        kind: kind as IErrorPayload['error']['kind'],
        message
      }
    },
    at: 99_000
  };
}

const started: Action[] = [
  { type: 'start-build', options, at: 0 },
  { type: 'saved', at: 300 },
  { type: 'started', at: 400 }
];

describe('reduce: the timeline', () => {
  it('shows saving first, before anything reaches the kernel', () => {
    const s = apply([{ type: 'start-build', options, at: 0 }]);
    expect(s.stage).toBe('building');
    expect(isBusy(s)).toBe(true);
    expect(s.phases).toEqual([
      {
        id: 'saving',
        label: 'Saving the notebook',
        detail: '',
        state: 'running',
        start: 0,
        seconds: null
      }
    ]);
    expect(headline(s)).toBe('Saving the notebook…');
    expect(phaseSeconds(s.phases[0], 2500)).toBe(2.5);
  });

  it('says when the kernel is busy with another cell', () => {
    const s = apply([
      { type: 'start-build', options, at: 0 },
      { type: 'saved', at: 300 }
    ]);
    expect(s.phases.map(p => [p.id, p.state, p.seconds])).toEqual([
      ['saving', 'done', 0.3],
      ['queue', 'running', null]
    ]);
    expect(headline(s)).toBe(
      'Waiting for the kernel (busy with another cell)…'
    );
    // a long wait stays on the timeline
    const late = reduce(s, { type: 'started', at: 5300 });
    expect(late.phases.map(p => [p.id, p.state, p.seconds])).toEqual([
      ['saving', 'done', 0.3],
      ['queue', 'done', 5],
      ['kernel', 'running', null]
    ]);
    // a short one does not
    const soon = reduce(s, { type: 'started', at: 400 });
    expect(soon.phases.map(p => p.id)).toEqual(['saving', 'kernel']);
    expect(soon.phases[1].start).toBe(300);
    expect(headline(soon)).toBe('Starting dockermagic in the kernel…');
  });

  it("places the kernel's phases on the front end's clock", () => {
    // The snapshot arrives at 10 s and says the kernel's operation is 8 s old.
    const s = apply([
      ...started,
      build(
        {
          phase: 'context',
          phases: [
            { phase: 'capture', at: 0, seconds: 1.5 },
            { phase: 'requirements', at: 1.5, seconds: 4 },
            { phase: 'context', at: 5.5, seconds: null }
          ],
          steps: [],
          elapsed: 8
        },
        10_000
      )
    ]);
    expect(
      s.phases.map(p => [p.id, p.label, p.state, p.start, p.seconds])
    ).toEqual([
      ['saving', 'Saving the notebook', 'done', 0, 0.3],
      ['kernel', 'Starting dockermagic in the kernel', 'done', 300, 1.7],
      ['capture', 'Reading the notebook', 'done', 2000, 1.5],
      ['requirements', 'Finding the requirements', 'done', 3500, 4],
      ['context', 'Writing the build context', 'running', 7500, null]
    ]);
    // the running phase ticks on the front end's clock between snapshots
    expect(phaseSeconds(s.phases[4], 12_000)).toBe(4.5);
    expect(headline(s)).toBe('Writing the build context…');
  });

  it('names the step being built', () => {
    const s = apply([...started, build({ elapsed: 3 }, 5000)]);
    const b = s.phases.find(p => p.id === 'build');
    expect(b?.detail).toBe('step 3 of 6: RUN pip install -r /tmp/r.txt');
    expect(headline(s)).toBe('Building heart-roc:latest: step 3 of 6');
  });

  it('shows the pull of the base image', () => {
    const s = apply([
      ...started,
      build(
        {
          phase: 'pull',
          phases: [{ phase: 'pull', at: 2, seconds: null }],
          steps: [],
          pull: {
            a: { status: 'Downloading', current: 50, total: 100 },
            b: { status: 'Pull complete', current: null, total: null }
          }
        },
        5000
      )
    ]);
    expect(s.phases.find(p => p.id === 'pull')?.detail).toBe(
      '1 of 2 layers, 50%'
    );
  });

  it('measures the wall time from the click, and the engine part apart', () => {
    const s = apply([
      ...started,
      build({ phase: 'done', engine_seconds: 0.7, elapsed: 5.5 }, 6000),
      { type: 'payload', payload: fixture('result-dockerize'), at: 6400 }
    ]);
    expect(buildWallSeconds(s, 1e9)).toBe(6.4);
    expect(s.build?.engineSeconds).toBe(0.7);
    expect(s.phases.every(p => p.state === 'done')).toBe(true);
  });
});

describe('reduce: builds', () => {
  it('keeps the image facts a later snapshot omits', () => {
    const s = apply([
      ...started,
      build({ image_id: 'sha256:abc', size: 123 }, 1000),
      build({ image_id: null, size: null }, 2000)
    ]);
    expect(s.build?.imageId).toBe('sha256:abc');
    expect(s.build?.size).toBe(123);
  });

  it('truncates long step logs', () => {
    const log = Array.from({ length: 500 }, (_, i) => `line ${i}`);
    const s = apply([
      ...started,
      build({ steps: [step(1, 'running', log)] }, 1000)
    ]);
    expect(s.build?.steps[0].log).toHaveLength(MAX_STEP_LOG_LINES);
    expect(s.build?.steps[0].log.slice(-1)).toEqual(['line 499']);
  });

  it('ignores progress that arrives after the result', () => {
    const s1 = apply([
      ...started,
      { type: 'payload', payload: fixture('result-dockerize'), at: 1000 }
    ]);
    expect(s1.stage).toBe('built');
    expect(reduce(s1, build({}, 2000))).toBe(s1);
  });

  it('marks the running step failed on an error', () => {
    const s = apply([
      ...started,
      build({ steps: [step(1, 'done'), step(2, 'running', ['boom'])] }, 1000),
      { type: 'payload', payload: fixture('error-build-failed'), at: 2000 },
      { type: 'done', status: 'ok', at: 2100 }
    ]);
    expect(s.stage).toBe('failed');
    expect(s.build?.steps[1].state).toBe('failed');
    expect(s.build?.phase).toBe('failed');
    expect(s.phases.find(p => p.id === 'build')?.state).toBe('failed');
    expect(isBusy(s)).toBe(false);
    expect(headline(s)).toBe('Dockerize failed');
  });

  it('explains a kernel without dockermagic', () => {
    const s = apply([
      ...started,
      {
        type: 'kernel-error',
        ename: 'ModuleNotFoundError',
        evalue: "No module named 'dockermagic'",
        at: 900
      },
      { type: 'done', status: 'error', at: 1000 }
    ]);
    expect(s.stage).toBe('failed');
    expect(s.error?.kind).toBe('not-installed');
    expect(s.error?.hint).toContain('%pip install dockermagic');
  });

  it('never stays busy when the request ends without a result', () => {
    const ok = apply([...started, { type: 'done', status: 'ok', at: 1000 }]);
    expect(ok.stage).toBe('failed');
    expect(ok.error?.title).toBe('No result');
    const aborted = apply([
      ...started,
      { type: 'done', status: 'abort', at: 1000 }
    ]);
    expect(aborted.stage).toBe('cancelled');
  });

  it('reports a kernel that died mid-build', () => {
    const s = apply([
      ...started,
      {
        type: 'transport-error',
        kind: 'kernel-lost',
        message: 'Canceled future',
        at: 1000
      }
    ]);
    expect(s.stage).toBe('failed');
    expect(s.error?.title).toBe('Kernel stopped');
  });

  it('keeps the first error', () => {
    const s = apply([
      ...started,
      error('no-engine'),
      {
        type: 'transport-error',
        kind: 'kernel-lost',
        message: 'later',
        at: 99_500
      },
      { type: 'done', status: 'ok', at: 99_600 }
    ]);
    expect(s.error?.kind).toBe('no-engine');
  });

  it('collects kernel output lines while busy', () => {
    const s = apply([
      ...started,
      { type: 'stream', text: 'a\nb\n' },
      { type: 'stream', text: 'c' }
    ]);
    expect(s.stream).toEqual(['a', 'b', 'c']);
  });

  it('a new build starts from a clean state', () => {
    const failed = apply([
      ...started,
      { type: 'done', status: 'ok', at: 1000 }
    ]);
    const again = reduce(failed, {
      type: 'start-build',
      options: { ...options, tag: 'other' },
      at: 5000
    });
    expect(again.error).toBeNull();
    expect(again.stage).toBe('building');
    expect(again.options?.tag).toBe('other');
    expect(again.phases.map(p => p.id)).toEqual(['saving']);
  });
});

describe('reduce: cancel', () => {
  it('says it is cancelling, then that it was cancelled', () => {
    let s = apply([...started, build({}, 1000), { type: 'cancel', at: 2000 }]);
    expect(s.cancelling).toBe(true);
    expect(isBusy(s)).toBe(true);
    expect(headline(s)).toBe('Cancelling the build…');
    s = reduce(s, {
      type: 'payload',
      payload: fixture('build-interrupted'),
      at: 3000
    });
    s = reduce(s, {
      type: 'payload',
      payload: fixture('error-interrupted'),
      at: 3100
    });
    expect(s.stage).toBe('cancelled');
    expect(isBusy(s)).toBe(false);
    expect(headline(s)).toBe('Build cancelled');
    expect(s.build?.steps[2].state).toBe('interrupted');
    expect(s.error?.kind).toBe('interrupted');
  });

  it('before the kernel got the request', () => {
    const s = apply([
      { type: 'start-build', options, at: 0 },
      { type: 'cancel', at: 100 },
      { type: 'aborted', at: 200 }
    ]);
    expect(s.stage).toBe('cancelled');
    expect(s.error?.message).toMatch(/before anything was sent/);
    expect(s.phases[0].state).toBe('interrupted');
  });

  it('an interrupt that reached the kernel before dockermagic did', () => {
    const s = apply([
      ...started,
      { type: 'cancel', at: 500 },
      { type: 'kernel-error', ename: 'KeyboardInterrupt', evalue: '', at: 600 },
      { type: 'done', status: 'error', at: 700 }
    ]);
    expect(s.stage).toBe('cancelled');
  });

  it('a run', () => {
    let s = apply([
      ...started,
      { type: 'payload', payload: fixture('result-dockerize'), at: 1000 }
    ]);
    s = apply(
      [
        { type: 'start-run', at: 2000 },
        { type: 'payload', payload: fixture('run-running'), at: 3000 },
        { type: 'cancel', at: 3500 }
      ],
      s
    );
    expect(headline(s)).toBe('Cancelling the run…');
    const stopped: IRunProgress = {
      ...fixture<IRunProgress>('run-running'),
      state: 'interrupted',
      outputs: '/work/out'
    };
    s = reduce(s, { type: 'payload', payload: stopped, at: 4000 });
    s = reduce(
      s,
      error('interrupted', 'run', 'interrupted: dm-1 was stopped and removed')
    );
    expect(s.stage).toBe('cancelled');
    expect(headline(s)).toBe('Run cancelled');
    expect(s.run?.state).toBe('interrupted');
    // what the run wrote so far is still reachable
    expect(s.run?.outputs).toBe('/work/out');
    expect(s.phases.find(p => p.id === 'run')?.state).toBe('interrupted');
    expect(s.image?.tag).toBe('heart-roc:latest');
  });

  it('does nothing when idle', () => {
    const s = initialState('x.ipynb');
    expect(reduce(s, { type: 'cancel', at: 1 })).toBe(s);
  });
});

describe('reduce: runs', () => {
  const built = apply([
    ...started,
    { type: 'payload', payload: fixture('result-dockerize'), at: 1000 }
  ]);

  it('keeps the build timeline above the run', () => {
    const s = apply(
      [
        { type: 'start-run', at: 2000 },
        { type: 'started', at: 2100 },
        { type: 'payload', payload: fixture('run-running'), at: 5250 }
      ],
      built
    );
    expect(s.phases.map(p => p.id)).toEqual([
      'saving',
      'kernel',
      'run-kernel',
      'run'
    ]);
    // the run's clock: 3.25 s old when the snapshot arrived at 5.25 s
    expect(s.phases[3].start).toBe(2000);
    expect(s.phases[3].state).toBe('running');
  });

  it('a detached server', () => {
    const result = fixture<KernelPayload>('result-run');
    if (result.kind !== 'result' || result.op !== 'run') {
      throw new Error('fixture');
    }
    const detached = {
      ...result,
      summary: {
        ...result.summary,
        detached: true,
        exit_code: null,
        ports: { '5000/tcp': '127.0.0.1:5000' }
      }
    };
    const s = apply(
      [
        { type: 'start-run', at: 2000 },
        { type: 'payload', payload: detached, at: 3000 }
      ],
      built
    );
    expect(s.stage).toBe('ran');
    expect(s.run?.detached).toBe(true);
    expect(s.run?.ports).toEqual({ '5000/tcp': '127.0.0.1:5000' });
    expect(headline(s)).toBe('Running in the background: dm-heart-roc-1a2b3c');
  });

  it('does not start while busy', () => {
    const s = apply([{ type: 'start-run', at: 2000 }], built);
    expect(reduce(s, { type: 'start-run', at: 2500 })).toBe(s);
  });
});

describe('helpers', () => {
  it('summarises a pull', () => {
    expect(reducePull({})).toBeNull();
    expect(
      reducePull({
        a: { status: 'Downloading', current: 50, total: 100 },
        b: { status: 'Already exists', current: null, total: null }
      })
    ).toEqual({ layers: 2, done: 1, current: 50, total: 100 });
  });

  it('formats sizes as docker images does', () => {
    expect(formatBytes(123456789)).toBe('123.5 MB');
    expect(formatBytes(611_000_000)).toBe('611 MB');
    expect(formatBytes(1_234_567_890)).toBe('1.235 GB');
    expect(formatBytes(999)).toBe('999 B');
    expect(formatBytes(null)).toBe('');
  });

  it('formats durations on one line', () => {
    expect(formatSeconds(4.23)).toBe('4.2s');
    expect(formatSeconds(65.4)).toBe('1m 05s');
    expect(formatSeconds(null)).toBe('');
  });

  it('checks payloads', () => {
    expect(isKernelPayload(null)).toBe(false);
    expect(isKernelPayload({ kind: 'build' })).toBe(false);
    expect(
      isKernelPayload({
        kind: 'error',
        op: 'dockerize',
        type: 'X',
        message: 'old shape'
      })
    ).toBe(false);
    expect(isKernelPayload(fixture('build-running'))).toBe(true);
  });
});

describe('code run in the kernel', () => {
  it('is one expression, the arguments as a JSON string literal', () => {
    const code = dockerizeCode('dir/my "nb".ipynb', {
      ...options,
      form: 'lab'
    });
    expect(code).toMatch(
      /^__import__\('dockermagic\.lab'\)\.lab\.dockerize_from_lab\(".*"\)$/
    );
    const arg = JSON.parse(
      JSON.parse(code.slice(code.indexOf('(', 30) + 1, -1))
    );
    expect(arg).toEqual({
      notebook: 'dir/my "nb".ipynb',
      tag: 'heart-roc',
      form: 'lab'
    });
    expect(runCode('heart-roc:latest', 8888)).toContain('run_from_lab');
    expect(pyString('a\nb"')).toBe('"a\\nb\\""');
  });
});

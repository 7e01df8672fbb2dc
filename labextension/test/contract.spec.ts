/**
 * The Python/TypeScript contract: every payload the Python contract test wrote to
 * test/fixtures/ (tests/unit/test_contract.py) must match protocol.ts key for key and
 * type for type, and go through the reducer and the error classifier as expected.
 * A rename on either side fails here.
 */

import * as fs from 'fs';
import * as path from 'path';

import { classifyPayloadError, KIND_TEXT } from '../src/errors';
import {
  IBuildProgress,
  IBuildStep,
  IDockerizeResult,
  IErrorPayload,
  IFigure,
  IImageSummary,
  IKernelError,
  IPhaseTime,
  IPullLayer,
  IRequirement,
  IRunProgress,
  IRunResult,
  IRunSummary,
  isKernelPayload,
  ISystemPackage,
  KernelErrorKind,
  KernelPayload
} from '../src/protocol';
import { Action, initialState, IPanelState, reduce } from '../src/state';

const FIXTURES = path.join(__dirname, 'fixtures');

function load(name: string): KernelPayload {
  return JSON.parse(
    fs.readFileSync(path.join(FIXTURES, `${name}.json`), 'utf8')
  );
}

const fixtureNames = fs
  .readdirSync(FIXTURES)
  .filter(f => f.endsWith('.json'))
  .map(f => f.replace(/\.json$/, ''))
  .sort();

// --- Shapes: one entry per key of each interface. `satisfies Shape<T>` makes the
// compiler refuse a missing or an extra key, so these lists are exactly the interfaces.

type Kind = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'null';
type Shape<T> = { readonly [K in keyof T]-?: readonly Kind[] };

const STEP = {
  n: ['number'],
  instruction: ['string'],
  state: ['string'],
  seconds: ['number', 'null'],
  log: ['array']
} as const satisfies Shape<IBuildStep>;

const PHASE = {
  phase: ['string'],
  at: ['number'],
  seconds: ['number', 'null']
} as const satisfies Shape<IPhaseTime>;

const PULL_LAYER = {
  status: ['string'],
  current: ['number', 'null'],
  total: ['number', 'null']
} as const satisfies Shape<IPullLayer>;

const BUILD = {
  kind: ['string'],
  phase: ['string'],
  phases: ['array'],
  engine_seconds: ['number', 'null'],
  tag: ['string'],
  steps: ['array'],
  pull: ['object'],
  message: ['string', 'null'],
  image_id: ['string', 'null'],
  size: ['number', 'null'],
  changes: ['array'],
  elapsed: ['number']
} as const satisfies Shape<IBuildProgress>;

const RUN = {
  kind: ['string'],
  state: ['string'],
  name: ['string'],
  image: ['string'],
  logs: ['array'],
  exit_code: ['number', 'null'],
  outputs: ['string', 'null'],
  figures: ['array'],
  message: ['string', 'null'],
  elapsed: ['number']
} as const satisfies Shape<IRunProgress>;

const REQUIREMENT = {
  line: ['string'],
  origin: ['string']
} as const satisfies Shape<IRequirement>;

const IMAGE = {
  tag: ['string'],
  image_id: ['string', 'null'],
  size: ['number', 'null'],
  context: ['string', 'null'],
  requirements: ['array'],
  source: ['string'],
  base: ['string'],
  notes: ['array'],
  cached_steps: ['array'],
  build_seconds: ['number', 'null'],
  files: ['array'],
  pushed: ['string', 'null'],
  compose: ['string', 'null'],
  notebook: ['string', 'null'],
  system_packages: ['array']
} as const satisfies Shape<IImageSummary>;

const SYSTEM_PACKAGE = {
  package: ['string'],
  reason: ['string']
} as const satisfies Shape<ISystemPackage>;

const RUN_SUMMARY = {
  image: ['string'],
  name: ['string'],
  exit_code: ['number', 'null'],
  logs: ['string'],
  outputs: ['string', 'null'],
  files: ['array'],
  figures: ['array'],
  ports: ['object'],
  duration: ['number', 'null'],
  detached: ['boolean'],
  timed_out: ['boolean'],
  node: ['string', 'null']
} as const satisfies Shape<IRunSummary>;

const FIGURE = {
  name: ['string'],
  path: ['string'],
  png: ['string', 'null'],
  bytes: ['number', 'null']
} as const satisfies Shape<IFigure>;

const DOCKERIZE_RESULT = {
  kind: ['string'],
  op: ['string'],
  summary: ['object']
} as const satisfies Shape<IDockerizeResult>;

const RUN_RESULT = {
  kind: ['string'],
  op: ['string'],
  summary: ['object'],
  figures: ['array'],
  files: ['array']
} as const satisfies Shape<IRunResult>;

const ERROR = {
  kind: ['string'],
  type: ['string'],
  message: ['string'],
  step: ['string', 'number', 'null'],
  exit_code: ['number', 'null'],
  hint: ['string', 'null'],
  details: ['array']
} as const satisfies Shape<IKernelError>;

const ERROR_PAYLOAD = {
  kind: ['string'],
  op: ['string'],
  error: ['object']
} as const satisfies Shape<IErrorPayload>;

function kindOf(value: unknown): Kind {
  if (value === null) {
    return 'null';
  }
  if (Array.isArray(value)) {
    return 'array';
  }
  return typeof value as Kind;
}

/** Every problem with `value` against `shape`: missing keys, extra keys, wrong types. */
function problems(
  value: unknown,
  shape: { [key: string]: readonly Kind[] },
  where: string
): string[] {
  if (kindOf(value) !== 'object') {
    return [`${where}: not an object`];
  }
  const obj = value as { [key: string]: unknown };
  const found: string[] = [];
  for (const key of Object.keys(shape)) {
    if (!(key in obj)) {
      found.push(`${where}.${key}: missing in the payload`);
    } else if (!shape[key].includes(kindOf(obj[key]))) {
      found.push(
        `${where}.${key}: ${kindOf(obj[key])}, expected ${shape[key].join(' or ')}`
      );
    }
  }
  for (const key of Object.keys(obj)) {
    if (!(key in shape)) {
      found.push(`${where}.${key}: not in protocol.ts`);
    }
  }
  return found;
}

function eachProblem(
  items: unknown[],
  shape: { [key: string]: readonly Kind[] },
  where: string
): string[] {
  return items.flatMap((item, i) => problems(item, shape, `${where}[${i}]`));
}

/** The full check of one fixture, chosen by its file name. */
function check(name: string, p: KernelPayload): string[] {
  const any = p as unknown as { [key: string]: unknown };
  if (name.startsWith('build-')) {
    const b = p as IBuildProgress;
    return [
      ...problems(p, BUILD, name),
      ...eachProblem(b.steps, STEP, `${name}.steps`),
      ...eachProblem(b.phases, PHASE, `${name}.phases`),
      ...eachProblem(Object.values(b.pull), PULL_LAYER, `${name}.pull`)
    ];
  }
  if (name.startsWith('run-')) {
    return problems(p, RUN, name);
  }
  if (name === 'result-dockerize') {
    const r = p as IDockerizeResult;
    return [
      ...problems(p, DOCKERIZE_RESULT, name),
      ...problems(r.summary, IMAGE, `${name}.summary`),
      ...eachProblem(
        r.summary.requirements,
        REQUIREMENT,
        `${name}.summary.requirements`
      ),
      ...eachProblem(
        r.summary.system_packages,
        SYSTEM_PACKAGE,
        `${name}.summary.system_packages`
      )
    ];
  }
  if (name === 'result-run') {
    const r = p as IRunResult;
    return [
      ...problems(p, RUN_RESULT, name),
      ...problems(r.summary, RUN_SUMMARY, `${name}.summary`),
      ...eachProblem(r.figures, FIGURE, `${name}.figures`)
    ];
  }
  if (name.startsWith('error-')) {
    return [
      ...problems(p, ERROR_PAYLOAD, name),
      ...problems(any.error, ERROR, `${name}.error`)
    ];
  }
  return [
    `${name}: a fixture this test does not know: add it to test/contract.spec.ts`
  ];
}

describe('fixtures written by the Python contract test', () => {
  it('are all there', () => {
    // The Python side writes these; fewer means a stage or an error kind was dropped.
    for (const name of [
      'build-pull',
      'build-running',
      'build-done',
      'build-failed',
      'build-interrupted',
      'run-running',
      'run-exited',
      'result-dockerize',
      'result-run',
      'error-no-engine',
      'error-usage',
      'error-requirements',
      'error-build-failed',
      'error-run-failed',
      'error-interrupted',
      'error-internal'
    ]) {
      expect(fixtureNames).toContain(name);
    }
  });

  it.each(fixtureNames)('%s matches protocol.ts key for key', name => {
    const payload = load(name);
    expect(check(name, payload)).toEqual([]);
    expect(isKernelPayload(payload)).toBe(true);
  });

  it('name the values the types allow', () => {
    const phases = [
      'capture',
      'requirements',
      'context',
      'pull',
      'send',
      'build',
      'done',
      'failed',
      'interrupted'
    ];
    const steps = [
      'pending',
      'cached',
      'running',
      'done',
      'failed',
      'interrupted'
    ];
    const runs = ['starting', 'running', 'exited', 'failed', 'interrupted'];
    for (const name of fixtureNames) {
      const p = load(name);
      if (p.kind === 'build') {
        expect(phases).toContain(p.phase);
        p.phases.forEach(ph => expect(phases).toContain(ph.phase));
        p.steps.forEach(s => expect(steps).toContain(s.state));
      } else if (p.kind === 'run') {
        expect(runs).toContain(p.state);
      } else if (p.kind === 'error') {
        expect(Object.keys(KIND_TEXT)).toContain(p.error.kind);
        expect(['dockerize', 'run']).toContain(p.op);
      }
    }
  });
});

describe('error fixtures through the classifier', () => {
  const errors = fixtureNames.filter(n => n.startsWith('error-'));

  it.each(errors)('%s keeps its kind and message', name => {
    const payload = load(name) as IErrorPayload;
    // the file is named after the stable kind
    expect(payload.error.kind).toBe(name.replace(/^error-/, ''));
    const info = classifyPayloadError(payload);
    expect(info.kind).toBe(payload.error.kind as KernelErrorKind);
    expect(info.message).toBe(payload.error.message);
    expect(info.details).toEqual(payload.error.details);
    expect(info.title.length).toBeGreaterThan(0);
  });

  it('takes the failing step and hint of a failed build', () => {
    const info = classifyPayloadError(
      load('error-build-failed') as IErrorPayload
    );
    expect(info.title).toBe('Build failed at RUN pip install -r /tmp/r.txt');
    expect(info.hint).toBe(
      'nosuchpkg is not on the package index the build uses'
    );
    expect(info.exitCode).toBe(1);
    expect(info.details).toEqual([
      'ERROR: No matching distribution found for nosuchpkg'
    ]);
  });

  it('gives a hint where the kernel sent none', () => {
    const info = classifyPayloadError(load('error-no-engine') as IErrorPayload);
    expect(info.title).toBe('Docker engine not reachable');
    expect(info.hint).toMatch(/docker info/);
  });

  it('reports a bug with its traceback', () => {
    const info = classifyPayloadError(load('error-internal') as IErrorPayload);
    expect(info.title).toBe('Unexpected error (TypeError)');
    expect(info.details).toContain('TypeError: unexpected');
  });
});

describe('fixtures through the reducer', () => {
  const options = {
    tag: 'heart-roc',
    form: 'script' as const,
    runAfter: false,
    port: null
  };
  let t = 1_000_000;
  const payload = (name: string): Action => ({
    type: 'payload',
    payload: load(name),
    at: (t += 1000)
  });

  function start(): IPanelState {
    return [
      { type: 'start-build', options, at: (t += 100) } as Action,
      { type: 'saved', at: (t += 100) } as Action,
      { type: 'started', at: (t += 100) } as Action
    ].reduce(reduce, initialState('examples/heart_roc.ipynb'));
  }

  it('a build that pulls, runs its steps and succeeds', () => {
    let s = reduce(start(), payload('build-pull'));
    expect(s.build?.pull).toEqual({
      layers: 1,
      done: 0,
      current: 10,
      total: 100
    });
    expect(s.build?.tag).toBe('heart-roc:latest');
    s = reduce(s, payload('build-running'));
    expect(s.build?.steps.map(x => x.state)).toEqual([
      'done',
      'cached',
      'running',
      'pending',
      'pending',
      'pending'
    ]);
    expect(s.build?.steps[2].log).toEqual(['Collecting numpy==2.0.1']);
    const buildPhase = s.phases.find(p => p.id === 'build');
    expect(buildPhase?.state).toBe('running');
    expect(buildPhase?.detail).toBe(
      'step 3 of 6: RUN pip install -r /tmp/r.txt'
    );
    s = reduce(s, payload('build-done'));
    expect(s.build?.imageId).toBe('sha256:5523456789ab');
    expect(s.build?.size).toBe(123456789);
    s = reduce(s, payload('result-dockerize'));
    expect(s.stage).toBe('built');
    expect(s.image?.notebook).toBe('/work/examples/heart_roc.ipynb');
    expect(s.image?.requirements).toEqual([
      { line: 'scikit-learn==1.5.2', origin: 'import sklearn in cell 3' },
      { line: 'numpy==2.0.1', origin: 'dependency of scikit-learn' }
    ]);
    expect(s.image?.context).toBe(
      '/root/.cache/dockermagic/contexts/heart-roc-latest'
    );
    expect(s.phases.every(p => p.state === 'done')).toBe(true);
    expect(s.phases.map(p => p.id)).toEqual(['saving', 'kernel', 'build']);
  });

  it('a build that fails', () => {
    let s = reduce(start(), payload('build-running'));
    s = reduce(s, payload('build-failed'));
    expect(s.build?.steps[2].state).toBe('failed');
    expect(s.build?.message).toBe(
      "The command '/bin/sh -c pip install' returned a non-zero code: 1"
    );
    expect(s.phases.find(p => p.id === 'build')?.state).toBe('failed');
    s = reduce(s, payload('error-build-failed'));
    expect(s.stage).toBe('failed');
    expect(s.failedOp).toBe('dockerize');
    expect(s.error?.kind).toBe('build-failed');
    expect(s.error?.step).toBe('RUN pip install -r /tmp/r.txt');
  });

  it('a build that is cancelled', () => {
    let s = reduce(start(), payload('build-running'));
    s = reduce(s, { type: 'cancel', at: (t += 10) });
    expect(s.cancelling).toBe(true);
    s = reduce(s, payload('build-interrupted'));
    expect(s.build?.steps[2].state).toBe('interrupted');
    expect(s.phases.find(p => p.id === 'build')?.state).toBe('interrupted');
    s = reduce(s, payload('error-interrupted'));
    expect(s.stage).toBe('cancelled');
    expect(s.cancelling).toBe(false);
    expect(s.error?.message).toBe(
      'interrupted: the build of heart-roc:latest stopped at step 3 of 6'
    );
    expect(s.error?.title).toBe('Build cancelled');
  });

  it('a run with logs, figures and files', () => {
    let s = reduce(start(), payload('build-done'));
    s = reduce(s, payload('result-dockerize'));
    s = reduce(s, { type: 'start-run', at: (t += 10) });
    s = reduce(s, payload('run-running'));
    expect(s.stage).toBe('running');
    expect(s.run?.name).toBe('dm-heart-roc-1a2b3c');
    expect(s.run?.logs).toEqual(['training', 'auc 0.91']);
    s = reduce(s, payload('run-exited'));
    expect(s.run?.outputs).toBe(
      '/work/dockermagic-outputs/heart-roc-20261130-120000'
    );
    s = reduce(s, payload('result-run'));
    expect(s.stage).toBe('ran');
    expect(s.run?.exitCode).toBe(0);
    expect(s.run?.figures[0]).toEqual({
      name: 'figure-001.png',
      path: '/work/dockermagic-outputs/heart-roc-20261130-120000/figures/figure-001.png',
      png: 'iVBORw0KGgo=',
      bytes: 8
    });
    expect(s.run?.files).toEqual(['figures/figure-001.png']);
    expect(s.runSummary?.duration).toBe(3.25);
    const run = s.phases.find(p => p.id === 'run');
    expect(run?.state).toBe('done');
    expect(run?.seconds).toBe(3.25);
    expect(run?.label).toBe('Running dm-heart-roc-1a2b3c');
  });

  it('a run that fails', () => {
    let s = reduce(start(), payload('result-dockerize'));
    s = reduce(s, { type: 'start-run', at: (t += 10) });
    s = reduce(s, payload('run-running'));
    s = reduce(s, payload('error-run-failed'));
    expect(s.stage).toBe('failed');
    expect(s.failedOp).toBe('run');
    expect(s.error?.kind).toBe('run-failed');
    expect(s.error?.details).toContain('ValueError: bad data');
    // the image is still there to run again
    expect(s.image?.tag).toBe('heart-roc:latest');
  });
});

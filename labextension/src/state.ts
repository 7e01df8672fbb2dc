/**
 * The panel's state and how events change it.
 *
 * reduce(state, action) is pure: every time comes in the action (`at`, milliseconds on
 * the front end's clock), so the same actions always give the same state. The panel
 * renders from the state it returns; see view.tsx.
 */

import {
  classifyKernelError,
  classifyPayloadError,
  IErrorInfo,
  transportError
} from './errors';
import {
  BuildPhase,
  IBuildProgress,
  IBuildStep,
  IFigure,
  IImageSummary,
  IRunProgress,
  IRunSummary,
  KernelPayload,
  RunState,
  StepState
} from './protocol';

export type ProgramForm = 'script' | 'notebook' | 'lab';

export const PROGRAM_FORMS: readonly ProgramForm[] = [
  'script',
  'notebook',
  'lab'
];

/** JupyterLab's port in a --form lab image (dockermagic.layout.LAB_PORT). */
export const LAB_PORT = 8888;

export interface IDockerizeOptions {
  tag: string;
  form: ProgramForm;
  runAfter: boolean;
  /** A container port to publish on 127.0.0.1 when the image runs. */
  port: number | null;
}

export type Stage =
  'idle' | 'building' | 'built' | 'running' | 'ran' | 'failed' | 'cancelled';

export type Op = 'dockerize' | 'run';

/** One line of the timeline: a phase of the operation and how long it took. */
export interface IPhaseView {
  /** 'saving', 'kernel', a build phase, 'run-kernel' or 'run'. */
  id: string;
  label: string;
  /** What is happening inside the phase: "RUN pip install …", "2 of 5 layers, 40%". */
  detail: string;
  state: 'running' | 'done' | 'failed' | 'interrupted';
  /** When it started (ms, front end's clock). */
  start: number;
  /** How long it took, once it ended. */
  seconds: number | null;
}

export interface IStepView {
  n: number;
  instruction: string;
  state: StepState;
  seconds: number | null;
  log: string[];
}

export interface IPullView {
  layers: number;
  done: number;
  current: number;
  total: number;
}

export interface IBuildView {
  phase: BuildPhase | 'starting';
  tag: string;
  steps: IStepView[];
  pull: IPullView | null;
  message: string | null;
  imageId: string | null;
  size: number | null;
  changes: string[];
  engineSeconds: number | null;
  /** When the kernel's clock started (ms, front end's clock), from the first snapshot. */
  kernelStart: number | null;
  startedAt: number;
  finishedAt: number | null;
}

export interface IRunView {
  state: RunState;
  name: string | null;
  logs: string[];
  exitCode: number | null;
  outputs: string | null;
  figures: IFigure[];
  /** Files the run wrote, relative to `outputs`. */
  files: string[];
  ports: { [inside: string]: string };
  /** The container was left running (a server with a published port). */
  detached: boolean;
  kernelStart: number | null;
  startedAt: number;
  finishedAt: number | null;
}

export interface IPanelState {
  /** The notebook's path relative to the server root (context.path). */
  notebookPath: string;
  options: IDockerizeOptions | null;
  stage: Stage;
  /** What the last failure or cancel was about. */
  failedOp: Op | null;
  /** The user asked to cancel; the kernel has not answered yet. */
  cancelling: boolean;
  phases: IPhaseView[];
  build: IBuildView | null;
  run: IRunView | null;
  image: IImageSummary | null;
  runSummary: IRunSummary | null;
  error: IErrorInfo | null;
  /** Lines the kernel printed during the call (warnings, notes). */
  stream: string[];
}

/** How many lines of each log the panel keeps. */
export const MAX_LOG_LINES = 200;
export const MAX_STEP_LOG_LINES = 30;

export type Action =
  | { type: 'start-build'; options: IDockerizeOptions; at: number }
  /** The notebook is saved; the request goes to the kernel. */
  | { type: 'saved'; at: number }
  | { type: 'start-run'; at: number }
  /** The kernel began executing our request (it may have been busy with a cell). */
  | { type: 'started'; at: number }
  | { type: 'payload'; payload: KernelPayload; at: number }
  | { type: 'stream'; text: string }
  | {
      type: 'kernel-error';
      ename: string;
      evalue: string;
      traceback?: string[];
      at: number;
    }
  | {
      type: 'transport-error';
      kind: 'no-kernel' | 'kernel-lost';
      message: string;
      at: number;
    }
  /** The user clicked Cancel. */
  | { type: 'cancel'; at: number }
  /** Cancelled before anything was sent to the kernel. */
  | { type: 'aborted'; at: number }
  /** The execute request finished (execute_reply arrived). */
  | { type: 'done'; status: 'ok' | 'error' | 'abort'; at: number };

export function initialState(notebookPath: string): IPanelState {
  return {
    notebookPath,
    options: null,
    stage: 'idle',
    failedOp: null,
    cancelling: false,
    phases: [],
    build: null,
    run: null,
    image: null,
    runSummary: null,
    error: null,
    stream: []
  };
}

/** True while a build or run is under way: a second one must not start. */
export function isBusy(state: IPanelState): boolean {
  return state.stage === 'building' || state.stage === 'running';
}

/** The operation under way (or the last one). */
export function currentOp(state: IPanelState): Op {
  return state.stage === 'running' || state.stage === 'ran' || state.run
    ? 'run'
    : 'dockerize';
}

export const PHASE_LABELS: { [phase: string]: string } = {
  saving: 'Saving the notebook',
  queue: 'Waiting for the kernel (busy with another cell)',
  kernel: 'Starting dockermagic in the kernel',
  capture: 'Reading the notebook',
  requirements: 'Finding the requirements',
  context: 'Writing the build context',
  pull: 'Pulling the base image',
  send: 'Sending the context to the engine',
  build: 'Building',
  'run-queue': 'Waiting for the kernel (busy with another cell)',
  'run-kernel': 'Starting the run in the kernel',
  run: 'Running'
};

function tail<T>(items: T[], n: number): T[] {
  return items.length > n ? items.slice(items.length - n) : items;
}

function seconds(from: number, to: number): number {
  return Math.max(0, Math.round(to - from) / 1000);
}

/** End the running phases (all of them: at most one runs at a time). */
function endPhases(
  phases: IPhaseView[],
  at: number,
  state: IPhaseView['state'] = 'done'
): IPhaseView[] {
  return phases.map(p =>
    p.state === 'running'
      ? { ...p, state, seconds: p.seconds ?? seconds(p.start, at) }
      : p
  );
}

function startPhase(
  phases: IPhaseView[],
  id: string,
  at: number,
  detail = ''
): IPhaseView[] {
  return [
    ...endPhases(phases, at),
    {
      id,
      label: PHASE_LABELS[id] || id,
      detail,
      state: 'running',
      start: at,
      seconds: null
    }
  ];
}

/** The front end's own phases end where the kernel's clock starts. */
function handOver(
  phases: IPhaseView[],
  own: readonly string[],
  kernelStart: number
): IPhaseView[] {
  const mine = phases.filter(ph => own.includes(ph.id));
  const last = mine[mine.length - 1];
  return endPhases(mine, Math.max(kernelStart, last ? last.start : 0));
}

/**
 * The kernel began our request: a wait of more than half a second behind another cell
 * stays on the timeline, a shorter one is dropped.
 */
function reduceStarted(state: IPanelState, at: number): IPanelState {
  const run = state.stage === 'running';
  const queue = run ? 'run-queue' : 'queue';
  const waiting = state.phases.find(
    ph => ph.id === queue && ph.state === 'running'
  );
  if (!waiting) {
    return state;
  }
  const next = run ? 'run-kernel' : 'kernel';
  if (at - waiting.start < 500) {
    const before = state.phases.filter(ph => ph !== waiting);
    return { ...state, phases: startPhase(before, next, waiting.start) };
  }
  return { ...state, phases: startPhase(state.phases, next, at) };
}

function reduceSteps(steps: IBuildStep[]): IStepView[] {
  return steps.map(s => ({
    n: s.n,
    instruction: s.instruction,
    state: s.state,
    seconds: s.seconds,
    log: tail(s.log, MAX_STEP_LOG_LINES)
  }));
}

export function reducePull(pull: IBuildProgress['pull']): IPullView | null {
  const layers = Object.keys(pull || {});
  if (layers.length === 0) {
    return null;
  }
  let done = 0;
  let current = 0;
  let total = 0;
  for (const id of layers) {
    const layer = pull[id];
    const status = (layer.status || '').toLowerCase();
    if (
      status.includes('complete') ||
      status.includes('already exists') ||
      status.includes('downloaded')
    ) {
      done += 1;
    }
    if (typeof layer.total === 'number' && layer.total > 0) {
      total += layer.total;
      current += Math.min(layer.current ?? 0, layer.total);
    }
  }
  return { layers: layers.length, done, current, total };
}

/** "step 3 of 6: RUN pip install …" for the build phase's line. */
function buildDetail(steps: IStepView[]): string {
  if (!steps.length) {
    return '';
  }
  const running = steps.find(s => s.state === 'running');
  const finished = steps.filter(
    s => s.state === 'done' || s.state === 'cached'
  ).length;
  if (!running && finished === steps.length) {
    const cached = steps.filter(s => s.state === 'cached').length;
    return `${steps.length} steps, ${cached} cached`;
  }
  const n = running ? running.n : Math.min(finished + 1, steps.length);
  const step = running || steps[n - 1];
  return `step ${n} of ${steps.length}${step?.instruction ? `: ${step.instruction}` : ''}`;
}

function pullDetail(pull: IPullView | null): string {
  if (!pull) {
    return '';
  }
  const pct = pull.total ? Math.round((100 * pull.current) / pull.total) : null;
  return `${pull.done} of ${pull.layers} layers${pct !== null ? `, ${pct}%` : ''}`;
}

/** The kernel's phases, placed on the front end's clock. */
function kernelPhases(
  p: IBuildProgress,
  kernelStart: number,
  view: IBuildView
): IPhaseView[] {
  const ended =
    p.phase === 'failed' || p.phase === 'interrupted' ? p.phase : null;
  return p.phases.map((ph, i) => {
    const last = i === p.phases.length - 1;
    let state: IPhaseView['state'] = ph.seconds === null ? 'running' : 'done';
    if (last && ended) {
      state = ended;
    } else if (last && p.phase === 'done') {
      state = 'done';
    }
    const detail =
      ph.phase === 'build'
        ? buildDetail(view.steps)
        : ph.phase === 'pull'
          ? pullDetail(view.pull)
          : '';
    return {
      id: ph.phase,
      label: PHASE_LABELS[ph.phase] || ph.phase,
      detail,
      state,
      start: kernelStart + ph.at * 1000,
      seconds: ph.seconds
    };
  });
}

function reduceBuild(
  state: IPanelState,
  p: IBuildProgress,
  at: number
): IPanelState {
  const prev = state.build as IBuildView;
  const kernelStart = prev.kernelStart ?? at - p.elapsed * 1000;
  const build: IBuildView = {
    ...prev,
    phase: p.phase,
    tag: p.tag || prev.tag,
    steps: reduceSteps(p.steps),
    pull: reducePull(p.pull) ?? (p.phase === 'pull' ? prev.pull : null),
    message: p.message,
    imageId: p.image_id ?? prev.imageId,
    size: p.size ?? prev.size,
    changes: p.changes,
    engineSeconds: p.engine_seconds,
    kernelStart
  };
  const phases = [
    ...handOver(state.phases, ['saving', 'queue', 'kernel'], kernelStart),
    ...kernelPhases(p, kernelStart, build)
  ];
  return { ...state, build, phases };
}

function newRun(at: number): IRunView {
  return {
    state: 'starting',
    name: null,
    logs: [],
    exitCode: null,
    outputs: null,
    figures: [],
    files: [],
    ports: {},
    detached: false,
    kernelStart: null,
    startedAt: at,
    finishedAt: null
  };
}

function basename(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

function reduceRun(
  state: IPanelState,
  p: IRunProgress,
  at: number
): IPanelState {
  const prev = state.run as IRunView;
  const kernelStart = prev.kernelStart ?? at - p.elapsed * 1000;
  const run: IRunView = {
    ...prev,
    state: p.state,
    name: p.name || prev.name,
    logs: tail(p.logs, MAX_LOG_LINES),
    exitCode: p.exit_code,
    outputs: p.outputs ?? prev.outputs,
    figures: p.figures.length
      ? p.figures.map(path => ({
          name: basename(path),
          path,
          png: null,
          bytes: null
        }))
      : prev.figures,
    kernelStart
  };
  let phases = state.phases;
  if (!phases.some(ph => ph.id === 'run')) {
    const before = phases.filter(ph => !ph.id.startsWith('run-'));
    const own = handOver(phases, ['run-queue', 'run-kernel'], kernelStart);
    const last = own[own.length - 1];
    phases = startPhase(
      [...before, ...own],
      'run',
      Math.max(kernelStart, last ? last.start + (last.seconds ?? 0) * 1000 : 0)
    );
  }
  const ended =
    p.state === 'exited' || p.state === 'failed' || p.state === 'interrupted';
  phases = phases.map(ph =>
    ph.id === 'run'
      ? {
          ...ph,
          label: `Running ${run.name ?? ''}`.trim(),
          detail: p.state === 'starting' ? 'starting the container' : '',
          state: ended
            ? p.state === 'exited'
              ? 'done'
              : p.state === 'interrupted'
                ? 'interrupted'
                : 'failed'
            : 'running',
          seconds: ended ? p.elapsed : null
        }
      : ph
  );
  return { ...state, run, phases };
}

/** End the operation: failed, or cancelled when the error is an interrupt. */
function fail(
  state: IPanelState,
  error: IErrorInfo,
  at: number,
  op?: Op
): IPanelState {
  const failedOp = op || (state.stage === 'running' ? 'run' : 'dockerize');
  const cancelled = error.kind === 'interrupted';
  const endState: 'interrupted' | 'failed' = cancelled
    ? 'interrupted'
    : 'failed';
  const build: IBuildView | null =
    failedOp === 'dockerize' && state.build
      ? {
          ...state.build,
          phase: cancelled ? ('interrupted' as const) : ('failed' as const),
          // A step still "running" when the build ended is the one that failed (or stopped).
          steps: state.build.steps.map(s =>
            s.state === 'running' ? { ...s, state: endState } : s
          ),
          finishedAt: at
        }
      : state.build;
  const run: IRunView | null =
    failedOp === 'run' && state.run
      ? {
          ...state.run,
          state:
            state.run.state === 'exited' || state.run.state === 'failed'
              ? state.run.state
              : endState,
          finishedAt: at
        }
      : state.run;
  return {
    ...state,
    stage: cancelled ? 'cancelled' : 'failed',
    failedOp,
    cancelling: false,
    error,
    build,
    run,
    phases: endPhases(state.phases, at, endState)
  };
}

function reducePayload(
  state: IPanelState,
  payload: KernelPayload,
  at: number
): IPanelState {
  switch (payload.kind) {
    case 'build':
      // Ignore a late snapshot after the result.
      return state.stage === 'building' && state.build
        ? reduceBuild(state, payload, at)
        : state;
    case 'run':
      return state.stage === 'running' && state.run
        ? reduceRun(state, payload, at)
        : state;
    case 'result':
      if (payload.op === 'dockerize') {
        if (state.stage !== 'building') {
          return state;
        }
        const s = payload.summary;
        const prev = state.build as IBuildView;
        const build: IBuildView = {
          ...prev,
          phase: 'done',
          tag: s.tag || prev.tag,
          imageId: s.image_id ?? prev.imageId,
          size: s.size ?? prev.size,
          finishedAt: at
        };
        return {
          ...state,
          stage: 'built',
          build,
          image: s,
          error: null,
          cancelling: false,
          phases: endPhases(state.phases, at)
        };
      } else {
        if (state.stage !== 'running') {
          return state;
        }
        const s = payload.summary;
        const prev = state.run as IRunView;
        const run: IRunView = {
          ...prev,
          state: s.detached
            ? 'running'
            : s.exit_code === 0
              ? 'exited'
              : 'failed',
          detached: s.detached,
          name: s.name || prev.name,
          logs: s.logs ? tail(s.logs.split('\n'), MAX_LOG_LINES) : prev.logs,
          exitCode: s.exit_code,
          outputs: s.outputs ?? prev.outputs,
          figures: payload.figures.length ? payload.figures : prev.figures,
          files: payload.files,
          ports: s.ports,
          finishedAt: at
        };
        return {
          ...state,
          stage: 'ran',
          run,
          runSummary: s,
          error: null,
          cancelling: false,
          phases: endPhases(state.phases, at)
        };
      }
    case 'error':
      if (!isBusy(state)) {
        return state;
      }
      return fail(state, classifyPayloadError(payload), at, payload.op);
  }
  return state;
}

export function reduce(state: IPanelState, action: Action): IPanelState {
  switch (action.type) {
    case 'start-build':
      return {
        ...initialState(state.notebookPath),
        options: action.options,
        stage: 'building',
        phases: startPhase([], 'saving', action.at),
        build: {
          phase: 'starting',
          tag: action.options.tag,
          steps: [],
          pull: null,
          message: null,
          imageId: null,
          size: null,
          changes: [],
          engineSeconds: null,
          kernelStart: null,
          startedAt: action.at,
          finishedAt: null
        }
      };
    case 'saved':
      if (state.stage !== 'building') {
        return state;
      }
      return { ...state, phases: startPhase(state.phases, 'queue', action.at) };
    case 'start-run':
      if (isBusy(state)) {
        return state;
      }
      return {
        ...state,
        stage: 'running',
        run: newRun(action.at),
        runSummary: null,
        error: null,
        failedOp: null,
        cancelling: false,
        stream: [],
        phases: startPhase(
          // Keep the build's timeline above the run's.
          state.image ? state.phases.filter(p => !p.id.startsWith('run')) : [],
          'run-queue',
          action.at
        )
      };
    case 'started':
      return isBusy(state) ? reduceStarted(state, action.at) : state;
    case 'payload':
      return reducePayload(state, action.payload, action.at);
    case 'stream': {
      if (!isBusy(state)) {
        return state;
      }
      const lines = action.text.replace(/\n$/, '').split('\n');
      return {
        ...state,
        stream: tail([...state.stream, ...lines], MAX_LOG_LINES)
      };
    }
    case 'kernel-error':
      if (!isBusy(state)) {
        return state;
      }
      return fail(
        state,
        classifyKernelError(action.ename, action.evalue, action.traceback),
        action.at
      );
    case 'transport-error':
      if (!isBusy(state)) {
        return state;
      }
      return fail(
        state,
        transportError(action.kind, action.message),
        action.at
      );
    case 'cancel':
      return isBusy(state) ? { ...state, cancelling: true } : state;
    case 'aborted':
      if (!isBusy(state)) {
        return state;
      }
      return fail(
        state,
        {
          kind: 'interrupted',
          title: 'Cancelled',
          message: 'Cancelled before anything was sent to the kernel.',
          hint: null,
          step: null,
          exitCode: null,
          details: []
        },
        action.at
      );
    case 'done':
      // The request ended without a result or error payload: never leave the panel busy.
      if (!isBusy(state)) {
        return state;
      }
      if (state.cancelling || action.status === 'abort') {
        return fail(
          state,
          {
            kind: 'interrupted',
            title: 'Cancelled',
            message: 'The kernel was interrupted.',
            hint: null,
            step: null,
            exitCode: null,
            details: []
          },
          action.at
        );
      }
      return fail(
        state,
        {
          kind: 'internal',
          title: 'No result',
          message: 'The kernel finished without reporting a result.',
          hint: 'Check that the kernel has a current dockermagic ("%pip install -U dockermagic").',
          step: null,
          exitCode: null,
          details: state.stream
        },
        action.at
      );
  }
  return state;
}

/** "123.5 MB": decimal units, as `docker images` shows them. */
export function formatBytes(n: number | null | undefined): string {
  if (typeof n !== 'number' || !isFinite(n) || n < 0) {
    return '';
  }
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let size = n;
  for (const unit of units) {
    if (size < 1000 || unit === 'TB') {
      return unit === 'B'
        ? `${Math.round(size)} B`
        : `${Number(size.toPrecision(4))} ${unit}`;
    }
    size /= 1000;
  }
  return '';
}

/** "4.2s", "1m 05s". */
export function formatSeconds(s: number | null | undefined): string {
  if (typeof s !== 'number' || !isFinite(s)) {
    return '';
  }
  if (s < 60) {
    return `${s.toFixed(1)}s`;
  }
  const m = Math.floor(s / 60);
  const r = Math.floor(s - m * 60);
  return `${m}m ${r.toString().padStart(2, '0')}s`;
}

/** How long a phase has taken, ticking while it runs. */
export function phaseSeconds(phase: IPhaseView, now: number): number {
  return phase.seconds ?? Math.max(0, (now - phase.start) / 1000);
}

/** Wall time of the build (from the click to the result), ticking while it runs. */
export function buildWallSeconds(
  state: IPanelState,
  now: number
): number | null {
  const b = state.build;
  if (!b) {
    return null;
  }
  return Math.max(0, ((b.finishedAt ?? now) - b.startedAt) / 1000);
}

export function runWallSeconds(state: IPanelState, now: number): number | null {
  const r = state.run;
  if (!r) {
    return null;
  }
  return Math.max(0, ((r.finishedAt ?? now) - r.startedAt) / 1000);
}

/** A one-line summary for the panel's header. */
export function headline(state: IPanelState): string {
  const tag = state.image?.tag || state.build?.tag || state.options?.tag || '';
  if (state.cancelling) {
    return state.stage === 'running'
      ? 'Cancelling the run…'
      : 'Cancelling the build…';
  }
  switch (state.stage) {
    case 'idle':
      return 'Ready';
    case 'building': {
      const phase = state.phases[state.phases.length - 1];
      if (!phase) {
        return `Building ${tag}…`;
      }
      if (phase.id === 'build' && phase.detail) {
        return `Building ${tag}: ${phase.detail.replace(/:.*$/, '')}`;
      }
      return `${phase.label}…`;
    }
    case 'built':
      return `Built ${tag}`;
    case 'running':
      return `Running ${tag}…`;
    case 'ran':
      if (state.run?.detached) {
        return `Running in the background: ${state.run.name ?? ''}`.trim();
      }
      return `Run finished (exit code ${state.run?.exitCode ?? '?'})`;
    case 'failed':
      return state.failedOp === 'run' ? 'Run failed' : 'Dockerize failed';
    case 'cancelled':
      return state.failedOp === 'run' ? 'Run cancelled' : 'Build cancelled';
  }
  return '';
}

/**
 * The panel's state and how kernel messages change it.
 *
 * reduce(state, action) is pure: the panel re-renders from the state it returns.
 */

import { IErrorInfo, classifyKernelError, classifyPayloadError, transportError } from './errors';
import { IBuildProgress, IBuildStep, IFigure, IRunProgress, KernelPayload } from './protocol';

export type ProgramForm = 'script' | 'notebook';

export interface IDockerizeOptions {
  tag: string;
  form: ProgramForm;
  runAfter: boolean;
  /** A container port to publish on 127.0.0.1 when the image runs. */
  port: number | null;
}

export type Stage =
  | 'idle'
  | 'saving'
  | 'building'
  | 'built'
  | 'running'
  | 'ran'
  | 'failed';

export interface IStepView {
  n: number;
  instruction: string;
  state: string;
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
  phase: string;
  tag: string | null;
  steps: IStepView[];
  pull: IPullView | null;
  message: string | null;
  imageId: string | null;
  size: number | null;
  elapsed: number | null;
}

export interface IRunView {
  state: string;
  name: string | null;
  logs: string[];
  exitCode: number | null;
  outputs: string | null;
  figures: IFigure[];
  files: string[];
  ports: { [key: string]: any } | null;
  /** The container was left running (a server with a published port). */
  detached: boolean;
}

export interface IPanelState {
  notebookPath: string;
  options: IDockerizeOptions | null;
  stage: Stage;
  /** What the last failure was about: the build or the run. */
  failedOp: 'dockerize' | 'run' | null;
  build: IBuildView | null;
  run: IRunView | null;
  /** Image.to_dict() after a successful build. */
  image: { [key: string]: any } | null;
  /** Run.to_dict() after a finished run. */
  runSummary: { [key: string]: any } | null;
  error: IErrorInfo | null;
  /** Lines the kernel printed to stdout/stderr during the call (warnings, pip notes). */
  stream: string[];
}

/** How many lines of each log the panel keeps. */
export const MAX_LOG_LINES = 200;
export const MAX_STEP_LOG_LINES = 30;

export type Action =
  | { type: 'start-build'; options: IDockerizeOptions }
  | { type: 'start-run' }
  | { type: 'payload'; payload: KernelPayload }
  | { type: 'stream'; text: string }
  | { type: 'kernel-error'; ename: string; evalue: string; traceback?: string[] }
  | { type: 'transport-error'; kind: 'no-kernel' | 'interrupted'; message: string }
  /** The execute request finished (execute_reply arrived). */
  | { type: 'done'; status: 'ok' | 'error' | 'abort' };

export function initialState(notebookPath: string): IPanelState {
  return {
    notebookPath,
    options: null,
    stage: 'idle',
    failedOp: null,
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
  return state.stage === 'saving' || state.stage === 'building' || state.stage === 'running';
}

function tail<T>(items: T[], n: number): T[] {
  return items.length > n ? items.slice(items.length - n) : items;
}

function reduceSteps(steps: IBuildStep[] | undefined, previous: IStepView[]): IStepView[] {
  if (!steps) {
    return previous;
  }
  return steps.map(s => ({
    n: s.n,
    instruction: s.instruction,
    state: s.state,
    seconds: typeof s.seconds === 'number' ? s.seconds : null,
    log: tail(s.log || [], MAX_STEP_LOG_LINES)
  }));
}

export function reducePull(pull: IBuildProgress['pull']): IPullView | null {
  if (!pull) {
    return null;
  }
  const layers = Object.keys(pull);
  if (layers.length === 0) {
    return null;
  }
  let done = 0;
  let current = 0;
  let total = 0;
  for (const id of layers) {
    const layer = pull[id] || {};
    const status = (layer.status || '').toLowerCase();
    if (status.includes('complete') || status.includes('already exists') || status.includes('downloaded')) {
      done += 1;
    }
    if (typeof layer.total === 'number' && layer.total > 0) {
      total += layer.total;
      current += Math.min(typeof layer.current === 'number' ? layer.current : 0, layer.total);
    }
  }
  return { layers: layers.length, done, current, total };
}

function reduceBuild(prev: IBuildView | null, p: IBuildProgress): IBuildView {
  return {
    phase: p.phase,
    tag: p.tag ?? prev?.tag ?? null,
    steps: reduceSteps(p.steps, prev?.steps || []),
    pull: p.pull !== undefined ? reducePull(p.pull) : prev?.pull ?? null,
    message: p.message ?? null,
    imageId: p.image_id ?? prev?.imageId ?? null,
    size: p.size ?? prev?.size ?? null,
    elapsed: p.elapsed ?? prev?.elapsed ?? null
  };
}

function emptyRun(): IRunView {
  return { state: 'starting', name: null, logs: [], exitCode: null, outputs: null, figures: [], files: [], ports: null, detached: false };
}

function reduceRun(prev: IRunView | null, p: IRunProgress): IRunView {
  const base = prev || emptyRun();
  return {
    ...base,
    state: p.state,
    name: p.name ?? base.name,
    logs: p.logs ? tail(p.logs, MAX_LOG_LINES) : base.logs,
    exitCode: p.exit_code ?? base.exitCode,
    outputs: p.outputs ?? base.outputs,
    figures: p.figures ? p.figures.map(path => ({ name: basename(path), path })) : base.figures
  };
}

function basename(path: string): string {
  const parts = path.split(/[\\/]/);
  return parts[parts.length - 1] || path;
}

function fail(state: IPanelState, error: IErrorInfo, op?: 'dockerize' | 'run'): IPanelState {
  const failedOp = op || (state.stage === 'running' ? 'run' : 'dockerize');
  const build =
    failedOp === 'dockerize' && state.build
      ? {
          ...state.build,
          phase: 'failed',
          // A step still "running" when the build failed is the one that failed.
          steps: state.build.steps.map(s => (s.state === 'running' ? { ...s, state: 'failed' } : s))
        }
      : state.build;
  const run = failedOp === 'run' && state.run ? { ...state.run, state: 'failed' } : state.run;
  return { ...state, stage: 'failed', failedOp, error, build, run };
}

function reducePayload(state: IPanelState, payload: KernelPayload): IPanelState {
  switch (payload.kind) {
    case 'build':
      if (state.stage !== 'building') {
        return state; // a late update after the result: ignore
      }
      return { ...state, build: reduceBuild(state.build, payload) };
    case 'run':
      if (state.stage !== 'running') {
        return state;
      }
      return { ...state, run: reduceRun(state.run, payload) };
    case 'result':
      if (payload.op === 'dockerize') {
        const s = payload.summary || {};
        const build: IBuildView = {
          ...(state.build || reduceBuild(null, { kind: 'build', phase: 'done' })),
          phase: 'done',
          tag: s.tag ?? state.build?.tag ?? null,
          imageId: s.image_id ?? state.build?.imageId ?? null,
          size: s.size ?? state.build?.size ?? null
        };
        return { ...state, stage: 'built', build, image: s, error: null };
      } else {
        const s = payload.summary || {};
        const prev = state.run || emptyRun();
        const run: IRunView = {
          ...prev,
          state: s.detached ? 'running' : 'exited',
          detached: !!s.detached,
          name: s.name ?? prev.name,
          logs: typeof s.logs === 'string' ? tail(s.logs.split('\n'), MAX_LOG_LINES) : Array.isArray(s.logs) ? tail(s.logs, MAX_LOG_LINES) : prev.logs,
          exitCode: s.exit_code ?? prev.exitCode,
          outputs: s.outputs ?? prev.outputs,
          figures: payload.figures || prev.figures,
          files: payload.files || prev.files,
          ports: s.ports ?? prev.ports
        };
        return { ...state, stage: 'ran', run, runSummary: s, error: null };
      }
    case 'error':
      return fail(state, classifyPayloadError(payload), payload.op);
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
        build: reduceBuild(null, { kind: 'build', phase: 'starting', tag: action.options.tag, steps: [] })
      };
    case 'start-run':
      return { ...state, stage: 'running', run: emptyRun(), runSummary: null, error: null, failedOp: null, stream: [] };
    case 'payload':
      return reducePayload(state, action.payload);
    case 'stream': {
      const lines = action.text.replace(/\n$/, '').split('\n');
      return { ...state, stream: tail([...state.stream, ...lines], MAX_LOG_LINES) };
    }
    case 'kernel-error':
      if (!isBusy(state)) {
        return state;
      }
      return fail(state, classifyKernelError(action.ename, action.evalue, action.traceback));
    case 'transport-error':
      if (!isBusy(state)) {
        return state;
      }
      return fail(state, transportError(action.kind, action.message));
    case 'done':
      // The request ended without a result or error payload (e.g. aborted): never leave the panel "busy".
      if (!isBusy(state)) {
        return state;
      }
      return fail(
        state,
        action.status === 'ok'
          ? {
              kind: 'internal',
              title: 'No result',
              message: 'The kernel finished without reporting a result.',
              hint: 'Check that the kernel has a current dockermagic ("%pip install -U dockermagic").',
              step: null,
              exitCode: null,
              details: state.stream
            }
          : transportError('interrupted', 'The request was aborted by the kernel.')
      );
  }
  return state;
}

/** "611.3 MB": the same units as the notebook's summary (dockermagic.results.human_size). */
export function formatBytes(n: number | null | undefined): string {
  if (typeof n !== 'number' || !isFinite(n)) {
    return '';
  }
  const units = ['B', 'kB', 'MB', 'GB'];
  let size = n;
  for (const unit of units) {
    if (size < 1024 || unit === 'GB') {
      return unit === 'B' ? `${Math.round(size)} B` : `${size.toFixed(1)} ${unit}`;
    }
    size /= 1024;
  }
  return '';
}

/** "1m 05s" / "4.2s" */
export function formatSeconds(s: number | null | undefined): string {
  if (typeof s !== 'number' || !isFinite(s)) {
    return '';
  }
  if (s < 60) {
    return `${s.toFixed(1)}s`;
  }
  const m = Math.floor(s / 60);
  const r = Math.round(s - m * 60);
  return `${m}m ${r.toString().padStart(2, '0')}s`;
}

/** A one-line summary for the panel's header. */
export function headline(state: IPanelState): string {
  const tag = state.options?.tag || state.build?.tag || '';
  switch (state.stage) {
    case 'idle':
      return 'Ready';
    case 'saving':
      return 'Saving the notebook…';
    case 'building': {
      const phase = state.build?.phase || 'starting';
      const total = state.build?.steps.length || 0;
      const finished = state.build?.steps.filter(s => s.state === 'done' || s.state === 'cached').length || 0;
      if (phase === 'build' && total > 0) {
        return `Building ${tag}: step ${Math.min(finished + 1, total)} of ${total}`;
      }
      const words: { [k: string]: string } = {
        starting: 'Starting',
        requirements: 'Finding requirements',
        context: 'Writing the build context',
        pull: 'Pulling the base image',
        build: 'Building',
        done: 'Finishing'
      };
      return `${words[phase] || phase} ${tag}`.trim() + '…';
    }
    case 'built':
      return `Built ${state.image?.tag || tag}`;
    case 'running':
      return `Running ${state.image?.tag || tag}…`;
    case 'ran':
      if (state.run?.detached) {
        return `Running in the background: ${state.run.name ?? ''}`.trim();
      }
      return `Run finished (exit code ${state.run?.exitCode ?? '?'})`;
    case 'failed':
      return state.failedOp === 'run' ? 'Run failed' : 'Dockerize failed';
  }
  return '';
}

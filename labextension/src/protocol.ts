/**
 * What the kernel side (dockermagic/lab.py) sends to the front end.
 *
 * Every message is the payload of a display_data / update_display_data message under
 * MIME_TYPE: many "build" or "run" progress snapshots under one display id, then exactly
 * one "result" or "error" payload. The types mirror the Python `to_dict()` shapes key for
 * key; test/contract.spec.ts checks them against the payloads the Python contract test
 * writes to test/fixtures/.
 */

export const MIME_TYPE = 'application/vnd.dockermagic.progress+json';

/** What a build is doing (dockermagic.progress.PHASES). */
export type BuildPhase =
  | 'capture'
  | 'requirements'
  | 'context'
  | 'pull'
  | 'send'
  | 'build'
  | 'done'
  | 'failed'
  | 'interrupted';

export type StepState =
  'pending' | 'cached' | 'running' | 'done' | 'failed' | 'interrupted';

/** One Dockerfile step: progress.Step.to_dict(). */
export interface IBuildStep {
  n: number;
  instruction: string;
  state: StepState;
  seconds: number | null;
  log: string[];
}

/** A phase that started `at` seconds into the operation; `seconds` is null while it runs. */
export interface IPhaseTime {
  phase: BuildPhase;
  at: number;
  seconds: number | null;
}

/** Pull progress of one layer of the base image. */
export interface IPullLayer {
  status: string;
  current: number | null;
  total: number | null;
}

/** A build progress snapshot: progress.BuildProgress.to_dict(). */
export interface IBuildProgress {
  kind: 'build';
  phase: BuildPhase;
  phases: IPhaseTime[];
  /** The engine's part: from sending the context to the end (null before it is sent). */
  engine_seconds: number | null;
  tag: string;
  steps: IBuildStep[];
  pull: { [layer: string]: IPullLayer };
  message: string | null;
  image_id: string | null;
  size: number | null;
  /** What changed since the last build of this tag (why steps are rebuilt). */
  changes: string[];
  /** Wall time of the whole operation so far, in seconds. */
  elapsed: number;
}

export type RunState =
  'starting' | 'running' | 'exited' | 'failed' | 'interrupted';

/** A run progress snapshot: progress.RunProgress.to_dict(). */
export interface IRunProgress {
  kind: 'run';
  state: RunState;
  name: string;
  image: string;
  logs: string[];
  exit_code: number | null;
  /** Absolute path (in the kernel) of the run's outputs folder, once copied back. */
  outputs: string | null;
  /** Absolute paths of the PNG figures. */
  figures: string[];
  message: string | null;
  elapsed: number;
}

/** A requirements.txt line and where it came from ("import sklearn in cell 3"). */
export interface IRequirement {
  line: string;
  origin: string;
}

/** A system package the image installs, and why ("libgomp1: needed by sklearn"). */
export interface ISystemPackage {
  package: string;
  reason: string;
}

/** A built image: results.Image.to_dict(). */
export interface IImageSummary {
  tag: string;
  image_id: string | null;
  size: number | null;
  /** Absolute path of the build context (usually outside the server root). */
  context: string | null;
  requirements: IRequirement[];
  source: string;
  base: string;
  notes: string[];
  cached_steps: number[];
  build_seconds: number | null;
  files: string[];
  pushed: string | null;
  compose: string | null;
  /** Absolute path of the notebook in the kernel. */
  notebook: string | null;
  system_packages: ISystemPackage[];
}

/** A finished run: results.Run.to_dict(). */
export interface IRunSummary {
  image: string;
  name: string;
  exit_code: number | null;
  logs: string;
  outputs: string | null;
  /** Absolute paths. */
  files: string[];
  figures: string[];
  /** Published ports: {"5000/tcp": "127.0.0.1:5000"}. */
  ports: { [inside: string]: string };
  duration: number | null;
  detached: boolean;
  timed_out: boolean;
  node: string | null;
}

/** A figure of a run, inlined as base64 PNG by lab.py when small enough. */
export interface IFigure {
  name: string;
  /** Absolute path in the kernel. */
  path: string;
  png: string | null;
  bytes: number | null;
}

export interface IDockerizeResult {
  kind: 'result';
  op: 'dockerize';
  summary: IImageSummary;
}

export interface IRunResult {
  kind: 'result';
  op: 'run';
  summary: IRunSummary;
  figures: IFigure[];
  /** Files the run wrote, relative to summary.outputs. */
  files: string[];
}

export type IResult = IDockerizeResult | IRunResult;

/** Stable error kinds (DockermagicError.kind, plus "internal" for anything else). */
export type KernelErrorKind =
  | 'no-engine'
  | 'usage'
  | 'notebook'
  | 'requirements'
  | 'secret'
  | 'no-image'
  | 'build-failed'
  | 'push-failed'
  | 'run-failed'
  | 'interrupted'
  | 'internal';

/** DockermagicError.to_dict(). */
export interface IKernelError {
  kind: KernelErrorKind;
  /** The exception's class name, for bug reports only: never classify by it. */
  type: string;
  /** One line. */
  message: string;
  step: string | number | null;
  exit_code: number | null;
  hint: string | null;
  /** Lines that explain the message: a failing step's log, a traceback for a bug. */
  details: string[];
}

/** The final message of a failed call. */
export interface IErrorPayload {
  kind: 'error';
  op: 'dockerize' | 'run';
  error: IKernelError;
}

export type KernelPayload =
  IBuildProgress | IRunProgress | IResult | IErrorPayload;

function isObject(value: unknown): value is { [key: string]: unknown } {
  return !!value && typeof value === 'object' && !Array.isArray(value);
}

/** A structural check of what arrives under MIME_TYPE (enough for the reducer to be safe). */
export function isKernelPayload(value: unknown): value is KernelPayload {
  if (!isObject(value)) {
    return false;
  }
  switch (value.kind) {
    case 'build':
      return typeof value.phase === 'string' && Array.isArray(value.steps);
    case 'run':
      return typeof value.state === 'string';
    case 'result':
      return (
        (value.op === 'dockerize' || value.op === 'run') &&
        isObject(value.summary)
      );
    case 'error':
      return (
        (value.op === 'dockerize' || value.op === 'run') &&
        isObject(value.error) &&
        typeof value.error.kind === 'string'
      );
  }
  return false;
}

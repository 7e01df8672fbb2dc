/**
 * What the kernel side (dockermagic/lab.py) sends to the front end.
 *
 * Every message is the payload of a display_data / update_display_data message under
 * MIME_TYPE. The kernel publishes many "build" or "run" progress payloads under one
 * display_id, then exactly one "result" or "error" payload.
 */

export const MIME_TYPE = 'application/vnd.dockermagic.progress+json';

export type StepState = 'pending' | 'cached' | 'running' | 'done' | 'failed';

export interface IBuildStep {
  n: number;
  instruction: string;
  state: StepState | string;
  seconds?: number | null;
  log?: string[];
}

export interface IPullLayer {
  status?: string;
  current?: number | null;
  total?: number | null;
}

/** A build progress snapshot: dockermagic.progress.BuildProgress.to_dict(). */
export interface IBuildProgress {
  kind: 'build';
  phase: string;
  tag?: string | null;
  steps?: IBuildStep[];
  pull?: { [layer: string]: IPullLayer } | null;
  message?: string | null;
  image_id?: string | null;
  size?: number | null;
  elapsed?: number | null;
}

/** A run progress snapshot: dockermagic.progress.RunProgress.to_dict(). */
export interface IRunProgress {
  kind: 'run';
  state: string;
  name?: string | null;
  logs?: string[];
  exit_code?: number | null;
  outputs?: string | null;
  figures?: string[];
}

/** A figure the run produced, inlined as base64 PNG by lab.py. */
export interface IFigure {
  name: string;
  png?: string | null;
  path?: string | null;
  bytes?: number | null;
}

/** The final message of a successful call. */
export interface IResult {
  kind: 'result';
  op: 'dockerize' | 'run';
  /** Image.to_dict() or Run.to_dict(), passed through. */
  summary: { [key: string]: any };
  /** Only for op "run": figures inlined for the panel. */
  figures?: IFigure[];
  /** Only for op "run": files the run wrote (relative to outputs). */
  files?: string[];
}

/** The final message of a failed call (lab.py caught the exception). */
export interface IErrorPayload {
  kind: 'error';
  op: 'dockerize' | 'run';
  /** The exception's class name, e.g. "BuildError". */
  type: string;
  /** Names of the exception's classes, most specific first (to recognise subclasses). */
  mro?: string[];
  /** One line: str(exception). */
  message: string;
  step?: number | string | null;
  exit_code?: number | null;
  log_tail?: string[] | null;
  hint?: string | null;
}

export type KernelPayload = IBuildProgress | IRunProgress | IResult | IErrorPayload;

export function isKernelPayload(value: unknown): value is KernelPayload {
  if (!value || typeof value !== 'object') {
    return false;
  }
  const kind = (value as any).kind;
  return kind === 'build' || kind === 'run' || kind === 'result' || kind === 'error';
}

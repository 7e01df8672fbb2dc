/**
 * Sort a failure into something a person can act on.
 *
 * Failures reach the front end three ways: as an "error" payload from lab.py (it caught
 * the exception), as a kernel "error" message (the import of dockermagic.lab failed, or
 * something escaped), or as a transport problem (no kernel, kernel died, interrupted).
 */

import { IErrorPayload } from './protocol';

export type ErrorKind =
  | 'not-installed' // the kernel has no dockermagic (or an old one without dockermagic.lab)
  | 'no-engine' // no Docker engine answers
  | 'build-failed' // a Dockerfile step failed
  | 'run-failed' // the container could not start or run
  | 'usage' // a user mistake the API reported in one line (bad tag, port taken, ...)
  | 'interrupted' // the kernel was interrupted or restarted
  | 'no-kernel' // the notebook has no kernel
  | 'internal'; // anything else: a bug

export interface IErrorInfo {
  kind: ErrorKind;
  /** A short heading: "Docker engine not reachable". */
  title: string;
  /** The one-line message from the kernel, verbatim. */
  message: string;
  /** What to do about it, if we know. */
  hint: string | null;
  /** The failing build step, if any. */
  step: number | string | null;
  exitCode: number | null;
  /** The last lines of the failing step's log, or a traceback for internal errors. */
  details: string[];
}

export const INSTALL_HINT =
  'Install it into this notebook\'s kernel: run "%pip install dockermagic" in a cell, restart the kernel, and click Dockerize again.';

const ENGINE_HINT =
  'Start Docker (Docker Desktop, or "sudo systemctl start docker") so that "docker info" answers, or set DOCKER_HOST, then try again.';

const ENGINE_PATTERNS = [
  /no (docker )?engine/i,
  /engine (is )?not reachable/i,
  /cannot connect to the docker daemon/i,
  /docker daemon/i,
  /connection (refused|aborted)/i,
  /docker\.sock/i
];

function names(payload: { type: string; mro?: string[] }): string[] {
  return [payload.type, ...(payload.mro || [])];
}

function hasName(list: string[], pattern: RegExp): boolean {
  return list.some(n => pattern.test(n));
}

/** An "error" payload sent by lab.py. */
export function classifyPayloadError(payload: IErrorPayload): IErrorInfo {
  const all = names(payload);
  const message = payload.message || payload.type;
  const base = {
    message,
    step: payload.step ?? null,
    exitCode: payload.exit_code ?? null,
    details: payload.log_tail ? [...payload.log_tail] : []
  };
  if (hasName(all, /^(ModuleNotFoundError|ImportError)$/) && /dockermagic/.test(message)) {
    return { ...base, kind: 'not-installed', title: 'dockermagic is not installed in this kernel', hint: payload.hint || INSTALL_HINT };
  }
  if (
    hasName(all, /Engine(Unavailable|Unreachable|NotFound|Error)?$|NoEngine|DockerNotRunning/) ||
    ENGINE_PATTERNS.some(p => p.test(message))
  ) {
    return { ...base, kind: 'no-engine', title: 'Docker engine not reachable', hint: payload.hint || ENGINE_HINT };
  }
  if (hasName(all, /^BuildError$/)) {
    const where = base.step !== null ? ` at step ${base.step}` : '';
    return {
      ...base,
      kind: 'build-failed',
      title: `Build failed${where}`,
      hint:
        payload.hint ||
        (base.details.length
          ? 'The log of the failing step is below; fix the cause in the notebook and click Dockerize again.'
          : 'Fix the cause and click Build again.')
    };
  }
  if (hasName(all, /^(KeyboardInterrupt)$/)) {
    return { ...base, kind: 'interrupted', title: 'Interrupted', hint: payload.hint || null };
  }
  if (hasName(all, /^(RunError|ContainerError)$/)) {
    return { ...base, kind: 'run-failed', title: 'Run failed', hint: payload.hint || null };
  }
  if (hasName(all, /^(DockermagicError|UsageError)$/)) {
    return { ...base, kind: 'usage', title: payload.op === 'run' ? 'Cannot run the image' : 'Cannot build the image', hint: payload.hint || null };
  }
  return {
    ...base,
    kind: 'internal',
    title: `Unexpected error (${payload.type})`,
    hint: payload.hint || 'This looks like a bug in dockermagic; the details are below.'
  };
}

/** Strip ANSI colour codes from a kernel traceback. */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');
}

/** A kernel "error" message (ename, evalue, traceback) for our request. */
export function classifyKernelError(ename: string, evalue: string, traceback: string[] = []): IErrorInfo {
  const details = traceback.map(stripAnsi);
  if ((ename === 'ModuleNotFoundError' || ename === 'ImportError') && /dockermagic/.test(evalue)) {
    return {
      kind: 'not-installed',
      title: 'dockermagic is not installed in this kernel',
      message: `${ename}: ${evalue}`,
      hint: INSTALL_HINT,
      step: null,
      exitCode: null,
      details: []
    };
  }
  if (ename === 'KeyboardInterrupt') {
    return {
      kind: 'interrupted',
      title: 'Interrupted',
      message: 'The kernel was interrupted; the build or run stopped.',
      hint: null,
      step: null,
      exitCode: null,
      details: []
    };
  }
  // An error lab.py did not catch: treat it like a payload error so the names still help.
  const info = classifyPayloadError({ kind: 'error', op: 'dockerize', type: ename, message: evalue ? `${evalue}` : ename });
  return { ...info, details: info.kind === 'internal' ? details : info.details };
}

/** A problem with the kernel itself, not with what ran in it. */
export function transportError(kind: 'no-kernel' | 'interrupted', message: string): IErrorInfo {
  return {
    kind,
    title: kind === 'no-kernel' ? 'No kernel' : 'Kernel stopped',
    message,
    hint:
      kind === 'no-kernel'
        ? 'Select a kernel for this notebook (Kernel > Change Kernel), then click Dockerize again.'
        : 'The kernel was restarted or died during the operation. Click Dockerize to try again.',
    step: null,
    exitCode: null,
    details: []
  };
}

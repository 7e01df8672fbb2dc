/**
 * Turn a failure into something a person can act on.
 *
 * Failures arrive three ways: an "error" payload from lab.py (classified by its stable
 * `error.kind`), a kernel "error" message (dockermagic.lab could not be imported, or
 * something escaped it), or a problem with the kernel itself (none, restarted, died).
 */

import { IErrorPayload, KernelErrorKind } from './protocol';

/** Kinds only the front end knows about. */
export type FrontEndErrorKind = 'not-installed' | 'no-kernel' | 'kernel-lost';

export type ErrorKind = KernelErrorKind | FrontEndErrorKind;

export interface IErrorInfo {
  kind: ErrorKind;
  /** A short heading: "Docker engine not reachable". */
  title: string;
  /** The one-line message from the kernel, verbatim. */
  message: string;
  /** What to do about it, if known. */
  hint: string | null;
  /** The failing build step, if any. */
  step: number | string | null;
  exitCode: number | null;
  /** A failing step's log, the problems found, or a traceback for a bug. */
  details: string[];
}

export const INSTALL_HINT =
  'Install it into this notebook\'s kernel: run "%pip install dockermagic" in a cell, restart the kernel, and click Dockerize again.';

interface IKindText {
  title: (op: 'dockerize' | 'run') => string;
  /** Used when the kernel sent no hint of its own. */
  hint: string | null;
}

/** Every kernel error kind, each with its heading: adding a kind on the Python side fails type-checking here. */
export const KIND_TEXT: { [K in KernelErrorKind]: IKindText } = {
  'no-engine': {
    title: () => 'Docker engine not reachable',
    hint: 'Start Docker (Docker Desktop, or "sudo systemctl start docker") so that "docker info" answers, or set DOCKER_HOST, then try again.'
  },
  usage: {
    title: op =>
      op === 'run' ? 'Cannot run the image' : 'Cannot build the image',
    hint: null
  },
  notebook: {
    title: () => 'Cannot read the notebook',
    hint: 'Fix the cell named above (or delete it), save, and click Dockerize again.'
  },
  requirements: {
    title: () => 'A requirement cannot be installed in an image',
    hint: null
  },
  secret: {
    title: () => 'The notebook holds a secret',
    hint: 'Read secrets from the environment (os.environ) and pass them when the image runs.'
  },
  'no-image': {
    title: () => 'Image not found',
    hint: 'Build it first (Dockerize), or check the tag.'
  },
  'build-failed': {
    title: () => 'Build failed',
    hint: 'The log of the failing step is below; fix the cause in the notebook and click Build again.'
  },
  'push-failed': {
    title: () => 'Push failed',
    hint: null
  },
  'run-failed': {
    title: () => 'Run failed',
    hint: null
  },
  interrupted: {
    title: op => (op === 'run' ? 'Run cancelled' : 'Build cancelled'),
    hint: null
  },
  internal: {
    title: () => 'Unexpected error',
    hint: 'This looks like a bug in dockermagic; the details are below.'
  }
};

function isKernelKind(kind: string): kind is KernelErrorKind {
  return Object.prototype.hasOwnProperty.call(KIND_TEXT, kind);
}

/** An "error" payload sent by lab.py. */
export function classifyPayloadError(payload: IErrorPayload): IErrorInfo {
  const e = payload.error;
  // A kind this front end does not know yet (a newer kernel side): show it as a bug report.
  const kind: KernelErrorKind = isKernelKind(e.kind) ? e.kind : 'internal';
  const text = KIND_TEXT[kind];
  let title = text.title(payload.op);
  if (kind === 'build-failed' && e.step !== null && e.step !== undefined) {
    title = `Build failed at ${typeof e.step === 'number' ? `step ${e.step}` : e.step}`;
  } else if (kind === 'internal') {
    title = `Unexpected error (${e.type})`;
  }
  return {
    kind,
    title,
    message: e.message || e.type,
    hint: e.hint || text.hint,
    step: e.step ?? null,
    exitCode: e.exit_code ?? null,
    details: [...(e.details || [])]
  };
}

/** Strip ANSI colour codes from a kernel traceback. */
export function stripAnsi(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/\u001b\[[0-9;]*[A-Za-z]/g, '');
}

/**
 * A kernel "error" message for our request: lab.py reports its own errors as payloads,
 * so this is either a missing dockermagic, an interrupt before lab.py took over, or a bug.
 */
export function classifyKernelError(
  ename: string,
  evalue: string,
  traceback: string[] = []
): IErrorInfo {
  const none = { step: null, exitCode: null };
  if (
    (ename === 'ModuleNotFoundError' || ename === 'ImportError') &&
    /dockermagic/.test(evalue)
  ) {
    return {
      ...none,
      kind: 'not-installed',
      title: 'dockermagic is not installed in this kernel',
      message: `${ename}: ${evalue}`,
      hint: INSTALL_HINT,
      details: []
    };
  }
  if (ename === 'KeyboardInterrupt') {
    return {
      ...none,
      kind: 'interrupted',
      title: 'Cancelled',
      message: 'The kernel was interrupted before dockermagic started.',
      hint: null,
      details: []
    };
  }
  return {
    ...none,
    kind: 'internal',
    title: `Unexpected error (${ename})`,
    message: evalue || ename,
    hint: KIND_TEXT.internal.hint,
    details: traceback.map(stripAnsi)
  };
}

/** A problem with the kernel itself, not with what ran in it. */
export function transportError(
  kind: 'no-kernel' | 'kernel-lost',
  message: string
): IErrorInfo {
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

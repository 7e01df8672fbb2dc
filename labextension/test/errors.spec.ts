import {
  classifyKernelError,
  classifyPayloadError,
  INSTALL_HINT,
  KIND_TEXT,
  stripAnsi,
  transportError
} from '../src/errors';
import { IErrorPayload, IKernelError, KernelErrorKind } from '../src/protocol';

function payload(
  error: Partial<IKernelError>,
  op: 'dockerize' | 'run' = 'dockerize'
): IErrorPayload {
  return {
    kind: 'error',
    op,
    error: {
      kind: 'usage',
      type: 'X',
      message: 'm',
      step: null,
      exit_code: null,
      hint: null,
      details: [],
      ...error
    }
  };
}

describe('classifyPayloadError', () => {
  it('maps kinds, never class names', () => {
    // A class name that looks like another kind changes nothing: only `kind` counts.
    const info = classifyPayloadError(
      payload({
        kind: 'usage',
        type: 'EngineUnavailable',
        message: 'docker daemon'
      })
    );
    expect(info.kind).toBe('usage');
    expect(info.title).toBe('Cannot build the image');
  });

  it.each(Object.keys(KIND_TEXT) as KernelErrorKind[])('knows %s', kind => {
    const info = classifyPayloadError(payload({ kind }));
    expect(info.kind).toBe(kind);
    expect(info.title).toBeTruthy();
  });

  it("prefers the kernel's hint", () => {
    expect(
      classifyPayloadError(
        payload({ kind: 'no-engine', hint: 'run scripts/x.sh' })
      ).hint
    ).toBe('run scripts/x.sh');
  });

  it('says which side was cancelled', () => {
    expect(classifyPayloadError(payload({ kind: 'interrupted' })).title).toBe(
      'Build cancelled'
    );
    expect(
      classifyPayloadError(payload({ kind: 'interrupted' }, 'run')).title
    ).toBe('Run cancelled');
    expect(classifyPayloadError(payload({ kind: 'usage' }, 'run')).title).toBe(
      'Cannot run the image'
    );
  });

  it('names the failing step', () => {
    expect(
      classifyPayloadError(payload({ kind: 'build-failed', step: 3 })).title
    ).toBe('Build failed at step 3');
  });

  it('shows a kind it does not know as a bug, with the message', () => {
    const info = classifyPayloadError(
      payload({
        kind: 'brand-new' as KernelErrorKind,
        type: 'NewError',
        message: 'new'
      })
    );
    expect(info.kind).toBe('internal');
    expect(info.title).toBe('Unexpected error (NewError)');
    expect(info.message).toBe('new');
  });
});

describe('classifyKernelError', () => {
  it('recognises a kernel without dockermagic', () => {
    const info = classifyKernelError(
      'ModuleNotFoundError',
      "No module named 'dockermagic'"
    );
    expect(info.kind).toBe('not-installed');
    expect(info.hint).toBe(INSTALL_HINT);
  });

  it('an interrupt before dockermagic took over is a cancel', () => {
    expect(classifyKernelError('KeyboardInterrupt', '').kind).toBe(
      'interrupted'
    );
  });

  it('anything else is a bug, with its traceback', () => {
    const info = classifyKernelError('NameError', 'x', [
      '\u001b[31mTraceback\u001b[0m',
      'NameError: x'
    ]);
    expect(info.kind).toBe('internal');
    expect(info.details).toEqual(['Traceback', 'NameError: x']);
  });
});

describe('helpers', () => {
  it('strips ANSI colours', () => {
    expect(stripAnsi('\u001b[0;31mred\u001b[0m')).toBe('red');
  });

  it('explains kernel problems', () => {
    expect(transportError('no-kernel', 'none').hint).toMatch(/Change Kernel/);
    expect(transportError('kernel-lost', 'gone').title).toBe('Kernel stopped');
  });
});

import { classifyKernelError, classifyPayloadError, INSTALL_HINT, stripAnsi, transportError } from '../src/errors';
import { IErrorPayload } from '../src/protocol';

function payload(p: Partial<IErrorPayload>): IErrorPayload {
  return { kind: 'error', op: 'dockerize', type: 'Exception', message: '', ...p };
}

describe('classifyKernelError', () => {
  it('says how to install dockermagic when the kernel lacks it', () => {
    const info = classifyKernelError('ModuleNotFoundError', "No module named 'dockermagic'", ['\u001b[0;31mTraceback']);
    expect(info.kind).toBe('not-installed');
    expect(info.hint).toBe(INSTALL_HINT);
    expect(info.hint).toContain('%pip install dockermagic');
    expect(info.details).toEqual([]);
  });

  it('treats an old dockermagic without the lab module as not installed', () => {
    expect(classifyKernelError('ModuleNotFoundError', "No module named 'dockermagic.lab'").kind).toBe('not-installed');
  });

  it('does not blame dockermagic for other missing modules', () => {
    const info = classifyKernelError('ModuleNotFoundError', "No module named 'sklearn'", ['tb line']);
    expect(info.kind).toBe('internal');
    expect(info.details).toEqual(['tb line']);
  });

  it('recognises an interrupt', () => {
    expect(classifyKernelError('KeyboardInterrupt', '').kind).toBe('interrupted');
  });

  it('strips ANSI colours from tracebacks', () => {
    const info = classifyKernelError('RuntimeError', 'boom', ['\u001b[0;31mRuntimeError\u001b[0m: boom']);
    expect(info.details).toEqual(['RuntimeError: boom']);
    expect(stripAnsi('\u001b[1;32mok\u001b[0m')).toBe('ok');
  });
});

describe('classifyPayloadError', () => {
  it('recognises an unreachable engine by class', () => {
    const info = classifyPayloadError(
      payload({ type: 'EngineUnavailable', mro: ['EngineUnavailable', 'DockermagicError'], message: 'no Docker engine answers at unix:///var/run/docker.sock' })
    );
    expect(info.kind).toBe('no-engine');
    expect(info.title).toBe('Docker engine not reachable');
    expect(info.message).toContain('no Docker engine');
    expect(info.hint).toMatch(/docker info/);
  });

  it('recognises an unreachable engine by message', () => {
    expect(classifyPayloadError(payload({ type: 'DockerException', message: 'Error while fetching server API version: Connection refused' })).kind).toBe('no-engine');
  });

  it('shows the failing step of a build', () => {
    const info = classifyPayloadError(
      payload({
        type: 'BuildError',
        mro: ['BuildError', 'DockermagicError'],
        message: "step 'RUN pip install -r requirements.txt' exited with code 1: ERROR: No matching distribution found for nosuchpkg",
        step: 'RUN pip install -r requirements.txt',
        exit_code: 1,
        log_tail: ['Collecting nosuchpkg', 'ERROR: No matching distribution found for nosuchpkg'],
        hint: null
      })
    );
    expect(info.kind).toBe('build-failed');
    expect(info.title).toBe('Build failed at step RUN pip install -r requirements.txt');
    expect(info.exitCode).toBe(1);
    expect(info.details).toHaveLength(2);
    expect(info.hint).toMatch(/log of the failing step/);
  });

  it('keeps a hint from the kernel', () => {
    const info = classifyPayloadError(payload({ type: 'BuildError', message: 'x', hint: 'the proxy CA is missing' }));
    expect(info.hint).toBe('the proxy CA is missing');
  });

  it('does not point to a log that is not there', () => {
    const info = classifyPayloadError(payload({ type: 'BuildError', message: 'failed to export image', log_tail: [] }));
    expect(info.hint).not.toMatch(/below/);
  });

  it('treats other DockermagicErrors as usage mistakes', () => {
    const info = classifyPayloadError(payload({ type: 'InvalidTag', mro: ['InvalidTag', 'DockermagicError', 'ValueError'], message: 'bad tag' }));
    expect(info.kind).toBe('usage');
    expect(info.title).toBe('Cannot build the image');
    const run = classifyPayloadError(payload({ op: 'run', type: 'PortInUse', mro: ['PortInUse', 'RunError', 'DockermagicError'], message: 'port 5000 is taken' }));
    expect(run.kind).toBe('run-failed');
  });

  it('calls anything else a bug and keeps the details', () => {
    const info = classifyPayloadError(payload({ type: 'TypeError', mro: ['TypeError'], message: 'oops', log_tail: ['Traceback', 'TypeError: oops'] }));
    expect(info.kind).toBe('internal');
    expect(info.title).toContain('TypeError');
    expect(info.details).toEqual(['Traceback', 'TypeError: oops']);
  });

  it('recognises a missing module reported by lab.py', () => {
    const info = classifyPayloadError(payload({ type: 'ModuleNotFoundError', mro: ['ModuleNotFoundError', 'ImportError'], message: "No module named 'dockermagic.api'" }));
    expect(info.kind).toBe('not-installed');
  });
});

describe('transportError', () => {
  it('explains a missing kernel', () => {
    expect(transportError('no-kernel', 'x').hint).toMatch(/select/i);
    expect(transportError('interrupted', 'x').title).toBe('Kernel stopped');
  });
});

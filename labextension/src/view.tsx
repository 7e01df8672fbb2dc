/**
 * The panel's content as React components over IPanelState.
 *
 * Pure views: everything comes from the state and the actions passed in, so React
 * updates only what changed (a <details> the user opened stays open, a selection in an
 * unchanged line stays). Text is rendered as text, never as HTML.
 */

import * as React from 'react';

import { IFigure } from './protocol';
import { joinPath, serverRoot, toServerPath } from './paths';
import {
  buildWallSeconds,
  formatBytes,
  formatSeconds,
  headline,
  IPanelState,
  IPhaseView,
  IStepView,
  isBusy,
  phaseSeconds,
  runWallSeconds
} from './state';

/** What the panel's buttons and links do; paths are relative to the server root. */
export interface IPanelActions {
  run(): void;
  rebuild(): void;
  cancel(): void;
  openFolder(path: string): void;
  openFile(path: string): void;
  copy(text: string): void;
}

export interface IPanelViewProps {
  state: IPanelState;
  actions: IPanelActions;
  /** The clock (ms); tests pass a fixed one. While busy the view re-renders every second. */
  now?: () => number;
}

const ICONS: { [state: string]: string } = {
  pending: '○',
  cached: '✓',
  running: '◐',
  done: '✓',
  failed: '✗',
  interrupted: '■'
};

/** Re-render every second while `active`, so running times move between messages. */
function useTicker(active: boolean): void {
  const [, setTick] = React.useState(0);
  React.useEffect(() => {
    if (!active) {
      return;
    }
    const id = setInterval(() => setTick(t => t + 1), 1000);
    return () => clearInterval(id);
  }, [active]);
}

/** A <pre> that keeps showing its last line while the user has not scrolled up. */
function FollowLog(props: {
  lines: string[];
  className?: string;
  empty?: string;
}): JSX.Element {
  const ref = React.useRef<HTMLPreElement>(null);
  const pinned = React.useRef(true);
  const text = props.lines.join('\n');
  React.useLayoutEffect(() => {
    const node = ref.current;
    if (node && pinned.current) {
      node.scrollTop = node.scrollHeight;
    }
  }, [text]);
  return (
    <pre
      ref={ref}
      className={`jp-dockermagic-log ${props.className ?? ''}`.trim()}
      onScroll={() => {
        const node = ref.current;
        if (node) {
          pinned.current =
            node.scrollHeight - node.scrollTop - node.clientHeight < 8;
        }
      }}
    >
      {text || props.empty || ''}
    </pre>
  );
}

/** A path: a link that opens it in JupyterLab, or text with a copy button when outside the server root. */
export function PathLink(props: {
  absolute: string;
  root: string | null;
  folder?: boolean;
  label?: string;
  actions: IPanelActions;
}): JSX.Element {
  const rel = toServerPath(props.absolute, props.root);
  if (rel === null) {
    const label = props.label ?? props.absolute;
    return (
      <span className="jp-dockermagic-path jp-mod-outside">
        <code title="Outside the folder JupyterLab serves">{label}</code>
        <button
          className="jp-dockermagic-copy"
          title={`Copy ${props.absolute}`}
          onClick={() => props.actions.copy(props.absolute)}
        >
          Copy
        </button>
      </span>
    );
  }
  const label = props.label ?? (rel || '/');
  const open = (event: React.MouseEvent) => {
    event.preventDefault();
    if (props.folder) {
      props.actions.openFolder(rel);
    } else {
      props.actions.openFile(rel);
    }
  };
  return (
    <a
      href="#"
      className="jp-dockermagic-path jp-dockermagic-link"
      data-path={rel}
      title={`${props.folder ? 'Show in the file browser' : 'Open in JupyterLab'}: ${props.absolute}`}
      onClick={open}
    >
      {label}
    </a>
  );
}

function Phase(props: { phase: IPhaseView; now: number }): JSX.Element {
  const p = props.phase;
  return (
    <li
      className={`jp-dockermagic-phase jp-mod-${p.state}`}
      data-phase={p.id}
      data-state={p.state}
    >
      <span className="jp-dockermagic-icon">{ICONS[p.state] || '·'}</span>
      <span className="jp-dockermagic-phase-label">{p.label}</span>
      <span className="jp-dockermagic-phase-detail" title={p.detail}>
        {p.detail}
      </span>
      <span className="jp-dockermagic-time">
        {formatSeconds(phaseSeconds(p, props.now))}
      </span>
    </li>
  );
}

function Timeline(props: {
  state: IPanelState;
  now: number;
}): JSX.Element | null {
  const { state, now } = props;
  if (!state.phases.length) {
    return null;
  }
  const build = buildWallSeconds(state, now);
  const run = runWallSeconds(state, now);
  const engine = state.build?.engineSeconds;
  return (
    <div className="jp-dockermagic-timeline">
      <ol className="jp-dockermagic-phases">
        {state.phases.map(p => (
          <Phase key={`${p.id}-${p.start}`} phase={p} now={now} />
        ))}
      </ol>
      <div className="jp-dockermagic-times">
        {build !== null && (
          <span className="jp-dockermagic-wall">
            Build: {formatSeconds(build)} in all
          </span>
        )}
        {typeof engine === 'number' && (
          <span className="jp-dockermagic-engine">
            engine: {formatSeconds(engine)}
          </span>
        )}
        {run !== null && (
          <span className="jp-dockermagic-run-wall">
            Run: {formatSeconds(run)}
          </span>
        )}
      </div>
    </div>
  );
}

function Hint(props: { text: string }): JSX.Element {
  // Show "%pip install …" as code the user can copy.
  const m = /"(%pip install [^"]+)"/.exec(props.text);
  if (!m) {
    return <div className="jp-dockermagic-error-hint">{props.text}</div>;
  }
  const [before, after] = props.text.split(m[0]);
  return (
    <div className="jp-dockermagic-error-hint">
      {before}
      <code className="jp-dockermagic-code">{m[1]}</code>
      {after}
    </div>
  );
}

function ErrorBox(props: IPanelViewProps): JSX.Element | null {
  const { state, actions } = props;
  const e = state.error;
  if (!e) {
    return null;
  }
  const cancelled = state.stage === 'cancelled';
  return (
    <div
      className={`jp-dockermagic-error jp-dockermagic-error-${e.kind}${cancelled ? ' jp-mod-cancelled' : ''}`}
      role={cancelled ? 'status' : 'alert'}
    >
      <div className="jp-dockermagic-error-title">{e.title}</div>
      <div className="jp-dockermagic-error-message">{e.message}</div>
      {e.hint && <Hint text={e.hint} />}
      {/* A failed run's log is shown once, in the run's section. */}
      {e.details.length > 0 &&
        !(e.kind === 'run-failed' && state.run?.logs.length) && (
          <FollowLog lines={e.details} />
        )}
      <div className="jp-dockermagic-actions">
        <button
          className="jp-Button jp-mod-styled jp-mod-reject jp-dockermagic-rebuild-button"
          onClick={actions.rebuild}
        >
          Build again
        </button>
        {state.failedOp === 'run' && state.image && (
          <RunButton {...props} label="Run again" />
        )}
      </div>
    </div>
  );
}

function RunButton(props: IPanelViewProps & { label: string }): JSX.Element {
  return (
    <button
      className="jp-Button jp-mod-styled jp-mod-accept jp-dockermagic-run-button"
      disabled={isBusy(props.state)}
      onClick={props.actions.run}
    >
      {props.label}
    </button>
  );
}

function Fact(props: {
  name: string;
  children: React.ReactNode;
}): JSX.Element | null {
  const id = props.name.toLowerCase().replace(/ /g, '-');
  return (
    <tr>
      <th>{props.name}</th>
      <td className={`jp-dockermagic-fact-${id}`}>{props.children}</td>
    </tr>
  );
}

function ImageSummary(
  props: IPanelViewProps & { root: string | null }
): JSX.Element | null {
  const { state, actions, root } = props;
  const img = state.image;
  if (!img) {
    return null;
  }
  const wall = buildWallSeconds(state, props.now ? props.now() : Date.now());
  const engine = state.build?.engineSeconds;
  return (
    <div className="jp-dockermagic-summary">
      <div className="jp-dockermagic-section-title">Image</div>
      <table className="jp-dockermagic-facts">
        <tbody>
          <Fact name="Tag">{img.tag}</Fact>
          {img.image_id && (
            <Fact name="Image ID">
              {img.image_id.replace(/^sha256:/, '').slice(0, 12)}
            </Fact>
          )}
          {img.size !== null && (
            <Fact name="Size">{formatBytes(img.size)}</Fact>
          )}
          <Fact name="Base">{img.base}</Fact>
          {wall !== null && (
            <Fact name="Build time">
              {formatSeconds(wall)}
              {typeof engine === 'number'
                ? ` (engine ${formatSeconds(engine)})`
                : ''}
            </Fact>
          )}
          <Fact name="Program">{img.source}</Fact>
          {img.context && (
            <Fact name="Build context">
              <PathLink
                absolute={img.context}
                root={root}
                folder
                actions={actions}
              />
            </Fact>
          )}
          {img.system_packages.length > 0 && (
            <Fact name="System packages">
              {img.system_packages
                .map(p => `${p.package} (${p.reason})`)
                .join(', ')}
            </Fact>
          )}
          {img.pushed && <Fact name="Pushed">{img.pushed}</Fact>}
        </tbody>
      </table>
      <details className="jp-dockermagic-requirements">
        <summary>Requirements ({img.requirements.length || 'none'})</summary>
        <table className="jp-dockermagic-requirements-table">
          <tbody>
            {img.requirements.map(r => (
              <tr key={r.line}>
                <td>
                  <code>{r.line}</code>
                </td>
                <td className="jp-dockermagic-origin">{r.origin}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </details>
      {img.notes.length > 0 && (
        <ul className="jp-dockermagic-notes">
          {img.notes.map((n, i) => (
            <li key={i}>{n}</li>
          ))}
        </ul>
      )}
      <div className="jp-dockermagic-hint">
        From a terminal:{' '}
        <code className="jp-dockermagic-code">docker run --rm {img.tag}</code>
      </div>
      {(state.stage === 'built' || state.stage === 'ran') && (
        <div className="jp-dockermagic-actions">
          <RunButton
            {...props}
            label={state.stage === 'ran' ? 'Run again' : 'Run'}
          />
        </div>
      )}
    </div>
  );
}

function Lightbox(props: {
  figure: IFigure;
  root: string | null;
  actions: IPanelActions;
  onClose: () => void;
}): JSX.Element {
  const { figure, onClose } = props;
  React.useEffect(() => {
    const onKey = (event: KeyboardEvent) => {
      if (event.key === 'Escape') {
        onClose();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => document.removeEventListener('keydown', onKey);
  }, [onClose]);
  return (
    <div className="jp-dockermagic-lightbox" onClick={onClose} role="dialog">
      <figure onClick={event => event.stopPropagation()}>
        <img src={`data:image/png;base64,${figure.png}`} alt={figure.name} />
        <figcaption>
          <PathLink
            absolute={figure.path}
            root={props.root}
            label={`Open ${figure.name} in JupyterLab`}
            actions={props.actions}
          />
          <button
            className="jp-Button jp-mod-styled jp-mod-reject"
            onClick={onClose}
          >
            Close
          </button>
        </figcaption>
      </figure>
    </div>
  );
}

function RunSection(
  props: IPanelViewProps & { root: string | null }
): JSX.Element | null {
  const { state, actions, root } = props;
  const r = state.run;
  const [enlarged, setEnlarged] = React.useState<IFigure | null>(null);
  const close = React.useCallback(() => setEnlarged(null), []);
  if (!r) {
    return null;
  }
  const name = r.name ?? '';
  const title = r.detached
    ? `Run ${name} (running in the background; stop it with: docker rm -f ${name})`
    : r.exitCode !== null
      ? `Run ${name} (exit code ${r.exitCode})`
      : `Run ${name} (${r.state})`;
  return (
    <div className={`jp-dockermagic-run jp-dockermagic-run-${r.state}`}>
      <div className="jp-dockermagic-section-title">{title}</div>
      {Object.keys(r.ports).length > 0 && (
        <div className="jp-dockermagic-ports">
          Published:{' '}
          {Object.entries(r.ports).map(([inside, outside]) => (
            <span key={inside}>
              <a
                className="jp-dockermagic-code"
                href={`http://${outside}`}
                target="_blank"
                rel="noopener noreferrer"
              >
                http://{outside}
              </a>{' '}
              → {inside}{' '}
            </span>
          ))}
        </div>
      )}
      {r.figures.length > 0 && (
        <div className="jp-dockermagic-figures">
          {r.figures.map(f => (
            <figure className="jp-dockermagic-figure" key={f.path}>
              {f.png && (
                <img
                  src={`data:image/png;base64,${f.png}`}
                  alt={f.name}
                  title="Click to enlarge"
                  onClick={() => setEnlarged(f)}
                />
              )}
              <figcaption>
                <PathLink
                  absolute={f.path}
                  root={root}
                  label={f.name}
                  actions={actions}
                />
                {!f.png && f.bytes ? ' (too large to show here)' : ''}
              </figcaption>
            </figure>
          ))}
        </div>
      )}
      <FollowLog
        lines={r.logs}
        className="jp-dockermagic-run-log"
        empty={isBusy(state) ? '(no output yet)' : '(no output)'}
      />
      {r.outputs && (
        <div className="jp-dockermagic-outputs">
          Outputs:{' '}
          <PathLink absolute={r.outputs} root={root} folder actions={actions} />
        </div>
      )}
      {r.files.length > 0 && r.outputs && (
        <details className="jp-dockermagic-files" open>
          <summary>Files ({r.files.length})</summary>
          <ul>
            {r.files.map(f => (
              <li key={f}>
                <PathLink
                  absolute={joinPath(r.outputs as string, f)}
                  root={root}
                  label={f}
                  actions={actions}
                />
              </li>
            ))}
          </ul>
        </details>
      )}
      {enlarged && enlarged.png && (
        <Lightbox
          figure={enlarged}
          root={root}
          actions={actions}
          onClose={close}
        />
      )}
    </div>
  );
}

function Step(props: { step: IStepView }): JSX.Element {
  const s = props.step;
  const live =
    s.state === 'running' || s.state === 'failed' || s.state === 'interrupted';
  const extra = [s.state === 'cached' ? 'cached' : '', formatSeconds(s.seconds)]
    .filter(Boolean)
    .join(', ');
  const head = (
    <div className="jp-dockermagic-step-head">
      <span className="jp-dockermagic-icon">{ICONS[s.state] || '·'}</span>
      <span className="jp-dockermagic-step-instruction" title={s.instruction}>
        {s.instruction}
      </span>
      <span className="jp-dockermagic-time">{extra}</span>
    </div>
  );
  return (
    <li
      className={`jp-dockermagic-step jp-dockermagic-step-${s.state}`}
      data-state={s.state}
    >
      {head}
      {live && s.log.length > 0 && (
        <FollowLog lines={s.log} className="jp-mod-follow" />
      )}
      {!live && s.log.length > 0 && (
        <details className="jp-dockermagic-step-log">
          <summary>log ({s.log.length} lines)</summary>
          <pre className="jp-dockermagic-log">{s.log.join('\n')}</pre>
        </details>
      )}
    </li>
  );
}

function BuildSteps(props: { state: IPanelState }): JSX.Element | null {
  const { state } = props;
  const b = state.build;
  if (!b || !b.steps.length) {
    return null;
  }
  const open =
    state.stage === 'building' ||
    (state.stage !== 'built' && state.failedOp === 'dockerize');
  return (
    <details className="jp-dockermagic-build" open={open}>
      <summary className="jp-dockermagic-section-title">
        Build steps ({b.steps.length})
      </summary>
      {b.message && b.phase !== 'interrupted' && (
        <div className="jp-dockermagic-message">{b.message}</div>
      )}
      {b.changes.length > 0 && (
        <div className="jp-dockermagic-changes">
          Changed since the last build: {b.changes.join('; ')}
        </div>
      )}
      <ol className="jp-dockermagic-steps">
        {b.steps.map(s => (
          <Step key={s.n} step={s} />
        ))}
      </ol>
    </details>
  );
}

/** The whole panel. */
export function PanelView(props: IPanelViewProps): JSX.Element {
  const { state, actions } = props;
  const busy = isBusy(state);
  useTicker(busy);
  const now = (props.now ?? Date.now)();
  const root = serverRoot(state.image?.notebook, state.notebookPath);
  return (
    <div
      className="jp-dockermagic-panel"
      data-dm-stage={state.stage}
      data-dm-failed-op={state.failedOp ?? ''}
    >
      <div className="jp-dockermagic-header">
        <div
          className={`jp-dockermagic-headline jp-dockermagic-stage-${state.stage}`}
        >
          {headline(state)}
        </div>
        {busy && (
          <button
            className="jp-Button jp-mod-styled jp-mod-warn jp-dockermagic-cancel-button"
            disabled={state.cancelling}
            title="Interrupt the kernel: the build or run stops and what it made is removed"
            onClick={actions.cancel}
          >
            {state.cancelling ? 'Cancelling…' : 'Cancel'}
          </button>
        )}
      </div>
      <div className="jp-dockermagic-notebook">{state.notebookPath}</div>
      <Timeline state={state} now={now} />
      <ErrorBox {...props} />
      <RunSection {...props} root={root} />
      <ImageSummary {...props} root={root} />
      <BuildSteps state={state} />
      {state.stream.length > 0 && (
        <details className="jp-dockermagic-stream">
          <summary>Kernel output ({state.stream.length} lines)</summary>
          <FollowLog lines={state.stream} />
        </details>
      )}
    </div>
  );
}

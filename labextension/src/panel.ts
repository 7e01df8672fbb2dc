/**
 * The panel that shows a build's live progress, its result, and a run's logs and figures.
 *
 * It renders from an IPanelState (see state.ts) with plain DOM: text always goes through
 * textContent, so nothing the kernel sends is interpreted as HTML.
 */

import { Widget } from '@lumino/widgets';

import { Action, formatBytes, formatSeconds, headline, initialState, IPanelState, isBusy, reduce } from './state';

export interface IPanelCallbacks {
  /** The user clicked Run on a built image. */
  onRun(panel: DockermagicPanel): void;
  /** The user clicked "Build again". */
  onRebuild(panel: DockermagicPanel): void;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

const STATE_ICONS: { [state: string]: string } = {
  pending: '○',
  cached: '✓',
  running: '◐',
  done: '✓',
  failed: '✗'
};

export class DockermagicPanel extends Widget {
  constructor(notebookPath: string, private _callbacks: IPanelCallbacks) {
    super();
    this.addClass('jp-dockermagic-panel');
    this._state = initialState(notebookPath);
    this.render();
  }

  get state(): IPanelState {
    return this._state;
  }

  get busy(): boolean {
    return isBusy(this._state);
  }

  dispatch = (action: Action): void => {
    const next = reduce(this._state, action);
    if (next !== this._state) {
      this._state = next;
      this.render();
    }
  };

  /** Rebuild the DOM from the state. */
  render(): void {
    const s = this._state;
    const node = this.node;
    node.dataset.dmStage = s.stage;
    node.dataset.dmFailedOp = s.failedOp || '';
    node.textContent = '';

    const header = el('div', 'jp-dockermagic-header');
    header.appendChild(el('div', `jp-dockermagic-headline jp-dockermagic-stage-${s.stage}`, headline(s)));
    header.appendChild(el('div', 'jp-dockermagic-notebook', s.notebookPath));
    node.appendChild(header);

    if (s.error) {
      node.appendChild(this._renderError());
    }
    if (s.image) {
      node.appendChild(this._renderImage());
    }
    if (s.run) {
      node.appendChild(this._renderRun());
    }
    if (s.build) {
      node.appendChild(this._renderBuild());
    }
    if (s.stream.length) {
      const box = el('details', 'jp-dockermagic-stream');
      box.appendChild(el('summary', undefined, 'Kernel output'));
      box.appendChild(el('pre', 'jp-dockermagic-log', s.stream.join('\n')));
      node.appendChild(box);
    }
    for (const pre of Array.from(node.querySelectorAll('pre.jp-dockermagic-log.jp-mod-follow'))) {
      pre.scrollTop = pre.scrollHeight;
    }
  }

  private _renderError(): HTMLElement {
    const e = this._state.error!;
    const box = el('div', `jp-dockermagic-error jp-dockermagic-error-${e.kind}`);
    box.setAttribute('role', 'alert');
    box.appendChild(el('div', 'jp-dockermagic-error-title', e.title));
    box.appendChild(el('div', 'jp-dockermagic-error-message', e.message));
    if (e.hint) {
      const hint = el('div', 'jp-dockermagic-error-hint');
      // Show "%pip install dockermagic" as code the user can copy.
      const m = /"(%pip install [^"]+)"/.exec(e.hint);
      if (m) {
        const [before, after] = e.hint.split(m[0]);
        hint.appendChild(document.createTextNode(before));
        hint.appendChild(el('code', 'jp-dockermagic-code', m[1]));
        hint.appendChild(document.createTextNode(after));
      } else {
        hint.textContent = e.hint;
      }
      box.appendChild(hint);
    }
    if (e.details.length) {
      box.appendChild(el('pre', 'jp-dockermagic-log', e.details.join('\n')));
    }
    const actions = el('div', 'jp-dockermagic-actions');
    const again = el('button', 'jp-Button jp-mod-styled jp-mod-reject jp-dockermagic-rebuild-button', 'Build again');
    again.onclick = () => this._callbacks.onRebuild(this);
    actions.appendChild(again);
    if (this._state.failedOp === 'run' && this._state.image) {
      actions.appendChild(this._runButton('Run again'));
    }
    box.appendChild(actions);
    return box;
  }

  private _runButton(label: string): HTMLButtonElement {
    const run = el('button', 'jp-Button jp-mod-styled jp-mod-accept jp-dockermagic-run-button', label);
    run.disabled = this.busy;
    run.onclick = () => this._callbacks.onRun(this);
    return run;
  }

  private _renderImage(): HTMLElement {
    const img = this._state.image!;
    const box = el('div', 'jp-dockermagic-summary');
    box.appendChild(el('div', 'jp-dockermagic-section-title', 'Image'));
    const table = el('table', 'jp-dockermagic-facts');
    const facts: [string, string][] = [
      ['Tag', String(img.tag ?? '')],
      ['Image ID', String(img.image_id ?? '').replace(/^sha256:/, '').slice(0, 12)],
      ['Size', formatBytes(img.size)],
      ['Build context', String(img.context ?? '')]
    ];
    if (typeof this._state.build?.elapsed === 'number') {
      facts.push(['Build time', formatSeconds(this._state.build.elapsed)]);
    }
    const reqs: any[] = Array.isArray(img.requirements) ? img.requirements : [];
    facts.push(['Requirements', reqs.length ? `${reqs.length}` : 'none']);
    for (const [k, v] of facts) {
      if (!v) {
        continue;
      }
      const tr = el('tr');
      tr.appendChild(el('th', undefined, k));
      tr.appendChild(el('td', `jp-dockermagic-fact-${k.toLowerCase().replace(/ /g, '-')}`, v));
      table.appendChild(tr);
    }
    box.appendChild(table);
    if (reqs.length) {
      const det = el('details', 'jp-dockermagic-requirements');
      det.appendChild(el('summary', undefined, 'requirements.txt'));
      det.appendChild(el('pre', 'jp-dockermagic-log', reqs.map(r => (typeof r === 'string' ? r : r.line || r.requirement || r.name || JSON.stringify(r))).join('\n')));
      box.appendChild(det);
    }
    const cmd = el('div', 'jp-dockermagic-hint');
    cmd.appendChild(document.createTextNode('From a terminal: '));
    cmd.appendChild(el('code', 'jp-dockermagic-code', `docker run --rm ${img.tag ?? ''}`));
    box.appendChild(cmd);
    const actions = el('div', 'jp-dockermagic-actions');
    if (this._state.stage === 'built' || this._state.stage === 'ran') {
      actions.appendChild(this._runButton(this._state.stage === 'ran' ? 'Run again' : 'Run'));
    }
    box.appendChild(actions);
    return box;
  }

  private _renderRun(): HTMLElement {
    const r = this._state.run!;
    const box = el('div', `jp-dockermagic-run jp-dockermagic-run-${r.state}`);
    const title = r.detached
      ? `Run ${r.name ?? ''} (running in the background; stop it with: docker rm -f ${r.name ?? ''})`
      : r.exitCode !== null
        ? `Run ${r.name ?? ''} (exit code ${r.exitCode})`
        : `Run ${r.name ?? ''} (${r.state})`;
    box.appendChild(el('div', 'jp-dockermagic-section-title', title));
    if (r.ports && Object.keys(r.ports).length) {
      const ports = el('div', 'jp-dockermagic-ports');
      ports.appendChild(document.createTextNode('Published: '));
      for (const [inside, outside] of Object.entries(r.ports)) {
        const link = el('a', 'jp-dockermagic-code', `http://${outside}`);
        link.href = `http://${outside}`;
        link.target = '_blank';
        link.rel = 'noopener';
        ports.appendChild(link);
        ports.appendChild(document.createTextNode(` → ${inside} `));
      }
      box.appendChild(ports);
    }
    if (r.figures.length) {
      const figs = el('div', 'jp-dockermagic-figures');
      for (const f of r.figures) {
        const fig = el('figure', 'jp-dockermagic-figure');
        if (f.png) {
          const img = el('img');
          img.src = `data:image/png;base64,${f.png}`;
          img.alt = f.name;
          fig.appendChild(img);
        }
        fig.appendChild(el('figcaption', undefined, f.png || !f.bytes ? f.name : `${f.name} (too large to show here: ${f.path ?? ''})`));
        figs.appendChild(fig);
      }
      box.appendChild(figs);
    }
    box.appendChild(el('pre', `jp-dockermagic-log jp-dockermagic-run-log${this.busy ? ' jp-mod-follow' : ''}`, r.logs.join('\n') || '(no output yet)'));
    if (r.outputs) {
      box.appendChild(el('div', 'jp-dockermagic-outputs', `Outputs: ${r.outputs}`));
    }
    if (r.files.length) {
      const det = el('details', 'jp-dockermagic-files');
      det.appendChild(el('summary', undefined, `Files (${r.files.length})`));
      det.appendChild(el('pre', 'jp-dockermagic-log', r.files.join('\n')));
      box.appendChild(det);
    }
    return box;
  }

  private _renderBuild(): HTMLElement {
    const b = this._state.build!;
    const building = this._state.stage === 'building';
    // While building, the steps are open; afterwards they fold away under the summary.
    const box = el('details', 'jp-dockermagic-build');
    box.open = building || this._state.failedOp === 'dockerize';
    const summary = el('summary', 'jp-dockermagic-section-title', `Build steps${b.elapsed ? ` (${formatSeconds(b.elapsed)})` : ''}`);
    box.appendChild(summary);
    if (b.message) {
      box.appendChild(el('div', 'jp-dockermagic-message', b.message));
    }
    if (b.pull) {
      const pct = b.pull.total ? Math.round((100 * b.pull.current) / b.pull.total) : null;
      box.appendChild(
        el('div', 'jp-dockermagic-pull', `Pulling base image: ${b.pull.done}/${b.pull.layers} layers${pct !== null ? `, ${pct}%` : ''}`)
      );
    }
    const list = el('ol', 'jp-dockermagic-steps');
    for (const step of b.steps) {
      const li = el('li', `jp-dockermagic-step jp-dockermagic-step-${step.state}`);
      li.dataset.state = step.state;
      const head = el('div', 'jp-dockermagic-step-head');
      head.appendChild(el('span', 'jp-dockermagic-step-icon', STATE_ICONS[step.state] || '·'));
      head.appendChild(el('span', 'jp-dockermagic-step-instruction', step.instruction));
      const extra = [step.state === 'cached' ? 'cached' : '', formatSeconds(step.seconds)].filter(Boolean).join(', ');
      if (extra) {
        head.appendChild(el('span', 'jp-dockermagic-step-time', extra));
      }
      li.appendChild(head);
      if (step.log.length && (step.state === 'running' || step.state === 'failed')) {
        li.appendChild(el('pre', 'jp-dockermagic-log jp-mod-follow', step.log.join('\n')));
      }
      list.appendChild(li);
    }
    box.appendChild(list);
    return box;
  }

  private _state: IPanelState;
}

/**
 * What the Dockerize command, the toolbar button and the panel do for each notebook:
 * ask for the options, save, build (and run) in the notebook's kernel, cancel.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { Clipboard, MainAreaWidget, Notification } from '@jupyterlab/apputils';
import { NotebookPanel } from '@jupyterlab/notebook';

import { dockerizeCode, runCode } from './code';
import { askOptions } from './dialog';
import { dockerIcon } from './icon';
import { executeWithProgress } from './kernel';
import { DockerizeModel } from './model';
import { OptionsMemory } from './options';
import { DockermagicPanel } from './panel';
import { Action, LAB_PORT } from './state';
import { IPanelActions } from './view';

/** One notebook's job: its model, its panel (once shown), and the request in flight. */
interface IJob {
  key: string;
  model: DockerizeModel;
  view: MainAreaWidget<DockermagicPanel> | null;
  /** The kernel has begun executing our current request (so an interrupt reaches it). */
  started: boolean;
}

/** Why a notebook cannot be dockerized right now, or null when it can. */
export function unavailableReason(panel: NotebookPanel | null): string | null {
  if (!panel) {
    return 'Open a notebook to dockerize it';
  }
  const ctx = panel.sessionContext;
  if (ctx.isDisposed || ctx.hasNoKernel || !ctx.session?.kernel) {
    return 'Dockerize needs a kernel: select one for this notebook first';
  }
  if (ctx.session.kernel.status === 'dead') {
    return 'The kernel is dead: restart it to dockerize this notebook';
  }
  return null;
}

export class Dockerizer {
  constructor(
    private _app: JupyterFrontEnd,
    private _memory: OptionsMemory,
    /** Called when what the commands show may have changed (kernel, busy). */
    private _changed: () => void
  ) {}

  /** A stable key for a notebook panel (command arguments must be JSON). */
  keyOf(panel: NotebookPanel): string {
    return this._job(panel).key;
  }

  panelFor(key: string | undefined): NotebookPanel | null {
    return (key && this._panels.get(key)) || null;
  }

  isBusy(panel: NotebookPanel): boolean {
    return this._jobs.get(panel)?.model.busy ?? false;
  }

  /** Build the notebook: the dialog, then save, then the kernel; Run after, if asked. */
  async dockerize(panel: NotebookPanel): Promise<void> {
    const job = this._job(panel);
    if (job.model.busy) {
      // A second click while building: show the build under way, start nothing.
      this._show(job, panel);
      Notification.info(
        'A Dockerize build is already running for this notebook.',
        {
          autoClose: 4000
        }
      );
      return;
    }
    const reason = unavailableReason(panel);
    if (reason) {
      Notification.warning(reason, { autoClose: 5000 });
      return;
    }
    const path = panel.context.path;
    const options = await askOptions(await this._memory.recall(path));
    if (!options || job.model.busy) {
      return;
    }
    void this._memory.remember(path, options).catch(() => undefined);
    const dispatch = job.model.dispatch;
    dispatch({ type: 'start-build', options, at: Date.now() });
    this._show(job, panel);
    try {
      // The image is built from the notebook file: save what the user sees first.
      await panel.context.save();
    } catch (err) {
      dispatch({
        type: 'kernel-error',
        ename: 'SaveError',
        evalue: `The notebook could not be saved: ${String((err as Error)?.message || err)}`,
        at: Date.now()
      });
      return;
    }
    if (job.model.state.cancelling) {
      dispatch({ type: 'aborted', at: Date.now() });
      return;
    }
    dispatch({ type: 'saved', at: Date.now() });
    await this._execute(job, panel, dockerizeCode(path, options));
    if (job.model.state.stage === 'built' && options.runAfter) {
      await this.run(panel);
    }
  }

  /** Run the image this panel built. */
  async run(panel: NotebookPanel): Promise<void> {
    const job = this._job(panel);
    const state = job.model.state;
    const image = state.image?.tag;
    if (!image || job.model.busy) {
      return;
    }
    const port =
      state.options?.port ?? (state.options?.form === 'lab' ? LAB_PORT : null);
    job.model.dispatch({ type: 'start-run', at: Date.now() });
    this._show(job, panel);
    await this._execute(job, panel, runCode(image, port));
  }

  /** Stop the build or run: interrupt the kernel once it is executing our request. */
  async cancel(panel: NotebookPanel): Promise<void> {
    const job = this._jobs.get(panel);
    if (!job || !job.model.busy || job.model.state.cancelling) {
      return;
    }
    job.model.dispatch({ type: 'cancel', at: Date.now() });
    if (job.started) {
      await this._interrupt(panel);
    }
    // Otherwise: still saving (dockerize() stops before the kernel), or queued behind a
    // cell (the interrupt goes out when our request starts, never to the user's cell).
  }

  private async _execute(
    job: IJob,
    panel: NotebookPanel,
    code: string
  ): Promise<void> {
    const kernel = panel.sessionContext.session?.kernel;
    if (!kernel) {
      job.model.dispatch({
        type: 'transport-error',
        kind: 'no-kernel',
        message: 'The notebook has no kernel.',
        at: Date.now()
      });
      return;
    }
    job.started = false;
    const dispatch = (action: Action) => {
      if (
        (action.type === 'started' || action.type === 'payload') &&
        !job.started
      ) {
        job.started = true;
        if (job.model.state.cancelling) {
          void this._interrupt(panel);
        }
      }
      job.model.dispatch(action);
    };
    try {
      await executeWithProgress(kernel, code, dispatch);
    } finally {
      job.started = false;
    }
  }

  private async _interrupt(panel: NotebookPanel): Promise<void> {
    try {
      await panel.sessionContext.session?.kernel?.interrupt();
    } catch (err) {
      Notification.error(
        `Could not interrupt the kernel: ${String((err as Error)?.message || err)}`,
        {
          autoClose: 6000
        }
      );
    }
  }

  private _job(panel: NotebookPanel): IJob {
    let job = this._jobs.get(panel);
    if (job) {
      return job;
    }
    const key = `dockermagic-${++this._counter}`;
    const model = new DockerizeModel(panel.context.path);
    job = { key, model, view: null, started: false };
    this._jobs.set(panel, job);
    this._panels.set(key, panel);
    let busy = false;
    model.changed.connect(() => {
      if (model.busy !== busy) {
        busy = model.busy;
        this._changed();
      }
    });
    panel.context.pathChanged.connect((_, path) => model.setNotebookPath(path));
    // The button's enabled state follows the kernel (commands are only re-checked when told).
    const ctx = panel.sessionContext;
    ctx.kernelChanged.connect(this._changed);
    ctx.statusChanged.connect(this._changed);
    ctx.connectionStatusChanged.connect(this._changed);
    void ctx.ready.then(this._changed, this._changed);
    panel.disposed.connect(() => {
      this._panels.delete(key);
      this._jobs.delete(panel);
      this._changed();
    });
    return job;
  }

  private _show(job: IJob, panel: NotebookPanel): void {
    if (!job.view || job.view.isDisposed) {
      const content = new DockermagicPanel(job.model, this._actions(panel));
      const view = new MainAreaWidget({ content });
      view.id = `${job.key}-panel`;
      view.title.label = `Dockerize: ${panel.title.label}`;
      view.title.icon = dockerIcon;
      view.title.closable = true;
      view.addClass('jp-dockermagic-view');
      job.view = view;
    }
    if (!job.view.isAttached) {
      this._app.shell.add(job.view, 'main', {
        mode: 'split-right',
        ref: panel.id
      });
    }
    this._app.shell.activateById(job.view.id);
  }

  private _actions(panel: NotebookPanel): IPanelActions {
    const commands = this._app.commands;
    return {
      run: () => void this.run(panel),
      rebuild: () => void this.dockerize(panel),
      cancel: () => void this.cancel(panel),
      openFolder: path =>
        void commands.execute('filebrowser:go-to-path', { path: `/${path}` }),
      // Below the panel, so that it stays in view.
      openFile: path => {
        const ref = this._jobs.get(panel)?.view?.id;
        const options = ref ? { mode: 'split-bottom', ref } : {};
        void commands.execute('docmanager:open', { path, options });
      },
      copy: text => {
        Clipboard.copyToSystem(text);
        Notification.info(`Copied ${text}`, { autoClose: 2500 });
      }
    };
  }

  private _counter = 0;
  private _jobs = new Map<NotebookPanel, IJob>();
  private _panels = new Map<string, NotebookPanel>();
}

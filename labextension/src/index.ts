/**
 * dockermagic's JupyterLab front end: a "Dockerize" toolbar button and command.
 *
 * The button saves the notebook, asks for the image tag and options, and calls
 * dockermagic.lab in the notebook's own kernel; a panel shows the live progress.
 */

import { JupyterFrontEnd, JupyterFrontEndPlugin } from '@jupyterlab/application';
import { ICommandPalette, MainAreaWidget, Notification } from '@jupyterlab/apputils';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { CommandToolbarButton, LabIcon } from '@jupyterlab/ui-components';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';

import { dockerizeCode, runCode } from './code';
import { askOptions } from './dialog';
import { BusyGuard } from './guard';
import { executeWithProgress } from './kernel';
import { DockermagicPanel } from './panel';
import { IDockerizeOptions } from './state';
import { sanitizeTag } from './tag';

export const COMMAND_ID = 'dockermagic:dockerize';

const DOCKER_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
<g class="jp-icon3" fill="#616161">
<path d="M2 11h18.5c.4-1 1.6-1.6 2.5-1.2-.2 1-.9 1.6-1.8 1.8C20 17 15.7 20 10 20c-4.4 0-7.4-2.6-8-6.6-.1-.8-.1-1.6 0-2.4z"/>
<rect x="4" y="8" width="2.6" height="2.4"/><rect x="7.2" y="8" width="2.6" height="2.4"/>
<rect x="10.4" y="8" width="2.6" height="2.4"/><rect x="13.6" y="8" width="2.6" height="2.4"/>
<rect x="7.2" y="5" width="2.6" height="2.4"/><rect x="10.4" y="5" width="2.6" height="2.4"/>
<rect x="10.4" y="2" width="2.6" height="2.4"/>
</g></svg>`;

export const dockerIcon = new LabIcon({ name: 'dockermagic:docker', svgstr: DOCKER_SVG });

/** Why a notebook cannot be dockerized right now, or null when it can. */
function unavailableReason(panel: NotebookPanel | null): string | null {
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

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'dockermagic:plugin',
  description: 'A Dockerize button that packages the live notebook into a Docker image.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette],
  activate: (app: JupyterFrontEnd, tracker: INotebookTracker, palette: ICommandPalette | null) => {
    const guard = new BusyGuard();
    /** Each notebook panel gets a key: the toolbar button passes it to the command. */
    const panels = new Map<string, NotebookPanel>();
    const keys = new WeakMap<NotebookPanel, string>();
    const views = new Map<string, MainAreaWidget<DockermagicPanel>>();
    const lastOptions = new Map<string, IDockerizeOptions>();
    let counter = 0;

    const refresh = () => app.commands.notifyCommandChanged(COMMAND_ID);

    const keyOf = (panel: NotebookPanel): string => {
      let key = keys.get(panel);
      if (!key) {
        key = `dockermagic-${++counter}`;
        keys.set(panel, key);
        panels.set(key, panel);
        const ctx = panel.sessionContext;
        // The button's enabled state follows the kernel (see ENVIRONMENT.md: commands are
        // only re-checked when told).
        ctx.kernelChanged.connect(refresh);
        ctx.statusChanged.connect(refresh);
        ctx.connectionStatusChanged.connect(refresh);
        ctx.sessionChanged.connect(refresh);
        void ctx.ready.then(refresh, refresh);
        panel.disposed.connect(() => {
          panels.delete(key!);
          refresh();
        });
      }
      return key;
    };

    const panelFor = (args: any): NotebookPanel | null => {
      const key = args?.key as string | undefined;
      if (key) {
        return panels.get(key) || null;
      }
      return tracker.currentWidget;
    };

    const viewFor = (key: string, panel: NotebookPanel): MainAreaWidget<DockermagicPanel> => {
      let view = views.get(key);
      if (view && !view.isDisposed) {
        return view;
      }
      const content = new DockermagicPanel(panel.context.path, {
        onRun: p => void startRun(key, p),
        onRebuild: () => void app.commands.execute(COMMAND_ID, { key })
      });
      view = new MainAreaWidget({ content });
      view.id = `${key}-panel`;
      view.title.label = `Dockerize: ${panel.title.label}`;
      view.title.icon = dockerIcon;
      view.title.closable = true;
      view.addClass('jp-dockermagic-view');
      views.set(key, view);
      view.disposed.connect(() => views.delete(key));
      return view;
    };

    const show = (view: MainAreaWidget<DockermagicPanel>, panel: NotebookPanel) => {
      if (!view.isAttached) {
        app.shell.add(view, 'main', { mode: 'split-right', ref: panel.id });
      }
      app.shell.activateById(view.id);
    };

    const startRun = async (key: string, content: DockermagicPanel): Promise<void> => {
      const panel = panels.get(key);
      const image = content.state.image?.tag || content.state.options?.tag;
      if (!panel || !image) {
        return;
      }
      if (!guard.tryAcquire(key)) {
        Notification.info('dockermagic is already busy with this notebook.', { autoClose: 4000 });
        return;
      }
      refresh();
      try {
        const kernel = panel.sessionContext.session?.kernel;
        content.dispatch({ type: 'start-run' });
        if (!kernel) {
          content.dispatch({ type: 'transport-error', kind: 'no-kernel', message: 'The notebook has no kernel.' });
          return;
        }
        await executeWithProgress(kernel, runCode(image, content.state.options?.port ?? null), content.dispatch);
      } finally {
        guard.release(key);
        refresh();
      }
    };

    const dockerize = async (panel: NotebookPanel): Promise<void> => {
      const key = keyOf(panel);
      const existing = views.get(key);
      if (guard.isBusy(key)) {
        // A second click while building: show the build that is running, start nothing.
        if (existing && !existing.isDisposed) {
          show(existing, panel);
        }
        Notification.info('A Dockerize build is already running for this notebook.', { autoClose: 4000 });
        return;
      }
      const reason = unavailableReason(panel);
      if (reason) {
        Notification.warning(reason, { autoClose: 5000 });
        return;
      }
      guard.tryAcquire(key);
      refresh();
      try {
        // The image is built from the notebook file: save what the user sees first.
        await panel.context.save();
        const initial: IDockerizeOptions = lastOptions.get(key) || {
          tag: sanitizeTag(panel.context.path),
          form: 'script',
          runAfter: false,
          port: null
        };
        const options = await askOptions(initial);
        if (!options) {
          return;
        }
        lastOptions.set(key, options);
        const view = viewFor(key, panel);
        show(view, panel);
        const content = view.content;
        content.dispatch({ type: 'start-build', options });
        const kernel = panel.sessionContext.session?.kernel;
        if (!kernel) {
          content.dispatch({ type: 'transport-error', kind: 'no-kernel', message: 'The notebook has no kernel.' });
          return;
        }
        await executeWithProgress(kernel, dockerizeCode(panel.context.path, options), content.dispatch);
        if (content.state.stage === 'built' && options.runAfter) {
          guard.release(key);
          await startRun(key, content);
        }
      } catch (err) {
        // Never an unhandled rejection: show it where the user is looking.
        const view = views.get(key);
        const message = String((err as Error)?.message || err);
        if (view && !view.isDisposed && view.content.busy) {
          view.content.dispatch({ type: 'kernel-error', ename: 'Error', evalue: message });
        } else {
          Notification.error(`Dockerize failed: ${message}`, { autoClose: false });
        }
      } finally {
        guard.release(key);
        refresh();
      }
    };

    app.commands.addCommand(COMMAND_ID, {
      label: 'Dockerize',
      caption: args => {
        const panel = panelFor(args);
        const reason = unavailableReason(panel);
        if (reason) {
          return reason;
        }
        if (panel && guard.isBusy(keyOf(panel))) {
          return 'A build is running for this notebook: click to show it';
        }
        return 'Package this notebook into a Docker image (dockermagic)';
      },
      icon: args => (args?.isPalette ? undefined : dockerIcon),
      isEnabled: args => unavailableReason(panelFor(args)) === null,
      execute: async args => {
        const panel = panelFor(args);
        if (!panel) {
          return;
        }
        await dockerize(panel);
      }
    });

    if (palette) {
      palette.addItem({ command: COMMAND_ID, category: 'Notebook Operations', args: { isPalette: true } });
    }

    class ButtonExtension implements DocumentRegistry.IWidgetExtension<NotebookPanel, INotebookModel> {
      createNew(panel: NotebookPanel): IDisposable {
        const key = keyOf(panel);
        const button = new CommandToolbarButton({
          commands: app.commands,
          id: COMMAND_ID,
          args: { key },
          label: 'Dockerize'
        });
        button.addClass('jp-dockermagic-button');
        // Next to the cell type selector; at the end if a customised toolbar has none.
        if (!panel.toolbar.insertAfter('cellType', 'dockermagic', button)) {
          panel.toolbar.addItem('dockermagic', button);
        }
        return new DisposableDelegate(() => button.dispose());
      }
    }
    app.docRegistry.addWidgetExtension('Notebook', new ButtonExtension());

    tracker.currentChanged.connect(refresh);
    tracker.widgetAdded.connect((_, panel) => {
      keyOf(panel);
      refresh();
    });
  }
};

export default plugin;

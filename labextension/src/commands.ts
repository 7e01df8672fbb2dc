/**
 * The commands: Dockerize (toolbar button, palette) and Cancel.
 */

import { JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import { Dockerizer, unavailableReason } from './controller';
import { dockerIcon } from './icon';

export const COMMAND_ID = 'dockermagic:dockerize';
export const CANCEL_ID = 'dockermagic:cancel';

export function addCommands(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  dockerizer: Dockerizer,
  palette: ICommandPalette | null
): void {
  // The toolbar button names its notebook by key; the palette means the current one.
  const panelFor = (args: ReadonlyPartialJSONObject): NotebookPanel | null =>
    typeof args.key === 'string'
      ? dockerizer.panelFor(args.key)
      : tracker.currentWidget;

  app.commands.addCommand(COMMAND_ID, {
    label: 'Dockerize',
    caption: args => {
      const panel = panelFor(args);
      const reason = unavailableReason(panel);
      if (reason) {
        return reason;
      }
      if (panel && dockerizer.isBusy(panel)) {
        return 'A build is running for this notebook: click to show it';
      }
      return 'Package this notebook into a Docker image (dockermagic)';
    },
    icon: args => (args.isPalette ? undefined : dockerIcon),
    isEnabled: args => unavailableReason(panelFor(args)) === null,
    execute: async args => {
      const panel = panelFor(args);
      if (panel) {
        await dockerizer.dockerize(panel);
      }
    }
  });

  app.commands.addCommand(CANCEL_ID, {
    label: 'Cancel the Dockerize build or run',
    caption:
      'Interrupt the kernel: the build or run stops and what it made is removed',
    isEnabled: args => {
      const panel = panelFor(args);
      return !!panel && dockerizer.isBusy(panel);
    },
    execute: async args => {
      const panel = panelFor(args);
      if (panel) {
        await dockerizer.cancel(panel);
      }
    }
  });

  if (palette) {
    const category = 'Notebook Operations';
    palette.addItem({
      command: COMMAND_ID,
      category,
      args: { isPalette: true }
    });
    palette.addItem({
      command: CANCEL_ID,
      category,
      args: { isPalette: true }
    });
  }
}

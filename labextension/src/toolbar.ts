/**
 * The Dockerize button on every notebook's toolbar.
 */

import { CommandRegistry } from '@lumino/commands';
import { DocumentRegistry } from '@jupyterlab/docregistry';
import { INotebookModel, NotebookPanel } from '@jupyterlab/notebook';
import { CommandToolbarButton } from '@jupyterlab/ui-components';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';

import { COMMAND_ID } from './commands';
import { Dockerizer } from './controller';

export class DockerizeButton implements DocumentRegistry.IWidgetExtension<
  NotebookPanel,
  INotebookModel
> {
  constructor(
    private _commands: CommandRegistry,
    private _dockerizer: Dockerizer
  ) {}

  createNew(panel: NotebookPanel): IDisposable {
    const button = new CommandToolbarButton({
      commands: this._commands,
      id: COMMAND_ID,
      args: { key: this._dockerizer.keyOf(panel) },
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

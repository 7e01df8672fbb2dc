/**
 * dockermagic's JupyterLab front end: a "Dockerize" toolbar button and command that
 * package the live notebook into a Docker image in its own kernel, with a live panel.
 */

import {
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { INotebookTracker } from '@jupyterlab/notebook';
import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';

import { addCommands, CANCEL_ID, COMMAND_ID } from './commands';
import { Dockerizer } from './controller';
import { OptionsMemory } from './options';
import { DockerizeButton } from './toolbar';

export { COMMAND_ID, CANCEL_ID };

const PLUGIN_ID = 'dockermagic:plugin';

const plugin: JupyterFrontEndPlugin<void> = {
  id: PLUGIN_ID,
  description:
    'A Dockerize button that packages the live notebook into a Docker image.',
  autoStart: true,
  requires: [INotebookTracker],
  optional: [ICommandPalette, ISettingRegistry, IStateDB],
  activate: async (
    app: JupyterFrontEnd,
    tracker: INotebookTracker,
    palette: ICommandPalette | null,
    registry: ISettingRegistry | null,
    state: IStateDB | null
  ) => {
    const settings = registry
      ? await registry.load(PLUGIN_ID).catch(() => null)
      : null;
    const refresh = () => {
      app.commands.notifyCommandChanged(COMMAND_ID);
      app.commands.notifyCommandChanged(CANCEL_ID);
    };
    const dockerizer = new Dockerizer(
      app,
      new OptionsMemory(state, settings),
      refresh
    );
    addCommands(app, tracker, dockerizer, palette);
    app.docRegistry.addWidgetExtension(
      'Notebook',
      new DockerizeButton(app.commands, dockerizer)
    );
    tracker.currentChanged.connect(refresh);
    tracker.widgetAdded.connect((_, panel) => {
      dockerizer.keyOf(panel);
      refresh();
    });
  }
};

export default plugin;

/**
 * The panel widget: a ReactWidget that re-renders the view whenever the model changes.
 */

import { ReactWidget, UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import { DockerizeModel } from './model';
import { IPanelState } from './state';
import { IPanelActions, PanelView } from './view';

export class DockermagicPanel extends ReactWidget {
  constructor(
    readonly model: DockerizeModel,
    private _actions: IPanelActions
  ) {
    super();
    this.addClass('jp-dockermagic-widget');
  }

  protected render(): JSX.Element {
    return (
      <UseSignal signal={this.model.changed} initialArgs={this.model.state}>
        {(_, state?: IPanelState) => (
          <PanelView
            state={state ?? this.model.state}
            actions={this._actions}
          />
        )}
      </UseSignal>
    );
  }
}

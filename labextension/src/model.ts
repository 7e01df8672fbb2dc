/**
 * One notebook's Dockerize state: the reducer's state plus a signal when it changes.
 *
 * This is the single source of "busy": the command, the toolbar button and the panel all
 * ask the model, which asks the state (isBusy).
 */

import { ISignal, Signal } from '@lumino/signaling';

import { Action, initialState, IPanelState, isBusy, reduce } from './state';

export class DockerizeModel {
  constructor(notebookPath: string) {
    this._state = initialState(notebookPath);
  }

  get state(): IPanelState {
    return this._state;
  }

  get busy(): boolean {
    return isBusy(this._state);
  }

  /** Emitted with the new state after every change. */
  get changed(): ISignal<this, IPanelState> {
    return this._changed;
  }

  dispatch = (action: Action): void => {
    const next = reduce(this._state, action);
    if (next !== this._state) {
      this._state = next;
      this._changed.emit(next);
    }
  };

  /** The notebook was renamed or moved. */
  setNotebookPath(path: string): void {
    if (path !== this._state.notebookPath) {
      this._state = { ...this._state, notebookPath: path };
      this._changed.emit(this._state);
    }
  }

  private _state: IPanelState;
  private _changed = new Signal<this, IPanelState>(this);
}

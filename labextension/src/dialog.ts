/**
 * The "Dockerize" dialog: image tag, program form, run after build, port.
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IDockerizeOptions, ProgramForm } from './state';
import { parsePort, validateTag } from './tag';

export class OptionsBody extends Widget implements Dialog.IBodyWidget<IDockerizeOptions | string> {
  constructor(initial: IDockerizeOptions, error: string | null) {
    super();
    this.addClass('jp-dockermagic-dialog');
    const form = document.createElement('div');
    form.className = 'jp-dockermagic-form';

    this._tag = document.createElement('input');
    this._tag.className = 'jp-mod-styled jp-dockermagic-tag';
    this._tag.name = 'tag';
    this._tag.value = initial.tag;
    this._tag.spellcheck = false;
    form.appendChild(this._row('Image tag', this._tag));

    this._error = document.createElement('div');
    this._error.className = 'jp-dockermagic-dialog-error';
    this._error.textContent = error || '';
    form.appendChild(this._error);
    this._tag.addEventListener('input', () => {
      this._error.textContent = validateTag(this._tag.value) || '';
    });

    this._form = document.createElement('select');
    this._form.className = 'jp-mod-styled jp-dockermagic-form-select';
    this._form.name = 'form';
    for (const [value, label] of [
      ['script', 'Python script (the notebook\'s code, run with python)'],
      ['notebook', 'Notebook (executed with its outputs saved)']
    ]) {
      const opt = document.createElement('option');
      opt.value = value;
      opt.textContent = label;
      this._form.appendChild(opt);
    }
    this._form.value = initial.form;
    form.appendChild(this._row('Program form', this._form));

    this._runAfter = document.createElement('input');
    this._runAfter.type = 'checkbox';
    this._runAfter.className = 'jp-dockermagic-run-after';
    this._runAfter.name = 'runAfter';
    this._runAfter.checked = initial.runAfter;
    form.appendChild(this._row('Run after build', this._runAfter));

    this._port = document.createElement('input');
    this._port.className = 'jp-mod-styled jp-dockermagic-port';
    this._port.name = 'port';
    this._port.placeholder = 'none (e.g. 5000 for a web app)';
    this._port.inputMode = 'numeric';
    this._port.value = initial.port === null ? '' : String(initial.port);
    form.appendChild(this._row('Port to publish', this._port));

    const note = document.createElement('div');
    note.className = 'jp-dockermagic-dialog-note';
    note.textContent = 'The notebook is saved first. The build runs in this notebook\'s kernel; progress appears in a panel.';
    form.appendChild(note);
    this.node.appendChild(form);
  }

  /** The options, or a one-line reason why they are not valid. */
  getValue(): IDockerizeOptions | string {
    const tagError = validateTag(this._tag.value);
    if (tagError) {
      return tagError;
    }
    const port = parsePort(this._port.value);
    if (port.error) {
      return port.error;
    }
    return {
      tag: this._tag.value,
      form: this._form.value as ProgramForm,
      runAfter: this._runAfter.checked,
      port: port.port
    };
  }

  /** The options as typed, even if invalid (to show the dialog again with them). */
  rawValue(previous: IDockerizeOptions): IDockerizeOptions {
    const port = parsePort(this._port.value);
    return {
      tag: this._tag.value,
      form: this._form.value as ProgramForm,
      runAfter: this._runAfter.checked,
      port: port.error ? previous.port : port.port
    };
  }

  private _row(label: string, input: HTMLElement): HTMLElement {
    const row = document.createElement('label');
    row.className = 'jp-dockermagic-row';
    const span = document.createElement('span');
    span.textContent = label;
    row.appendChild(span);
    row.appendChild(input);
    return row;
  }

  private _tag: HTMLInputElement;
  private _form: HTMLSelectElement;
  private _runAfter: HTMLInputElement;
  private _port: HTMLInputElement;
  private _error: HTMLDivElement;
}

/**
 * Ask for the options; null when the user cancels. Invalid input re-opens the dialog with
 * the reason shown.
 */
export async function askOptions(initial: IDockerizeOptions): Promise<IDockerizeOptions | null> {
  let current = initial;
  let error: string | null = null;
  for (;;) {
    const body: OptionsBody = new OptionsBody(current, error);
    const result: Dialog.IResult<IDockerizeOptions | string> = await showDialog<IDockerizeOptions | string>({
      title: 'Dockerize this notebook',
      body,
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Build' })],
      focusNodeSelector: 'input.jp-dockermagic-tag'
    });
    if (!result.button.accept) {
      return null;
    }
    if (typeof result.value === 'object' && result.value !== null) {
      return result.value;
    }
    error = typeof result.value === 'string' ? result.value : 'Invalid options.';
    current = body.rawValue(current);
  }
}

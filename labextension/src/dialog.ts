/**
 * The "Dockerize" dialog: image tag, program form, run after build, port.
 *
 * An invalid tag or port is explained under the field and keeps Build disabled.
 */

import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { IDockerizeOptions, LAB_PORT, ProgramForm } from './state';
import { parsePort, TAG_PATTERN, validateTag } from './tag';

const FORM_LABELS: [ProgramForm, string][] = [
  ['script', "Python script (the notebook's code, run with python)"],
  ['notebook', 'Notebook (executed, with its outputs saved)'],
  ['lab', `JupyterLab with the notebook (served on port ${LAB_PORT})`]
];

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {}
): HTMLElementTagNameMap[K] {
  return Object.assign(document.createElement(tag), props);
}

/** The first problem with the options as typed, or null. */
export function optionsError(tag: string, port: string): string | null {
  return validateTag(tag) || parsePort(port).error;
}

export class OptionsBody
  extends Widget
  implements Dialog.IBodyWidget<IDockerizeOptions | string>
{
  constructor(initial: IDockerizeOptions, error: string | null) {
    super();
    this.addClass('jp-dockermagic-dialog');
    const form = element('div', { className: 'jp-dockermagic-form' });

    this._tag = element('input', {
      className: 'jp-mod-styled jp-dockermagic-tag',
      name: 'tag',
      value: initial.tag,
      spellcheck: false,
      pattern: TAG_PATTERN,
      required: true
    });
    this._tag.setAttribute('aria-describedby', 'jp-dockermagic-dialog-error');
    form.appendChild(this._row('Image tag', this._tag));

    this._error = element('div', {
      className: 'jp-dockermagic-dialog-error',
      id: 'jp-dockermagic-dialog-error',
      textContent: error || ''
    });
    this._error.setAttribute('role', 'alert');
    form.appendChild(this._error);

    this._form = element('select', {
      className: 'jp-mod-styled jp-dockermagic-form-select',
      name: 'form'
    });
    for (const [value, label] of FORM_LABELS) {
      this._form.appendChild(element('option', { value, textContent: label }));
    }
    this._form.value = initial.form;
    form.appendChild(this._row('Program form', this._form));

    this._runAfter = element('input', {
      type: 'checkbox',
      className: 'jp-dockermagic-run-after',
      name: 'runAfter',
      checked: initial.runAfter
    });
    form.appendChild(this._row('Run after build', this._runAfter));

    this._port = element('input', {
      className: 'jp-mod-styled jp-dockermagic-port',
      name: 'port',
      placeholder: 'none (e.g. 5000 for a web app)',
      inputMode: 'numeric',
      pattern: '\\s*[0-9]{0,5}\\s*',
      value: initial.port === null ? '' : String(initial.port)
    });
    form.appendChild(this._row('Port to publish', this._port));

    form.appendChild(
      element('div', {
        className: 'jp-dockermagic-dialog-note',
        textContent:
          "The notebook is saved first. The build runs in this notebook's kernel; a panel shows each step, with Cancel."
      })
    );
    this.node.appendChild(form);

    this._tag.addEventListener('input', this._check);
    this._port.addEventListener('input', this._check);
    this._form.addEventListener('change', () => {
      // JupyterLab in the image listens on its port: publish it unless one is given.
      if (this._form.value === 'lab' && !this._port.value.trim()) {
        this._port.value = String(LAB_PORT);
        this._check();
      }
    });
  }

  /** The options, or a one-line reason why they are not valid. */
  getValue(): IDockerizeOptions | string {
    const error = optionsError(this._tag.value, this._port.value);
    if (error) {
      return error;
    }
    return {
      tag: this._tag.value,
      form: this._form.value as ProgramForm,
      runAfter: this._runAfter.checked,
      port: parsePort(this._port.value).port
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

  protected onAfterAttach(): void {
    this._check();
  }

  /** Explain the first problem and keep Build disabled while there is one. */
  private _check = (): void => {
    const tagError = validateTag(this._tag.value);
    const portError = parsePort(this._port.value).error;
    this._error.textContent = tagError || portError || '';
    this._tag.classList.toggle('jp-mod-error', !!tagError);
    this._tag.setAttribute('aria-invalid', tagError ? 'true' : 'false');
    this._port.classList.toggle('jp-mod-error', !!portError);
    const accept = this.node
      .closest('.jp-Dialog-content')
      ?.querySelector<HTMLButtonElement>('.jp-Dialog-footer .jp-mod-accept');
    if (accept) {
      accept.disabled = !!(tagError || portError);
      accept.title = tagError || portError || '';
    }
  };

  private _row(label: string, input: HTMLElement): HTMLElement {
    const row = element('label', { className: 'jp-dockermagic-row' });
    row.appendChild(element('span', { textContent: label }));
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
 * Ask for the options; null when the user cancels. Should invalid options get through
 * (an older JupyterLab that accepts with Enter anyway), the dialog opens again with the reason.
 */
export async function askOptions(
  initial: IDockerizeOptions
): Promise<IDockerizeOptions | null> {
  let current = initial;
  let error: string | null = null;
  for (;;) {
    const body: OptionsBody = new OptionsBody(current, error);
    const result: Dialog.IResult<IDockerizeOptions | string> = await showDialog<
      IDockerizeOptions | string
    >({
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
    error =
      typeof result.value === 'string' ? result.value : 'Invalid options.';
    current = body.rawValue(current);
  }
}

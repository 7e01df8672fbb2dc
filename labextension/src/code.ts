/**
 * The Python code the front end runs in the notebook's kernel.
 *
 * One expression, no assignment: nothing is left in the user's namespace and, with
 * store_history false, nothing in the kernel's history (dockermagic reads that history).
 */

import { IDockerizeOptions, ProgramForm } from './state';

/** Arguments of dockermagic.lab.dockerize(); see dockermagic/lab.py. */
export interface IDockerizeArgs {
  notebook: string;
  tag: string;
  form: ProgramForm;
}

/** Arguments of dockermagic.lab.run(). */
export interface IRunArgs {
  image: string;
  port: number | null;
}

/** A Python string literal holding `text` (JSON string syntax is valid Python). */
export function pyString(text: string): string {
  // JSON.stringify escapes quotes, backslashes and control characters; U+2028/9 are fine in Python.
  return JSON.stringify(text);
}

function call(func: 'dockerize' | 'run', args: object): string {
  return `__import__('dockermagic.lab').lab.${func}_from_lab(${pyString(JSON.stringify(args))})`;
}

export function dockerizeCode(
  notebookPath: string,
  options: IDockerizeOptions
): string {
  const args: IDockerizeArgs = {
    notebook: notebookPath,
    tag: options.tag,
    form: options.form
  };
  return call('dockerize', args);
}

export function runCode(image: string, port: number | null): string {
  const args: IRunArgs = { image, port };
  return call('run', args);
}

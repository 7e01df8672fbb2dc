/**
 * The dialog's options: remembered per notebook across reloads (the workspace's state
 * database), with defaults from the settings (schema/plugin.json).
 */

import { ISettingRegistry } from '@jupyterlab/settingregistry';
import { IStateDB } from '@jupyterlab/statedb';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';

import {
  IDockerizeOptions,
  LAB_PORT,
  PROGRAM_FORMS,
  ProgramForm
} from './state';
import { parsePort, sanitizeTag } from './tag';

/** The state database key: one entry per notebook path. */
export const STATE_KEY = 'dockermagic:options';

export interface IDefaults {
  form: ProgramForm;
  runAfter: boolean;
  remember: boolean;
}

export const BUILTIN_DEFAULTS: IDefaults = {
  form: 'script',
  runAfter: false,
  remember: true
};

/** The defaults as the settings give them, anything unusable replaced by the built-in ones. */
export function readDefaults(composite: { [key: string]: unknown }): IDefaults {
  const form = composite.defaultForm;
  return {
    form: PROGRAM_FORMS.includes(form as ProgramForm)
      ? (form as ProgramForm)
      : BUILTIN_DEFAULTS.form,
    runAfter:
      typeof composite.runAfterBuild === 'boolean'
        ? composite.runAfterBuild
        : BUILTIN_DEFAULTS.runAfter,
    remember:
      typeof composite.rememberOptions === 'boolean'
        ? composite.rememberOptions
        : BUILTIN_DEFAULTS.remember
  };
}

/** First-time options for a notebook. */
export function freshOptions(
  notebookPath: string,
  defaults: IDefaults
): IDockerizeOptions {
  return {
    tag: sanitizeTag(notebookPath),
    form: defaults.form,
    runAfter: defaults.runAfter,
    port: defaults.form === 'lab' ? LAB_PORT : null
  };
}

/** Options read back from storage, checked field by field (storage may hold anything). */
export function restoreOptions(
  raw: unknown,
  fallback: IDockerizeOptions
): IDockerizeOptions {
  if (!raw || typeof raw !== 'object') {
    return fallback;
  }
  const r = raw as { [key: string]: unknown };
  const port =
    typeof r.port === 'number'
      ? parsePort(String(r.port))
      : { port: null, error: 'none' };
  return {
    tag: typeof r.tag === 'string' && r.tag ? r.tag : fallback.tag,
    form: PROGRAM_FORMS.includes(r.form as ProgramForm)
      ? (r.form as ProgramForm)
      : fallback.form,
    runAfter: typeof r.runAfter === 'boolean' ? r.runAfter : fallback.runAfter,
    port: r.port === null ? null : port.error ? fallback.port : port.port
  };
}

export class OptionsMemory {
  constructor(
    private _db: IStateDB | null,
    private _settings: ISettingRegistry.ISettings | null
  ) {}

  get defaults(): IDefaults {
    return this._settings
      ? readDefaults(this._settings.composite as { [key: string]: unknown })
      : BUILTIN_DEFAULTS;
  }

  /** The options to offer for a notebook: the last ones used, else fresh ones. */
  async recall(notebookPath: string): Promise<IDockerizeOptions> {
    const defaults = this.defaults;
    const fresh = freshOptions(notebookPath, defaults);
    if (!defaults.remember) {
      return fresh;
    }
    const all = await this._all();
    return restoreOptions(all[notebookPath], fresh);
  }

  async remember(
    notebookPath: string,
    options: IDockerizeOptions
  ): Promise<void> {
    if (!this._db || !this.defaults.remember) {
      this._memory[notebookPath] = { ...options };
      return;
    }
    const all = (await this._all()) as {
      [path: string]: ReadonlyPartialJSONObject;
    };
    const entry: ReadonlyPartialJSONObject = { ...options };
    await this._db.save(STATE_KEY, { ...all, [notebookPath]: entry });
  }

  private async _all(): Promise<{ [path: string]: unknown }> {
    if (!this._db) {
      return this._memory;
    }
    try {
      const stored = await this._db.fetch(STATE_KEY);
      return stored && typeof stored === 'object' && !Array.isArray(stored)
        ? (stored as { [path: string]: unknown })
        : {};
    } catch {
      return {};
    }
  }

  /** Without a state database (or when not remembering): this session only. */
  private _memory: { [path: string]: IDockerizeOptions } = {};
}

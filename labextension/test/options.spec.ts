import * as fs from 'fs';
import * as path from 'path';

import {
  BUILTIN_DEFAULTS,
  freshOptions,
  OptionsMemory,
  readDefaults,
  restoreOptions,
  STATE_KEY
} from '../src/options';

const fresh = freshOptions('dir/Heart ROC.ipynb', BUILTIN_DEFAULTS);

describe('options', () => {
  it('start from the notebook name and the defaults', () => {
    expect(fresh).toEqual({
      tag: 'heart-roc',
      form: 'script',
      runAfter: false,
      port: null
    });
    expect(
      freshOptions('x.ipynb', { ...BUILTIN_DEFAULTS, form: 'lab' }).port
    ).toBe(8888);
  });

  it('read the settings, ignoring what they cannot mean', () => {
    expect(
      readDefaults({
        defaultForm: 'notebook',
        runAfterBuild: true,
        rememberOptions: false
      })
    ).toEqual({
      form: 'notebook',
      runAfter: true,
      remember: false
    });
    expect(readDefaults({ defaultForm: 'exe', runAfterBuild: 'yes' })).toEqual(
      BUILTIN_DEFAULTS
    );
  });

  it('the schema has the settings readDefaults reads, with the same defaults', () => {
    const schema = JSON.parse(
      fs.readFileSync(
        path.join(__dirname, '..', 'schema', 'plugin.json'),
        'utf8'
      )
    );
    const defaults = Object.fromEntries(
      Object.entries(
        schema.properties as { [k: string]: { default: unknown } }
      ).map(([k, v]) => [k, v.default])
    );
    expect(readDefaults(defaults)).toEqual(BUILTIN_DEFAULTS);
    expect(schema.properties.defaultForm.enum).toEqual([
      'script',
      'notebook',
      'lab'
    ]);
  });

  it('come back field by field from storage', () => {
    expect(
      restoreOptions(
        { tag: 'x:v1', form: 'notebook', runAfter: true, port: 5000 },
        fresh
      )
    ).toEqual({
      tag: 'x:v1',
      form: 'notebook',
      runAfter: true,
      port: 5000
    });
    expect(
      restoreOptions({ tag: 3, form: 'exe', runAfter: 'y', port: 70000 }, fresh)
    ).toEqual(fresh);
    expect(restoreOptions(null, fresh)).toEqual(fresh);
  });

  it('are remembered per notebook in the state database', async () => {
    const saved: { [key: string]: unknown } = {};
    const db = {
      fetch: async (key: string) => saved[key],
      save: async (key: string, value: unknown) => {
        saved[key] = value;
      }
    };
    // the state database's interface, as far as OptionsMemory uses it
    const memory = new OptionsMemory(db as never, null);
    expect(await memory.recall('a.ipynb')).toEqual(
      freshOptions('a.ipynb', BUILTIN_DEFAULTS)
    );
    await memory.remember('a.ipynb', {
      tag: 'mine:v2',
      form: 'lab',
      runAfter: true,
      port: 8888
    });
    await memory.remember('b.ipynb', {
      tag: 'b',
      form: 'script',
      runAfter: false,
      port: null
    });
    expect(Object.keys(saved[STATE_KEY] as object).sort()).toEqual([
      'a.ipynb',
      'b.ipynb'
    ]);
    // a new memory over the same database: what a reload sees
    const reloaded = new OptionsMemory(db as never, null);
    expect(await reloaded.recall('a.ipynb')).toEqual({
      tag: 'mine:v2',
      form: 'lab',
      runAfter: true,
      port: 8888
    });
  });
});

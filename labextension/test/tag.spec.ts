import { parsePort, sanitizeTag, TAG_PATTERN, validateTag } from '../src/tag';

describe('sanitizeTag', () => {
  it.each([
    ['heart_roc.ipynb', 'heart-roc'],
    ['examples/heart_roc.ipynb', 'heart-roc'],
    ['Heart ROC (final).ipynb', 'heart-roc-final'],
    ['My Notebook.IPYNB', 'my-notebook'],
    ['Untitled1.ipynb', 'untitled1'],
    ['__init__.ipynb', 'init'],
    ['a..b.ipynb', 'a-b'],
    ['a - b.ipynb', 'a-b'],
    ['Café Müller.ipynb', 'cafe-muller'],
    ['数据.ipynb', 'notebook'],
    ['---.ipynb', 'notebook'],
    ['', 'notebook'],
    ['dir.with.dots/x.ipynb', 'x'],
    ['model v2.1.ipynb', 'model-v2-1']
  ])('%s -> %s', (input, expected) => {
    expect(sanitizeTag(input)).toBe(expected);
  });

  it('always produces a valid tag', () => {
    const names = [
      'A',
      'a b c',
      '...x...',
      'x'.repeat(300),
      'ÄÖÜ ß',
      'x:y',
      'tab\there',
      'é-é',
      '_._._',
      'UPPER_lower-Mixed.ipynb'
    ];
    for (const n of names) {
      const tag = sanitizeTag(n);
      expect(validateTag(tag)).toBeNull();
      expect(tag.length).toBeLessThanOrEqual(100);
    }
  });
});

describe('validateTag', () => {
  it.each([
    'heart-roc',
    'heart-roc:v1',
    'heart_roc',
    'a__b',
    'a.b',
    'a---b',
    'team/model:2024-01',
    'localhost:5000/team/model:latest',
    'registry.example.com/x',
    'Registry.Example.com/x',
    'dmtest-lab-abc123:Latest_1.0',
    'x:_v'
  ])('accepts %s', tag => {
    expect(validateTag(tag)).toBeNull();
  });

  it.each([
    ['', 'Enter an image tag, for example "heart-roc" or "heart-roc:v1".'],
    ['  ', 'Enter an image tag, for example "heart-roc" or "heart-roc:v1".'],
    [' heart', 'No spaces: a space at position 1 (use "-" instead).'],
    ['heart roc', 'No spaces: a space at position 6 (use "-" instead).'],
    ['heart\troc', 'No spaces: a tab at position 6 (use "-" instead).'],
    [
      'Heart',
      '"H" at position 1: image names must be lowercase (only the version after ":" may have capitals).'
    ],
    [
      'team/heArt:v1',
      '"A" at position 8: image names must be lowercase (only the version after ":" may have capitals).'
    ],
    [
      'heart!',
      '"!" at position 6 is not allowed: a name holds lowercase letters and digits, with one ".", one or two "_", or dashes between them, and "/" between parts.'
    ],
    [
      '-heart',
      '"-" at position 1: a name must start with a letter or a digit.'
    ],
    ['heart-', '"-" at position 6: a name must end with a letter or a digit.'],
    [
      'heart___roc',
      '"___" at position 6: between letters and digits use one ".", one or two "_", or dashes.'
    ],
    [
      'heart..roc',
      '".." at position 6: between letters and digits use one ".", one or two "_", or dashes.'
    ],
    [
      'heart//roc',
      'Empty name part at position 7: no "/" at the start or the end, and no "//".'
    ],
    [
      'heart:',
      'Nothing after ":" at position 6: give a version, as in "heart-roc:v1", or leave out the ":".'
    ],
    [
      'heart:-v1',
      '"-" at position 7: the version must start with a letter, a digit or "_".'
    ],
    [
      'heart:v1:v2',
      'Only one ":" is allowed after the name (position 9): it separates the name from the version.'
    ],
    [
      'heart:v1+2',
      '"+" at position 9 is not allowed: the version after ":" holds letters, digits, "_", "." and "-" (not first).'
    ],
    [
      'heart@sha256:abc',
      '"@" at position 6: a digest names an image that exists; to build, give a tag such as "heart-roc:v1".'
    ],
    [
      'local_host:5000/x',
      '"_" at position 6 is not allowed in the registry address "local_host:5000".'
    ],
    [
      'localhost:http/x',
      'The registry port "http" must be a number, as in "localhost:5000/name".'
    ],
    [
      'heart:' + 'v'.repeat(129),
      'The version after ":" has 129 characters (at most 128).'
    ],
    [
      'a/'.repeat(130) + 'a',
      'The tag is too long: 261 characters (at most 255).'
    ]
  ])('explains %j', (tag, reason) => {
    expect(validateTag(tag)).toBe(reason);
  });

  it('agrees with the <input pattern> the dialog uses (compiled as browsers do, with the v flag)', () => {
    const pattern = new RegExp(`^(?:${TAG_PATTERN})$`, 'v');
    for (const tag of [
      'heart-roc',
      'a__b',
      'localhost:5000/team/model:latest',
      'x:_v',
      'Heart',
      'a b',
      'heart-',
      'x:-v',
      'h!'
    ]) {
      expect(pattern.test(tag)).toBe(validateTag(tag) === null);
    }
  });
});

describe('parsePort', () => {
  it('treats empty as no port', () => {
    expect(parsePort('')).toEqual({ port: null, error: null });
    expect(parsePort('  ')).toEqual({ port: null, error: null });
  });
  it('parses a port', () => {
    expect(parsePort(' 5000 ')).toEqual({ port: 5000, error: null });
  });
  it.each(['0', '65536', 'abc', '50.5', '-1', '80:80'])('rejects %s', text => {
    expect(parsePort(text).error).toMatch(/between 1 and 65535/);
  });
});

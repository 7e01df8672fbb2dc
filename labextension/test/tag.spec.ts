import { parsePort, sanitizeTag, validateTag } from '../src/tag';

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
    const names = ['A', 'a b c', '...x...', 'x'.repeat(300), 'ÄÖÜ ß', 'x:y', 'tab\there', 'é-é', '_._._', 'UPPER_lower-Mixed.ipynb'];
    for (const n of names) {
      const tag = sanitizeTag(n);
      expect(validateTag(tag)).toBeNull();
      expect(tag.length).toBeLessThanOrEqual(100);
    }
  });
});

describe('validateTag', () => {
  it.each(['heart-roc', 'heart-roc:v1', 'heart_roc', 'a__b', 'a.b', 'team/model:2024-01', 'localhost:5000/team/model:latest', 'registry.example.com/x', 'dmtest-lab-abc123:Latest_1.0'])(
    'accepts %s',
    tag => {
      expect(validateTag(tag)).toBeNull();
    }
  );

  it.each([
    ['', /Enter an image tag/],
    ['  ', /Enter an image tag/],
    [' heart', /spaces/],
    ['Heart', /lowercase/],
    ['team/Heart:v1', /lowercase/],
    ['heart roc', /spaces/],
    ['-heart', /Not a valid/],
    ['heart-', /Not a valid/],
    ['heart:', /Not a valid/],
    ['heart:-v1', /Not a valid/],
    ['heart___roc', /Not a valid/],
    ['heart:' + 'v'.repeat(129), /at most 128/],
    ['a/'.repeat(130) + 'a', /too long/]
  ])('rejects %j', (tag, reason) => {
    expect(validateTag(tag)).toMatch(reason);
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

import { joinPath, serverRoot, toServerPath } from '../src/paths';

describe('serverRoot', () => {
  it.each([
    ['/srv/root/heart_roc.ipynb', 'heart_roc.ipynb', '/srv/root'],
    ['/srv/root/sub/dir/nb.ipynb', 'sub/dir/nb.ipynb', '/srv/root'],
    ['/nb.ipynb', 'nb.ipynb', '/'],
    ['/srv/root/nb.ipynb', '/nb.ipynb', '/srv/root']
  ])('%s served as %s -> %s', (abs, rel, root) => {
    expect(serverRoot(abs, rel)).toBe(root);
  });

  it('is unknown when the paths do not end alike', () => {
    expect(serverRoot('/srv/root/other.ipynb', 'nb.ipynb')).toBeNull();
    expect(serverRoot('/srv/root/xnb.ipynb', 'nb.ipynb')).toBeNull();
    expect(serverRoot(null, 'nb.ipynb')).toBeNull();
  });
});

describe('toServerPath', () => {
  it('makes paths under the root relative', () => {
    expect(
      toServerPath('/srv/root/dockermagic-outputs/run-1', '/srv/root')
    ).toBe('dockermagic-outputs/run-1');
    expect(toServerPath('/srv/root', '/srv/root')).toBe('');
    expect(toServerPath('/srv/root/a/b.csv', '/')).toBe('srv/root/a/b.csv');
  });

  it('refuses paths outside the root', () => {
    expect(
      toServerPath('/root/.cache/dockermagic/contexts/x', '/srv/root')
    ).toBeNull();
    expect(toServerPath('/srv/rootless/x', '/srv/root')).toBeNull();
    expect(toServerPath('/srv/root/../etc/passwd', '/srv/root')).toBeNull();
    expect(toServerPath('/srv/root/x', null)).toBeNull();
  });

  it('works with the paths of the fixtures', () => {
    const root = serverRoot(
      '/work/examples/heart_roc.ipynb',
      'examples/heart_roc.ipynb'
    );
    expect(root).toBe('/work');
    expect(
      toServerPath('/work/dockermagic-outputs/heart-roc-20261130-120000', root)
    ).toBe('dockermagic-outputs/heart-roc-20261130-120000');
  });
});

describe('joinPath', () => {
  it('joins with one slash', () => {
    expect(joinPath('/a/b/', 'figures/f.png')).toBe('/a/b/figures/f.png');
    expect(joinPath('', 'f.png')).toBe('f.png');
  });
});

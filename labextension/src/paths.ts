/**
 * From the kernel's absolute paths to paths JupyterLab can open.
 *
 * The kernel reports absolute paths (the notebook, the outputs folder, figures); JupyterLab
 * opens paths relative to the server root. The notebook is known both ways (absolute in the
 * build's summary, server-relative as the panel's context.path), which gives the root.
 */

function trimSlashes(path: string): string {
  return path.replace(/\\/g, '/').replace(/\/+$/, '');
}

/**
 * The server root as an absolute path in the kernel, or null when it cannot be told
 * (the notebook's two paths do not end alike, e.g. a symlinked folder).
 */
export function serverRoot(
  notebookAbsolute: string | null | undefined,
  notebookServerPath: string
): string | null {
  if (!notebookAbsolute) {
    return null;
  }
  const abs = trimSlashes(notebookAbsolute);
  const rel = trimSlashes(notebookServerPath).replace(/^\/+/, '');
  if (!rel) {
    return null;
  }
  if (abs === `/${rel}`) {
    return '/';
  }
  if (!abs.endsWith(`/${rel}`)) {
    return null;
  }
  return abs.slice(0, abs.length - rel.length - 1) || '/';
}

/**
 * `absolute` relative to the server root ("" for the root itself), or null when it is
 * outside the root (or the root is unknown): then it can only be shown as text.
 */
export function toServerPath(
  absolute: string | null | undefined,
  root: string | null
): string | null {
  if (!absolute || root === null) {
    return null;
  }
  const abs = trimSlashes(absolute);
  const base = trimSlashes(root);
  if (base === '') {
    // the root is "/"
    return abs.startsWith('/') ? abs.slice(1) : null;
  }
  if (abs === base) {
    return '';
  }
  if (!abs.startsWith(`${base}/`)) {
    return null;
  }
  const rel = abs.slice(base.length + 1);
  // "a/../../b" would climb out of the root
  return rel.split('/').includes('..') ? null : rel;
}

/** Join a folder and a relative file path with "/". */
export function joinPath(folder: string, file: string): string {
  if (!folder) {
    return file;
  }
  return `${folder.replace(/\/+$/, '')}/${file.replace(/^\/+/, '')}`;
}

/**
 * Docker image tags: derive one from a notebook's name and validate what the user typed.
 *
 * Pure functions, unit-tested in test/tag.spec.ts.
 */

/** The longest tag part (after the colon) Docker accepts. */
const MAX_TAG_PART = 128;
/** Derived names are cut here, like dockermagic.tags.default_tag. */
const MAX_DERIVED_NAME = 100;

const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const TAG_PART = '[\\w][\\w.-]{0,127}';
/** Docker's reference grammar (distribution/reference), without digests. */
const REFERENCE = new RegExp(
  `^(?:${DOMAIN}/)?${NAME_COMPONENT}(?:/${NAME_COMPONENT})*(?::${TAG_PART})?$`
);

/**
 * Turn a notebook path or name into a valid Docker image name, the same way the Python
 * side does (dockermagic.tags.default_tag), plus accents folded to plain letters.
 *
 * "analysis/Heart ROC (final).ipynb" -> "heart-roc-final"; "heart_roc.ipynb" -> "heart-roc".
 * Never returns an empty string: a name with nothing usable becomes "notebook".
 */
export function sanitizeTag(notebookPath: string): string {
  const base = notebookPath.split('/').pop() || '';
  const stem = base.replace(/\.ipynb$/i, '');
  const name = stem
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // strip accents: "Café" -> "Cafe"
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, MAX_DERIVED_NAME)
    .replace(/-+$/, '');
  return name || 'notebook';
}

/**
 * Check an image reference the user typed ("name", "name:tag", "host:5000/team/name:tag").
 *
 * Returns null when it is valid, else a one-line reason to show next to the field.
 */
export function validateTag(tag: string): string | null {
  const t = tag.trim();
  if (!t) {
    return 'Enter an image tag, for example "heart-roc" or "heart-roc:v1".';
  }
  if (t !== tag) {
    return 'The tag must not start or end with spaces.';
  }
  if (/[A-Z]/.test(lastPathPart(t).split(':')[0])) {
    return 'Image names must be lowercase.';
  }
  if (/\s/.test(t)) {
    return 'The tag must not contain spaces.';
  }
  const colon = t.lastIndexOf(':');
  if (colon > t.lastIndexOf('/') && t.length - colon - 1 > MAX_TAG_PART) {
    return `The part after ":" may have at most ${MAX_TAG_PART} characters.`;
  }
  if (t.length > 255) {
    return 'The tag is too long (at most 255 characters).';
  }
  if (!REFERENCE.test(t)) {
    return 'Not a valid Docker tag: use lowercase letters, digits and single ".", "_" or "-" between them, optionally followed by ":version".';
  }
  return null;
}

function lastPathPart(t: string): string {
  const parts = t.split('/');
  return parts[parts.length - 1];
}

/**
 * Parse the "port to publish" field: empty means none.
 *
 * Returns {port} or {error}.
 */
export function parsePort(text: string): { port: number | null; error: string | null } {
  const t = text.trim();
  if (!t) {
    return { port: null, error: null };
  }
  if (!/^[0-9]+$/.test(t)) {
    return { port: null, error: 'The port must be a number between 1 and 65535.' };
  }
  const port = Number(t);
  if (port < 1 || port > 65535) {
    return { port: null, error: 'The port must be a number between 1 and 65535.' };
  }
  return { port, error: null };
}

/**
 * Docker image tags: derive one from a notebook's name and validate what the user typed.
 *
 * Pure functions, unit-tested in test/tag.spec.ts.
 */

/** The longest tag part (after the colon) Docker accepts. */
const MAX_TAG_PART = 128;
/** Derived names are cut here, like the Python side (dockermagic.reference). */
const MAX_DERIVED_NAME = 100;

// Written so that it also compiles with the 'v' flag, as an <input pattern> does.
const NAME_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN_COMPONENT =
  '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\\-]*[a-zA-Z0-9])';
const DOMAIN = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*(?::[0-9]+)?`;
const TAG_PART = '[\\w][\\w.\\-]{0,127}';

/** Docker's reference grammar (distribution/reference), without digests, for <input pattern>. */
export const TAG_PATTERN = `(?:${DOMAIN}/)?${NAME_COMPONENT}(?:/${NAME_COMPONENT})*(?::${TAG_PART})?`;
const REFERENCE = new RegExp(`^${TAG_PATTERN}$`);

/**
 * Turn a notebook path or name into a valid Docker image name, the same way the Python
 * side does (dockermagic.reference), plus accents folded to plain letters.
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

/** A character as a person reads it in a message: a space, a tab, or the character quoted. */
function describeChar(c: string): string {
  if (c === ' ') {
    return 'a space';
  }
  if (c === '\t') {
    return 'a tab';
  }
  if (/\s/.test(c)) {
    return 'a blank character';
  }
  return `"${c}"`;
}

const NAME_RULE =
  'a name holds lowercase letters and digits, with one ".", one or two "_", or dashes between them, and "/" between parts';
const VERSION_RULE =
  'the version after ":" holds letters, digits, "_", "." and "-" (not first)';

/** Why one name part (between slashes) is not valid; `offset` is its 0-based position. */
function explainPart(part: string, offset: number): string | null {
  if (!part) {
    return `Empty name part at position ${offset + 1}: no "/" at the start or the end, and no "//".`;
  }
  for (let i = 0; i < part.length; i++) {
    const c = part[i];
    const at = `at position ${offset + i + 1}`;
    if (/[A-Z]/.test(c)) {
      return `"${c}" ${at}: image names must be lowercase (only the version after ":" may have capitals).`;
    }
    if (!/[a-z0-9._-]/.test(c)) {
      return `${describeChar(c)} ${at} is not allowed: ${NAME_RULE}.`;
    }
  }
  if (/[._-]/.test(part[0])) {
    return `"${part[0]}" at position ${offset + 1}: a name must start with a letter or a digit.`;
  }
  if (/[._-]/.test(part[part.length - 1])) {
    return `"${part[part.length - 1]}" at position ${offset + part.length}: a name must end with a letter or a digit.`;
  }
  const separators = /[._-]+/g;
  let m: RegExpExecArray | null;
  while ((m = separators.exec(part)) !== null) {
    if (!/^(?:\.|_|__|-+)$/.test(m[0])) {
      return `"${m[0]}" at position ${offset + m.index + 1}: between letters and digits use one ".", one or two "_", or dashes.`;
    }
  }
  return null;
}

/** Why a registry host ("localhost:5000", "registry.example.com") is not valid. */
function explainDomain(domain: string): string | null {
  const [host, port, extra] = domain.split(':');
  if (extra !== undefined) {
    return `Only one ":" is allowed in the registry address "${domain}".`;
  }
  for (let i = 0; i < host.length; i++) {
    if (!/[a-zA-Z0-9.-]/.test(host[i])) {
      return `${describeChar(host[i])} at position ${i + 1} is not allowed in the registry address "${domain}".`;
    }
  }
  if (port !== undefined && !/^[0-9]+$/.test(port)) {
    return `The registry port "${port}" must be a number, as in "localhost:5000/name".`;
  }
  return null;
}

/**
 * Check an image reference the user typed ("name", "name:tag", "host:5000/team/name:tag").
 *
 * Returns null when it is valid, else one line that says which character is wrong, where,
 * and what is allowed.
 */
export function validateTag(tag: string): string | null {
  if (!tag.trim()) {
    return 'Enter an image tag, for example "heart-roc" or "heart-roc:v1".';
  }
  const blank = tag.search(/\s/);
  if (blank !== -1) {
    return `No spaces: ${describeChar(tag[blank])} at position ${blank + 1} (use "-" instead).`;
  }
  const digest = tag.indexOf('@');
  if (digest !== -1) {
    return `"@" at position ${digest + 1}: a digest names an image that exists; to build, give a tag such as "heart-roc:v1".`;
  }
  if (tag.length > 255) {
    return `The tag is too long: ${tag.length} characters (at most 255).`;
  }
  const slash = tag.lastIndexOf('/');
  const colon = tag.indexOf(':', slash + 1);
  const name = colon === -1 ? tag : tag.slice(0, colon);
  const version = colon === -1 ? null : tag.slice(colon + 1);

  const parts = name.split('/');
  let offset = 0;
  if (parts.length > 1 && (/[.:]/.test(parts[0]) || parts[0] === 'localhost')) {
    const why = explainDomain(parts[0]);
    if (why) {
      return why;
    }
    offset = parts[0].length + 1;
    parts.shift();
  }
  for (const part of parts) {
    const why = explainPart(part, offset);
    if (why) {
      return why;
    }
    offset += part.length + 1;
  }
  if (version !== null) {
    const at = colon + 1;
    if (!version) {
      return `Nothing after ":" at position ${at}: give a version, as in "heart-roc:v1", or leave out the ":".`;
    }
    for (let i = 0; i < version.length; i++) {
      const c = version[i];
      if (c === ':') {
        return `Only one ":" is allowed after the name (position ${at + i + 1}): it separates the name from the version.`;
      }
      if (!/[A-Za-z0-9_.-]/.test(c)) {
        return `${describeChar(c)} at position ${at + i + 1} is not allowed: ${VERSION_RULE}.`;
      }
    }
    if (/[.-]/.test(version[0])) {
      return `"${version[0]}" at position ${at + 1}: the version must start with a letter, a digit or "_".`;
    }
    if (version.length > MAX_TAG_PART) {
      return `The version after ":" has ${version.length} characters (at most ${MAX_TAG_PART}).`;
    }
  }
  if (!REFERENCE.test(tag)) {
    return `Not a valid Docker tag: ${NAME_RULE}, then optionally ":" and a version.`;
  }
  return null;
}

/**
 * Parse the "port to publish" field: empty means none.
 *
 * Returns {port} or {error}.
 */
export function parsePort(text: string): {
  port: number | null;
  error: string | null;
} {
  const t = text.trim();
  if (!t) {
    return { port: null, error: null };
  }
  if (!/^[0-9]+$/.test(t)) {
    return {
      port: null,
      error: 'The port must be a number between 1 and 65535.'
    };
  }
  const port = Number(t);
  if (port < 1 || port > 65535) {
    return {
      port: null,
      error: 'The port must be a number between 1 and 65535.'
    };
  }
  return { port, error: null };
}

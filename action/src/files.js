// Globs from an input: newline- or comma-separated patterns, expanded with @actions/glob.
import * as glob from '@actions/glob';

/** Splits an input into patterns: newlines and commas separate, blanks are dropped. */
export function splitPatterns(input) {
  return String(input ?? '')
    .split(/[\r\n,]+/)
    .map((p) => p.trim())
    .filter((p) => p !== '');
}

/**
 * The files (not directories) that the patterns match, sorted and without duplicates.
 * Throws when nothing matches, naming the input, so that a report that was never written
 * is not mistaken for an empty one.
 */
export async function findFiles(inputName, input) {
  const patterns = splitPatterns(input);
  if (patterns.length === 0) return [];
  const globber = await glob.create(patterns.join('\n'), {
    matchDirectories: false,
    implicitDescendants: false,
  });
  const files = [...new Set(await globber.glob())].sort();
  if (files.length === 0) {
    throw new Error(`${inputName}: no file matches ${patterns.map((p) => `'${p}'`).join(', ')}`);
  }
  return files;
}

// Line coverage from lcov trace files or Cobertura XML, or a plain percentage.
import { readFile } from 'node:fs/promises';
import lcovParser from '@friedemannsommer/lcov-parser/sync';
import { parseXml, childElements, attr } from './xml.js';
import { findFiles } from './files.js';

const PERCENT = /^([-+]?(?:\d+(?:\.\d*)?|\.\d+))\s*%?$/;

/** Rounds to 2 decimals. */
export function round2(n) {
  return Math.round(n * 100) / 100;
}

/** A plain percentage input ("84.2" or "84.2%"), or null when the input is not one. */
export function parsePercent(input) {
  const m = PERCENT.exec(String(input ?? '').trim());
  if (!m) return null;
  const n = Number(m[1]);
  if (!(n >= 0 && n <= 100)) {
    throw new Error(`coverage: ${input.trim()} is not a percentage between 0 and 100`);
  }
  return round2(n);
}

/**
 * lcov: LH and LF summed over every record. A record without LH/LF counts its DA lines
 * (a line is covered when its hit count is above 0).
 */
export function lcovLines(text, file = 'lcov report') {
  const sections = lcovParser({ from: String(text).replace(/\r\n?/g, '\n') });
  if (sections.length === 0) {
    throw new Error(`${file}: not an lcov trace file (no SF: ... end_of_record record)`);
  }
  let covered = 0;
  let valid = 0;
  for (const s of sections) {
    if (s.lines.instrumented > 0 || s.lines.hit > 0) {
      covered += s.lines.hit;
      valid += s.lines.instrumented;
    } else {
      valid += s.lines.details.length;
      covered += s.lines.details.filter((d) => d.hit > 0).length;
    }
  }
  return { covered, valid };
}

/**
 * Cobertura: the root's lines-covered and lines-valid; without them, the <line> elements of
 * its classes; without any, only its line-rate (a rate with no line count).
 */
export function coberturaLines(text, file = 'Cobertura report') {
  const tree = parseXml(text, file);
  const root = childElements(tree).find(([name]) => name === 'coverage')?.[1];
  if (root === undefined) {
    throw new Error(`${file}: not a Cobertura report (no <coverage> root element)`);
  }
  const covered = attr(root, 'lines-covered');
  const valid = attr(root, 'lines-valid');
  if (isCount(covered) && isCount(valid)) {
    return { covered: Number(covered), valid: Number(valid) };
  }
  const lines = classLines(root);
  if (lines.valid > 0) return lines;
  const rate = attr(root, 'line-rate');
  if (rate !== undefined && rate.trim() !== '' && Number(rate) >= 0 && Number(rate) <= 1) {
    return { rate: Number(rate) };
  }
  throw new Error(`${file}: the <coverage> element has neither lines-covered/lines-valid nor line-rate`);
}

function isCount(v) {
  return v !== undefined && /^\d+$/.test(v.trim());
}

/** Counts packages > package > classes > class > lines > line (not the methods' copies). */
function classLines(root) {
  let covered = 0;
  let valid = 0;
  const each = (node, name) => childElements(node).filter(([n]) => n === name).map(([, c]) => c);
  for (const packages of each(root, 'packages'))
    for (const pkg of each(packages, 'package'))
      for (const classes of each(pkg, 'classes'))
        for (const cls of each(classes, 'class'))
          for (const lines of each(cls, 'lines'))
            for (const line of each(lines, 'line')) {
              valid += 1;
              if (Number(attr(line, 'hits')) > 0) covered += 1;
            }
  return { covered, valid };
}

/** Which format a report is in: XML is Cobertura, anything else is read as lcov. */
export function linesOf(text, file) {
  return /^\uFEFF?\s*</.test(text) ? coberturaLines(text, file) : lcovLines(text, file);
}

/**
 * The coverage percentage from the `coverage` input: a plain percentage, or the files its
 * globs match, summed by lines. Returns null (after a warning) when nothing was instrumented.
 */
export async function readCoverage(input, log) {
  const percent = parsePercent(input);
  if (percent !== null) {
    log?.info?.(`coverage: ${percent}% (given)`);
    return percent;
  }
  const files = await findFiles('coverage', input);
  const parts = [];
  for (const file of files) {
    const lines = linesOf(await readFile(file, 'utf8'), file);
    log?.info?.(
      'rate' in lines
        ? `${file}: line-rate ${lines.rate} (no line counts)`
        : `${file}: ${lines.covered} of ${lines.valid} lines covered`,
    );
    parts.push({ file, ...lines });
  }
  const rateOnly = parts.filter((p) => 'rate' in p);
  if (rateOnly.length > 0) {
    if (parts.length > 1) {
      throw new Error(
        `coverage: ${rateOnly[0].file} has a line-rate but no line counts, so it cannot be summed by lines with other files`,
      );
    }
    return round2(rateOnly[0].rate * 100);
  }
  const covered = parts.reduce((n, p) => n + p.covered, 0);
  const valid = parts.reduce((n, p) => n + p.valid, 0);
  if (valid === 0) {
    log?.warning?.(`coverage: no instrumented lines in ${files.join(', ')}; coverage not reported`);
    return null;
  }
  if (covered > valid) {
    throw new Error(`coverage: ${covered} lines covered of ${valid} is more than all of them`);
  }
  return round2((100 * covered) / valid);
}

// JUnit XML: counts <testcase> elements wherever they are (testsuites > testsuite > nested
// suites). Suite attributes (tests, failures, ...) are ignored: they double-count when
// suites nest.
import { readFile } from 'node:fs/promises';
import { parseXml, childElements } from './xml.js';

/** Counts of one JUnit document's text. */
export function countJUnit(text, file = 'JUnit report') {
  const tree = parseXml(text, file);
  const roots = childElements(tree);
  if (!roots.some(([name]) => name === 'testsuites' || name === 'testsuite')) {
    const found = roots.map(([name]) => `<${name}>`).join(', ') || 'no element';
    throw new Error(`${file}: not a JUnit report (root is ${found}, not <testsuites> or <testsuite>)`);
  }
  const counts = { passed: 0, failed: 0, skipped: 0 };
  const stack = roots.map(([, node]) => node);
  while (stack.length > 0) {
    const node = stack.pop();
    for (const [name, child] of childElements(node)) {
      if (name === 'testcase') {
        counts[classify(child)] += 1;
      } else {
        stack.push(child);
      }
    }
  }
  return counts;
}

/** failed: a <failure> or <error> child; skipped: a <skipped> child; else passed. */
function classify(testcase) {
  const children = new Set(childElements(testcase).map(([name]) => name));
  if (children.has('failure') || children.has('error')) return 'failed';
  if (children.has('skipped')) return 'skipped';
  return 'passed';
}

/** Sums the counts over files. */
export async function readJUnit(files, log) {
  const total = { passed: 0, failed: 0, skipped: 0 };
  for (const file of files) {
    const counts = countJUnit(await readFile(file, 'utf8'), file);
    log?.info?.(
      `${file}: ${counts.passed} passed, ${counts.failed} failed, ${counts.skipped} skipped`,
    );
    if (counts.passed + counts.failed + counts.skipped === 0) {
      log?.warning?.(`${file}: no <testcase> in this JUnit report`);
    }
    total.passed += counts.passed;
    total.failed += counts.failed;
    total.skipped += counts.skipped;
  }
  return total;
}

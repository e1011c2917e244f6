import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  countSarif,
  findRule,
  isSuppressed,
  readSarif,
  severityFromLevel,
  severityFromScore,
  severityOf,
} from '../src/sarif.js';
import { fixture } from '../test-support/helpers.js';

const load = async (name) => JSON.parse(await readFile(fixture('sarif', name), 'utf8'));

test('ESLint via @microsoft/eslint-formatter-sarif: levels, and the eslint-disable suppression', async () => {
  // 3 errors -> high, 2 warnings -> medium; the disabled no-console warning is suppressed.
  assert.deepEqual(countSarif(await load('eslint.sarif')), { critical: 0, high: 3, medium: 2, low: 0 });
});

test('CodeQL-shaped: security-severity from extension rules, default levels, a suppression', async () => {
  // 9.3 critical; 8.8 and 7.5 high; 5.4 medium and a warning without a score; 2.5 low and
  // a note (the rule's default level); the suppressed 7.5 is not counted.
  assert.deepEqual(countSarif(await load('codeql.sarif')), { critical: 1, high: 2, medium: 2, low: 2 });
});

test('readSarif sums over files', async () => {
  const files = [fixture('sarif', 'eslint.sarif'), fixture('sarif', 'codeql.sarif')];
  assert.deepEqual(await readSarif(files), { critical: 1, high: 5, medium: 4, low: 2 });
});

test("security-severity mapping (GitHub code scanning's bands)", () => {
  const cases = [
    ['10.0', 'critical'],
    ['9.0', 'critical'],
    ['8.9', 'high'],
    ['7.0', 'high'],
    ['6.9', 'medium'],
    ['4.0', 'medium'],
    ['3.9', 'low'],
    ['0.1', 'low'],
    ['0', null],
    ['0.0', null],
    ['', null],
    ['high', null],
    [undefined, null],
  ];
  for (const [score, severity] of cases) assert.equal(severityFromScore(score), severity, `score ${score}`);
});

test('level mapping', () => {
  assert.equal(severityFromLevel('error'), 'high');
  assert.equal(severityFromLevel('warning'), 'medium');
  assert.equal(severityFromLevel('note'), 'low');
  assert.equal(severityFromLevel('none'), null);
  assert.equal(severityFromLevel('bogus'), undefined);
});

function run(rules, results, extensions) {
  return { tool: { driver: { name: 't', rules }, ...(extensions ? { extensions } : {}) }, results };
}

test('security-severity beats the level; without it, level, then the rule default, then warning', () => {
  const rules = [
    { id: 'scored', properties: { 'security-severity': '9.8' }, defaultConfiguration: { level: 'note' } },
    { id: 'plain', defaultConfiguration: { level: 'error' } },
    { id: 'bare' },
    { id: 'zero', properties: { 'security-severity': '0.0' } },
  ];
  const r = run(rules, []);
  assert.equal(severityOf(r, { ruleId: 'scored', level: 'note' }), 'critical');
  assert.equal(severityOf(r, { ruleId: 'plain' }), 'high');
  assert.equal(severityOf(r, { ruleId: 'plain', level: 'note' }), 'low');
  assert.equal(severityOf(r, { ruleId: 'bare' }), 'medium');
  assert.equal(severityOf(r, { ruleId: 'unknown-rule' }), 'medium');
  assert.equal(severityOf(r, { ruleId: 'bare', level: 'none' }), null);
  assert.equal(severityOf(r, { ruleId: 'zero', level: 'error' }), 'high');
  assert.equal(severityOf(r, { message: { text: 'no rule at all' } }), 'medium');
});

test('rules are found by index, by id, in extensions and by a hierarchical id', () => {
  const ext = { name: 'pack', rules: [{ id: 'x/one' }, { id: 'x/two', properties: { 'security-severity': '7.1' } }] };
  const r = run([{ id: 'D1' }], [], [ext]);
  assert.equal(findRule(r, { ruleIndex: 0 }).id, 'D1');
  assert.equal(findRule(r, { rule: { index: 1, toolComponent: { index: 0 } } }).id, 'x/two');
  assert.equal(findRule(r, { rule: { id: 'x/two', toolComponent: { name: 'pack' } } }).id, 'x/two');
  assert.equal(findRule(r, { ruleId: 'x/two' }).id, 'x/two'); // not in the driver: the extensions
  assert.equal(findRule(r, { ruleId: 'D1/sub' }).id, 'D1');
  // An index that disagrees with the id is not trusted.
  assert.equal(findRule(r, { ruleId: 'x/two', ruleIndex: 0 }).id, 'x/two');
  assert.equal(severityOf(r, { ruleId: 'x/two', level: 'note' }), 'high');
  assert.equal(findRule(r, { ruleId: 'nope' }), undefined);
});

test('suppressed results are not counted; rejected or under-review suppressions do not suppress', () => {
  assert.equal(isSuppressed({}), false);
  assert.equal(isSuppressed({ suppressions: [] }), false);
  assert.equal(isSuppressed({ suppressions: [{ kind: 'inSource' }] }), true);
  assert.equal(isSuppressed({ suppressions: [{ kind: 'external', status: 'accepted' }] }), true);
  assert.equal(isSuppressed({ suppressions: [{ kind: 'external', status: 'rejected' }] }), false);
  assert.equal(isSuppressed({ suppressions: [{ kind: 'external', status: 'underReview' }] }), false);
  const log = {
    version: '2.1.0',
    runs: [
      run([{ id: 'r', properties: { 'security-severity': '9.5' } }], [
        { ruleId: 'r' },
        { ruleId: 'r', suppressions: [{ kind: 'inSource' }] },
        { ruleId: 'r', suppressions: [] },
        { ruleId: 'r', kind: 'pass' },
        { ruleId: 'r', baselineState: 'absent' },
      ]),
    ],
  };
  assert.deepEqual(countSarif(log), { critical: 2, high: 0, medium: 0, low: 0 });
});

test('every run counts; no results is all zeros; not SARIF is an error', () => {
  const two = { version: '2.1.0', runs: [run([], [{ level: 'error' }]), run([], [{ level: 'note' }]), { tool: {} }] };
  assert.deepEqual(countSarif(two), { critical: 0, high: 1, medium: 0, low: 1 });
  assert.deepEqual(countSarif({ version: '2.1.0', runs: [] }), { critical: 0, high: 0, medium: 0, low: 0 });
  assert.throws(() => countSarif({ version: '2.1.0' }, 'a.sarif'), /a\.sarif: not a SARIF log/);
  assert.throws(() => countSarif({ version: '1.0.0', runs: [] }, 'old.sarif'), /SARIF version 1\.0\.0 is not supported/);
});

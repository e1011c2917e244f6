import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { coberturaLines, lcovLines, parsePercent, readCoverage, round2 } from '../src/coverage.js';
import { fixture, recordingLog } from '../test-support/helpers.js';

const read = (name) => readFile(fixture('coverage', name), 'utf8');

test("lcov from Node's test runner: LH and LF summed over records", async () => {
  assert.deepEqual(lcovLines(await read('node-lcov.info')), { covered: 54, valid: 64 });
  assert.equal(await readCoverage(fixture('coverage', 'node-lcov.info')), 84.38);
});

test('lcov records without LH/LF count their DA lines; CRLF line ends are fine', () => {
  const text = 'TN:\r\nSF:a.js\r\nDA:1,3\r\nDA:2,0\r\nDA:3,1\r\nend_of_record\r\nSF:b.js\r\nLH:1\r\nLF:1\r\nend_of_record\r\n';
  assert.deepEqual(lcovLines(text), { covered: 3, valid: 4 });
});

test('a file that is neither lcov nor XML is an error', () => {
  assert.throws(() => lcovLines('hello\n', 'x.info'), /x\.info: not an lcov trace file/);
});

test('Cobertura from coverage.py: lines-covered over lines-valid', async () => {
  assert.deepEqual(coberturaLines(await read('coverage-py.xml')), { covered: 33, valid: 38 });
  assert.equal(await readCoverage(fixture('coverage', 'coverage-py.xml')), 86.84);
});

test("Cobertura from c8 (istanbul), with a DOCTYPE", async () => {
  assert.deepEqual(coberturaLines(await read('c8-cobertura.xml')), { covered: 21, valid: 30 });
});

test('Cobertura without line counts: its class lines, else its line-rate', () => {
  const withLines = `<coverage line-rate="0.5"><packages><package><classes>
    <class filename="a.py"><methods><method><lines><line number="1" hits="1"/></lines></method></methods>
      <lines><line number="1" hits="1"/><line number="2" hits="0"/><line number="3" hits="4"/></lines></class>
  </classes></package></packages></coverage>`;
  assert.deepEqual(coberturaLines(withLines), { covered: 2, valid: 3 });
  assert.deepEqual(coberturaLines('<coverage line-rate="0.8425" version="1.9"/>'), { rate: 0.8425 });
  assert.throws(() => coberturaLines('<coverage/>', 'c.xml'), /c\.xml: the <coverage> element has neither/);
  assert.throws(() => coberturaLines('<report/>', 'r.xml'), /r\.xml: not a Cobertura report/);
});

test('several files are summed by lines, whatever their format', async () => {
  const input = `${fixture('coverage', 'node-lcov.info')}\n${fixture('coverage', 'coverage-py.xml')}`;
  // (54 + 33) / (64 + 38) = 85.294...
  assert.equal(await readCoverage(input), 85.29);
  const commas = `${fixture('coverage', 'node-lcov.info')}, ${fixture('coverage', 'c8-cobertura.xml')}`;
  assert.equal(await readCoverage(commas), round2((100 * 75) / 94));
});

test('a plain percentage', async () => {
  assert.equal(parsePercent('84.2'), 84.2);
  assert.equal(parsePercent(' 84.2% '), 84.2);
  assert.equal(parsePercent('100'), 100);
  assert.equal(parsePercent('0%'), 0);
  assert.equal(parsePercent('84.256'), 84.26);
  assert.equal(parsePercent('coverage/lcov.info'), null);
  assert.throws(() => parsePercent('120'), /coverage: 120 is not a percentage between 0 and 100/);
  assert.throws(() => parsePercent('-3%'), /not a percentage between 0 and 100/);
  assert.equal(await readCoverage('84.2%'), 84.2);
});

test('nothing instrumented: no coverage, and a warning', async (t) => {
  const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const dir = await mkdtemp(path.join(tmpdir(), 'shipgate-cov-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'empty.info');
  await writeFile(file, 'TN:\nSF:a.js\nLH:0\nLF:0\nend_of_record\n');
  const log = recordingLog();
  assert.equal(await readCoverage(file, log), null);
  assert.match(log.lines.warning[0], /no instrumented lines/);
});

test('a glob that matches nothing is an error naming the pattern', async () => {
  await assert.rejects(readCoverage(fixture('coverage', 'nothing-*.info')), /coverage: no file matches '.*nothing-\*\.info'/);
});

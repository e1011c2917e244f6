import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { countJUnit, readJUnit } from '../src/junit.js';
import { fixture, recordingLog } from '../test-support/helpers.js';

const read = (name) => readFile(fixture('junit', name), 'utf8');

test("Node's test runner (nested describe suites, a top-level test, a failure, a skip)", async () => {
  assert.deepEqual(countJUnit(await read('node-junit.xml')), { passed: 5, failed: 1, skipped: 1 });
});

test('pytest --junitxml (testsuites > testsuite, a failure, an error, a skip)', async () => {
  assert.deepEqual(countJUnit(await read('pytest-junit.xml')), { passed: 5, failed: 2, skipped: 1 });
});

test('Maven Surefire (a single testsuite root; a flaky test that passed on rerun counts as passed)', async () => {
  assert.deepEqual(countJUnit(await read('TEST-com.example.CalculatorTest.xml')), {
    passed: 3,
    failed: 2,
    skipped: 1,
  });
});

test('testcases are counted in suites nested at any depth, never from suite attributes', () => {
  const xml = `<?xml version="1.0"?>
<testsuites tests="99" failures="42">
  <testsuite name="outer" tests="99" failures="42" skipped="7">
    <testcase name="a"/>
    <testsuite name="inner" tests="99">
      <testcase name="b"><failure message="x"/></testcase>
      <testsuite name="innermost">
        <testcase name="c"><skipped/></testcase>
        <testcase name="d"><error>boom</error></testcase>
        <testcase name="e"><system-out><![CDATA[<testcase name="not one"/>]]></system-out></testcase>
      </testsuite>
    </testsuite>
  </testsuite>
  <testsuite name="second"><testcase name="f"></testcase></testsuite>
</testsuites>`;
  assert.deepEqual(countJUnit(xml), { passed: 3, failed: 2, skipped: 1 });
});

test('a failure wins over skipped on the same testcase', () => {
  const xml = '<testsuite><testcase name="x"><skipped/><failure/></testcase></testsuite>';
  assert.deepEqual(countJUnit(xml), { passed: 0, failed: 1, skipped: 0 });
});

test('not JUnit, or not XML, is an error naming the file', () => {
  assert.throws(() => countJUnit('<coverage line-rate="1"/>', 'r.xml'), /r\.xml: not a JUnit report \(root is <coverage>/);
  assert.throws(() => countJUnit('<testsuite><testcase></testsuite>', 'bad.xml'), /bad\.xml: not well-formed XML \(line 1/);
});

test('readJUnit sums over files', async () => {
  const log = recordingLog();
  const files = ['node-junit.xml', 'pytest-junit.xml', 'TEST-com.example.CalculatorTest.xml'].map((f) =>
    fixture('junit', f),
  );
  assert.deepEqual(await readJUnit(files, log), { passed: 13, failed: 5, skipped: 3 });
  assert.equal(log.lines.info.length, 3);
});

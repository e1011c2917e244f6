import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { buildEvidence, pipelineFromEvent, summarize } from '../src/evidence.js';
import { fixture, recordingLog, ACTION_DIR } from '../test-support/helpers.js';
import path from 'node:path';

const NO_EVENT = {};

/** The inputs of the document the Rust end-to-end test POSTs (test/expected/evidence.json). */
const EXPECTED_INPUTS = {
  junit: fixture('junit', 'node-junit.xml'),
  coverage: fixture('coverage', 'node-lcov.info'),
  sarif: `${fixture('sarif', 'eslint.sarif')}\n${fixture('sarif', 'codeql.sarif')}`,
  metrics: 'lighthouse_accessibility=98',
  pipeline: 'REQ-1-t1',
};

test('the document from the fixed fixtures equals test/expected/evidence.json', async () => {
  const doc = await buildEvidence(EXPECTED_INPUTS, { env: NO_EVENT, log: recordingLog() });
  const expected = JSON.parse(await readFile(path.join(ACTION_DIR, 'test', 'expected', 'evidence.json'), 'utf8'));
  assert.deepEqual(doc, expected);
  // The key order of the format's description, too.
  assert.deepEqual(Object.keys(doc), ['format', 'pipeline', 'tests', 'coverage', 'findings', 'metrics']);
});

test('only format when there is nothing to report', async () => {
  assert.deepEqual(await buildEvidence({}, { env: NO_EVENT }), { format: 1 });
  assert.deepEqual(
    await buildEvidence({ junit: ' \n , ', coverage: '  ', sarif: '', metrics: '\n', deployUrl: '', deployVersion: '' }, { env: NO_EVENT }),
    { format: 1 },
  );
});

test('each part appears alone when only its input is given', async () => {
  const only = (inputs) => buildEvidence(inputs, { env: NO_EVENT });
  assert.deepEqual(await only({ junit: fixture('junit', 'pytest-junit.xml') }), {
    format: 1,
    tests: { passed: 5, failed: 2, skipped: 1 },
  });
  assert.deepEqual(await only({ coverage: '84.2%' }), { format: 1, coverage: { percent: 84.2 } });
  assert.deepEqual(await only({ sarif: fixture('sarif', 'eslint.sarif') }), {
    format: 1,
    findings: { critical: 0, high: 3, medium: 2, low: 0 },
  });
  assert.deepEqual(await only({ deployUrl: 'https://staging.example.com', deployVersion: '1.4.2' }), {
    format: 1,
    deploy: { url: 'https://staging.example.com', version: '1.4.2' },
  });
  assert.deepEqual(await only({ deployVersion: '1.4.2', pipeline: ' REQ-7-t2 ' }), {
    format: 1,
    pipeline: 'REQ-7-t2',
    deploy: { version: '1.4.2' },
  });
});

test('globs and comma-separated lists are expanded', async () => {
  const junitDir = fixture('junit');
  const doc = await buildEvidence(
    { junit: `${junitDir}/*.xml`, sarif: `${fixture('sarif', 'eslint.sarif')}, ${fixture('sarif', 'codeql.sarif')}` },
    { env: NO_EVENT },
  );
  assert.deepEqual(doc.tests, { passed: 13, failed: 5, skipped: 3 });
  assert.deepEqual(doc.findings, { critical: 1, high: 5, medium: 4, low: 2 });
});

test('the pipeline defaults to the workflow_dispatch payload inputs.pipeline', async () => {
  const env = { GITHUB_EVENT_PATH: fixture('events', 'workflow_dispatch.json') };
  assert.equal(await pipelineFromEvent(env.GITHUB_EVENT_PATH), 'REQ-12-t3');
  assert.deepEqual(await buildEvidence({ coverage: '90' }, { env }), {
    format: 1,
    pipeline: 'REQ-12-t3',
    coverage: { percent: 90 },
  });
  // The input wins over the payload.
  assert.equal((await buildEvidence({ pipeline: 'REQ-1-t9' }, { env })).pipeline, 'REQ-1-t9');
  // A payload without inputs (a push), or none at all: no pipeline.
  const push = { GITHUB_EVENT_PATH: fixture('events', 'push.json') };
  assert.deepEqual(await buildEvidence({}, { env: push }), { format: 1 });
  const log = recordingLog();
  assert.deepEqual(await buildEvidence({}, { env: { GITHUB_EVENT_PATH: fixture('events', 'missing.json') }, log }), {
    format: 1,
  });
  assert.match(log.lines.warning[0], /could not read the event payload/);
});

test('every problem is reported, together', async () => {
  await assert.rejects(
    buildEvidence(
      { junit: fixture('junit', 'none-*.xml'), coverage: '101', metrics: 'a b', deployUrl: 'mailto:x@example.com' },
      { env: NO_EVENT },
    ),
    (e) => {
      assert.match(e.message, /^4 problems:/);
      assert.match(e.message, /junit: no file matches/);
      assert.match(e.message, /coverage: 101 is not a percentage/);
      assert.match(e.message, /metrics line 1/);
      assert.match(e.message, /deploy-url: .* is not an http\(s\) URL/);
      return true;
    },
  );
});

test('the document holds counts only: no path, file content or environment', async () => {
  const env = { GITHUB_EVENT_PATH: fixture('events', 'workflow_dispatch.json'), SECRET_TOKEN: 'hunter2' };
  const doc = await buildEvidence({ ...EXPECTED_INPUTS, pipeline: '' }, { env });
  const json = JSON.stringify(doc);
  assert.doesNotMatch(json, /fixtures|\/tmp|hunter2|math\.js|eslint|CodeQL/i);
});

test('summary line', () => {
  assert.equal(
    summarize({
      format: 1,
      pipeline: 'REQ-1-t1',
      tests: { passed: 5, failed: 1, skipped: 1 },
      coverage: { percent: 84.38 },
      findings: { critical: 1, high: 5, medium: 4, low: 2 },
      metrics: { a: '1', b: '2' },
      deploy: { url: 'https://s.example.com', version: '1.4.2' },
    }),
    'pipeline REQ-1-t1: tests 5 passed, 1 failed, 1 skipped; coverage 84.38%; findings 1 critical, 5 high, 4 medium, 2 low; metrics a, b; deploy 1.4.2 at https://s.example.com',
  );
  assert.equal(summarize({ format: 1 }), 'no reports');
});

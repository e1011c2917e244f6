// The action end to end, as the runner starts it: `node <entry>` with INPUT_* variables, a
// local OIDC token endpoint and a local shipgate. Run on the source and on the committed
// bundle (dist/index.js), so a bundle that does not work fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ACTION_DIR, fixture, problem, startServer } from '../test-support/helpers.js';

const JWT = 'eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJzaGlwZ2F0ZSJ9.c2lnbmF0dXJl';

/** Runs the entry with only these variables (and PATH); resolves { code, stdout, stderr }. */
function runAction(entry, env) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(ACTION_DIR, entry)],
      { env: { PATH: process.env.PATH, ...env }, cwd: ACTION_DIR, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? error.code : 0, stdout, stderr }),
    );
  });
}

/** A server that is both the token endpoint (GET /token) and shipgate (POST /api/v1/evidence). */
async function world(t, evidenceAnswers) {
  let posts = 0;
  const server = await startServer((req) => {
    if (req.url.startsWith('/token')) {
      return { status: 200, headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ value: JWT }) };
    }
    const answer = evidenceAnswers[Math.min(posts, evidenceAnswers.length - 1)];
    posts += 1;
    return answer;
  });
  const dir = await mkdtemp(path.join(tmpdir(), 'shipgate-action-'));
  t.after(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });
  const output = path.join(dir, 'github_output');
  await writeFile(output, '');
  const env = {
    'INPUT_URL': `${server.url}/`,
    'INPUT_JUNIT': fixture('junit', 'node-junit.xml'),
    'INPUT_COVERAGE': fixture('coverage', 'node-lcov.info'),
    'INPUT_SARIF': `${fixture('sarif', 'eslint.sarif')}\n${fixture('sarif', 'codeql.sarif')}`,
    'INPUT_METRICS': 'lighthouse_accessibility=98',
    'INPUT_RETRIES': '4',
    'INPUT_FAIL-ON-ERROR': 'true',
    GITHUB_EVENT_PATH: fixture('events', 'workflow_dispatch.json'),
    GITHUB_OUTPUT: output,
    ACTIONS_ID_TOKEN_REQUEST_URL: `${server.url}/token?api-version=2.0`,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'request-token',
  };
  const evidenceOutput = async () => {
    const text = await readFile(output, 'utf8');
    const m = /^evidence<<(\S+)\n([\s\S]*?)\n\1\n/m.exec(text);
    return m ? JSON.parse(m[2]) : undefined;
  };
  return { server, env, evidenceOutput };
}

const EXPECTED = {
  format: 1,
  pipeline: 'REQ-12-t3', // from the workflow_dispatch payload
  tests: { passed: 5, failed: 1, skipped: 1 },
  coverage: { percent: 84.38 },
  findings: { critical: 1, high: 5, medium: 4, low: 2 },
  metrics: { lighthouse_accessibility: '98' },
};

for (const entry of ['src/main.js', 'dist/index.js']) {
  test(`${entry}: token for the url's audience, 503 then 201, output set`, async (t) => {
    const { server, env, evidenceOutput } = await world(t, [
      { ...problem(503, 'Service Unavailable', 'draining'), headers: { 'Content-Type': 'application/problem+json', 'Retry-After': '0' } },
      { status: 201, headers: { 'Content-Type': 'application/json' }, body: '{"recorded":true}' },
    ]);
    const run = await runAction(entry, env);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const [token, ...posts] = server.requests;
    assert.equal(token.url, `/token?api-version=2.0&audience=${encodeURIComponent(server.url)}`);
    assert.equal(posts.length, 2);
    for (const post of posts) {
      assert.equal(post.url, '/api/v1/evidence');
      assert.equal(post.headers.authorization, `Bearer ${JWT}`);
      assert.match(post.headers['user-agent'], /^shipgate-action\/\d+\.\d+\.\d+$/);
      assert.deepEqual(JSON.parse(post.body), EXPECTED);
    }
    assert.deepEqual(await evidenceOutput(), EXPECTED);
    assert.match(run.stdout, /shipgate answered 503 Service Unavailable: draining; retrying in 0\.0 s \(attempt 2 of 5\)/);
    assert.match(
      run.stdout,
      /shipgate recorded the evidence \(201\) for pipeline REQ-12-t3: tests 5 passed, 1 failed, 1 skipped; coverage 84\.38%; findings 1 critical, 5 high, 4 medium, 2 low; metrics lighthouse_accessibility/,
    );
    assert.match(run.stdout, /::add-mask::/); // core masks the token in the log
    assert.doesNotMatch(run.stdout, /::error::/);
  });

  test(`${entry}: without ACTIONS_ID_TOKEN_REQUEST_URL the step fails asking for id-token: write`, async (t) => {
    const { server, env } = await world(t, [{ status: 201 }]);
    delete env.ACTIONS_ID_TOKEN_REQUEST_URL;
    const run = await runAction(entry, env);
    assert.equal(run.code, 1);
    assert.match(
      run.stdout,
      /::error::shipgate evidence not reported: cannot get an OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not set\. The job needs `permissions: id-token: write`/,
    );
    assert.equal(server.requests.length, 0);
  });
}

test('a 403 problem fails the step with its detail; with fail-on-error false it is a warning', async (t) => {
  const { server, env, evidenceOutput } = await world(t, [problem(403, 'Forbidden', 'REQ-12-t3 belongs to another repository')]);
  env['INPUT_AUDIENCE'] = 'shipgate-prod';
  const failed = await runAction('src/main.js', env);
  assert.equal(failed.code, 1);
  assert.match(
    failed.stdout,
    /::error::shipgate evidence not reported: shipgate refused the evidence: 403 Forbidden: REQ-12-t3 belongs to another repository/,
  );
  assert.equal(server.requests[0].url, '/token?api-version=2.0&audience=shipgate-prod');
  assert.equal(server.requests.filter((r) => r.method === 'POST').length, 1);
  assert.deepEqual(await evidenceOutput(), EXPECTED); // the output is set before the POST

  env['INPUT_FAIL-ON-ERROR'] = 'false';
  const warned = await runAction('src/main.js', env);
  assert.equal(warned.code, 0);
  assert.match(warned.stdout, /::warning::shipgate evidence not reported: shipgate refused the evidence: 403 Forbidden/);
});

test('bad inputs fail before any token or request, all named at once', async (t) => {
  const { server, env } = await world(t, [{ status: 201 }]);
  env['INPUT_METRICS'] = 'lighthouse_accessibility=98\nnot a pair';
  env['INPUT_DEPLOY-URL'] = 'staging';
  const run = await runAction('src/main.js', env);
  assert.equal(run.code, 1);
  assert.match(run.stdout, /::error::shipgate evidence not reported: 2 problems:/);
  assert.match(run.stdout, /%0Ametrics line 2 \("not a pair"\): expected name=value%0Adeploy-url: "staging" is not a URL/);
  assert.equal(server.requests.length, 0);
});

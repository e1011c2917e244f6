import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import {
  backoffMs,
  baseUrl,
  getToken,
  postEvidence,
  problemDetail,
  retryAfterMs,
  USER_AGENT,
} from '../src/report.js';
import { VERSION } from '../src/version.js';
import { ACTION_DIR, problem, recordingLog, startServer } from '../test-support/helpers.js';
import path from 'node:path';

const DOC = { format: 1, pipeline: 'REQ-1-t1', tests: { passed: 1, failed: 0, skipped: 0 } };

/** postEvidence with a log that records and a sleep that only notes the delay. */
function post(options) {
  const log = recordingLog();
  const sleeps = [];
  const promise = postEvidence({
    token: 'the.jwt.token',
    document: DOC,
    log,
    sleep: async (ms) => sleeps.push(ms),
    random: () => 0,
    ...options,
  });
  return { promise, log, sleeps };
}

test('503 with Retry-After: 0, then 201: retried once, with the headers and the document', async (t) => {
  const server = await startServer((_req, i) =>
    i === 0
      ? { ...problem(503, 'Service Unavailable', 'starting up'), headers: { 'Content-Type': 'application/problem+json', 'Retry-After': '0' } }
      : { status: 201, headers: { 'Content-Type': 'application/json' }, body: '{"id":7,"recorded":["tests"]}' },
  );
  t.after(server.close);
  const { promise, log, sleeps } = post({ url: `${server.url}/` });
  const result = await promise;
  assert.deepEqual(result, { status: 201, answer: { id: 7, recorded: ['tests'] } });
  assert.equal(server.requests.length, 2);
  assert.deepEqual(sleeps, [0]);
  for (const req of server.requests) {
    assert.equal(req.method, 'POST');
    assert.equal(req.url, '/api/v1/evidence');
    assert.equal(req.headers.authorization, 'Bearer the.jwt.token');
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['user-agent'], `shipgate-action/${VERSION}`);
    assert.deepEqual(JSON.parse(req.body), DOC);
  }
  assert.match(log.lines.info[0], /shipgate answered 503 Service Unavailable: starting up; retrying in 0\.0 s \(attempt 2 of 5\)/);
  assert.deepEqual(log.lines.debug, ['shipgate answered 201: {"id":7,"recorded":["tests"]}']);
});

test('a 403 problem is not retried, and its detail reaches the error', async (t) => {
  const server = await startServer(() => problem(403, 'Forbidden', 'the token is for octo/other, not octo/shop'));
  t.after(server.close);
  const { promise, sleeps } = post({ url: server.url });
  await assert.rejects(promise, {
    message: 'shipgate refused the evidence: 403 Forbidden: the token is for octo/other, not octo/shop',
  });
  assert.equal(server.requests.length, 1);
  assert.deepEqual(sleeps, []);
});

test('other 4xx are not retried either; 408 and 429 are', async (t) => {
  for (const status of [400, 401, 404, 409, 422]) {
    const server = await startServer(() => problem(status, 'No', `status ${status}`));
    const { promise } = post({ url: server.url });
    await assert.rejects(promise, new RegExp(`: ${status} .*: status ${status}$`));
    assert.equal(server.requests.length, 1, `status ${status}`);
    await server.close();
  }
  const server = await startServer((_req, i) =>
    [
      { status: 408 },
      { status: 429, headers: { 'Retry-After': '3' } },
      { status: 200, body: 'not json' },
    ][i],
  );
  t.after(server.close);
  const { promise, sleeps, log } = post({ url: server.url, retries: 2 });
  assert.deepEqual(await promise, { status: 200, answer: 'not json' });
  assert.deepEqual(sleeps, [1000, 3000]); // backoff for the 408, Retry-After for the 429
  assert.match(log.lines.info[0], /shipgate answered 408 Request Timeout: no detail; retrying/);
});

test('5xx every time: retries times, with exponential backoff, then the last detail', async (t) => {
  const server = await startServer(() => problem(502, 'Bad Gateway', 'upstream down'));
  t.after(server.close);
  const { promise, sleeps } = post({ url: server.url, retries: 4 });
  await assert.rejects(promise, {
    message: 'shipgate answered 502 Bad Gateway: upstream down (gave up after 5 attempts)',
  });
  assert.equal(server.requests.length, 5);
  assert.deepEqual(sleeps, [1000, 2000, 4000, 8000]);
});

test('retries 0: one attempt only', async (t) => {
  const server = await startServer(() => ({ status: 500, body: '<html><body>Internal  Server\nError</body></html>' }));
  t.after(server.close);
  const { promise } = post({ url: server.url, retries: 0 });
  await assert.rejects(promise, {
    message: 'shipgate answered 500 Internal Server Error: <html><body>Internal Server Error</body></html>',
  });
  assert.equal(server.requests.length, 1);
});

test('network errors are retried, then reported', async () => {
  const server = await startServer(() => ({ status: 201 }));
  const url = server.url;
  await server.close(); // nothing listens there now
  const { promise, sleeps } = post({ url, retries: 2 });
  await assert.rejects(promise, (e) => {
    assert.match(e.message, /^could not reach shipgate at http:\/\/127\.0\.0\.1:\d+\/api\/v1\/evidence: fetch failed \(ECONNREFUSED\) \(gave up after 3 attempts\)$/);
    return true;
  });
  assert.deepEqual(sleeps, [1000, 2000]);
});

test('no answer within the timeout is a network error', async (t) => {
  const http = await import('node:http');
  const silent = http.createServer(() => {}); // never answers
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    silent.closeAllConnections();
    silent.close();
  });
  const { promise } = post({ url: `http://127.0.0.1:${silent.address().port}`, retries: 0, timeoutMs: 150 });
  await assert.rejects(promise, /could not reach shipgate at .*: no answer within the timeout$/);
});

test('a redirect is not followed', async (t) => {
  const server = await startServer(() => ({ status: 308, headers: { Location: 'https://shipgate.example.com/api/v1/evidence' } }));
  t.after(server.close);
  const { promise } = post({ url: server.url });
  await assert.rejects(promise, /308 Permanent Redirect \(a redirect to https:\/\/shipgate\.example\.com\/api\/v1\/evidence\)/);
  assert.equal(server.requests.length, 1);
});

test('a url with a path keeps it', async (t) => {
  const server = await startServer(() => ({ status: 202 }));
  t.after(server.close);
  const { promise } = post({ url: `${server.url}/shipgate//` });
  assert.equal((await promise).status, 202);
  assert.equal(server.requests[0].url, '/shipgate/api/v1/evidence');
});

test('url checks', () => {
  assert.equal(baseUrl(' https://shipgate.example.com/ '), 'https://shipgate.example.com');
  assert.throws(() => baseUrl('shipgate.example.com'), /url: "shipgate\.example\.com" is not a URL/);
  assert.throws(() => baseUrl('ftp://shipgate.example.com'), /not an http\(s\) URL/);
  assert.throws(() => baseUrl('https://shipgate.example.com/?x=1'), /must not have a query/);
});

test('Retry-After and backoff', () => {
  assert.equal(retryAfterMs(null), null);
  assert.equal(retryAfterMs('0'), 0);
  assert.equal(retryAfterMs('5'), 5000);
  assert.equal(retryAfterMs('100000'), 120000);
  assert.equal(retryAfterMs('soon'), null);
  const now = Date.parse('2026-01-01T00:00:00Z');
  assert.equal(retryAfterMs('Thu, 01 Jan 2026 00:00:07 GMT', now), 7000);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, { random: () => 0 })), [1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  assert.equal(backoffMs(0, { random: () => 0.999 }), 1999);
});

test('problem detail, else title, else a short text', () => {
  assert.equal(problemDetail('{"title":"Forbidden","status":403,"detail":"why"}'), 'why');
  assert.equal(problemDetail('{"title":"Forbidden","status":403}'), 'Forbidden');
  assert.equal(problemDetail(''), 'no detail');
  assert.equal(problemDetail('x'.repeat(300)).length, 200);
});

test('the User-Agent carries the version of package.json', async () => {
  const pkg = JSON.parse(await readFile(path.join(ACTION_DIR, 'package.json'), 'utf8'));
  assert.equal(VERSION, pkg.version);
  assert.equal(USER_AGENT, `shipgate-action/${pkg.version}`);
});

test('no ACTIONS_ID_TOKEN_REQUEST_URL: the job needs id-token: write', async () => {
  let called = false;
  await assert.rejects(
    getToken('https://shipgate.example.com', { env: {}, getIDToken: async () => { called = true; } }),
    /ACTIONS_ID_TOKEN_REQUEST_URL is not set\. The job needs `permissions: id-token: write`/,
  );
  assert.equal(called, false);
});

test("the token comes from core.getIDToken, asking the token endpoint for the audience", async (t) => {
  const server = await startServer(() => ({
    status: 200,
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ value: 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm9jdG8vc2hvcCJ9.c2ln' }),
  }));
  const saved = { url: process.env.ACTIONS_ID_TOKEN_REQUEST_URL, token: process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN };
  t.after(async () => {
    for (const [k, v] of [['ACTIONS_ID_TOKEN_REQUEST_URL', saved.url], ['ACTIONS_ID_TOKEN_REQUEST_TOKEN', saved.token]]) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    await server.close();
  });
  process.env.ACTIONS_ID_TOKEN_REQUEST_URL = `${server.url}/_apis/token?api-version=2.0`;
  process.env.ACTIONS_ID_TOKEN_REQUEST_TOKEN = 'request-token';
  const token = await getToken('https://shipgate.example.com');
  assert.equal(token, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm9jdG8vc2hvcCJ9.c2ln');
  assert.equal(server.requests.length, 1);
  assert.equal(server.requests[0].method, 'GET');
  assert.equal(server.requests[0].url, '/_apis/token?api-version=2.0&audience=https%3A%2F%2Fshipgate.example.com');
  assert.equal(server.requests[0].headers.authorization, 'Bearer request-token');
});

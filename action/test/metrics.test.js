import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMetrics } from '../src/metrics.js';
import { parseDeploy } from '../src/deploy.js';

test('name=value pairs, trimmed, blank lines skipped, values kept as strings', () => {
  const input = '  lighthouse_accessibility = 98 \n\nbundle.size-kb=512\r\nnote=a=b\n';
  assert.deepEqual(parseMetrics(input), {
    lighthouse_accessibility: '98',
    'bundle.size-kb': '512',
    note: 'a=b',
  });
  assert.equal(parseMetrics(''), null);
  assert.equal(parseMetrics(' \n \n'), null);
});

test('a bad line is an error naming the line', () => {
  assert.throws(() => parseMetrics('ok=1\njust words'), /^Error: metrics line 2 \("just words"\): expected name=value$/);
  assert.throws(() => parseMetrics('ok=1\n\nbad name=3'), /metrics line 3 \("bad name=3"\): the name must be 1 to 64/);
  assert.throws(() => parseMetrics('=3'), /metrics line 1 \("=3"\): the name must be/);
  assert.throws(() => parseMetrics(`${'n'.repeat(65)}=1`), /metrics line 1 .*the name must be 1 to 64/);
  assert.throws(() => parseMetrics('empty='), /metrics line 1 \("empty="\): empty has no value/);
  assert.throws(() => parseMetrics(`long=${'v'.repeat(257)}`), /metrics line 1 .*longer than 256 characters/);
  assert.throws(() => parseMetrics('a=1\na=2'), /metrics line 2 \("a=2"\): a is given twice/);
  assert.doesNotThrow(() => parseMetrics(`ok=${'v'.repeat(256)}`));
  assert.doesNotThrow(() => parseMetrics(`${'n'.repeat(64)}=1`));
});

test('at most 50 metrics', () => {
  const lines = (n) => Array.from({ length: n }, (_, i) => `m${i}=${i}`).join('\n');
  assert.equal(Object.keys(parseMetrics(lines(50))).length, 50);
  assert.throws(() => parseMetrics(lines(51)), /metrics line 51 \("m50=50"\): more than 50 metrics/);
});

test('a name like __proto__ stays an ordinary key', () => {
  const m = parseMetrics('__proto__=1');
  assert.equal(Object.getPrototypeOf(m), Object.prototype);
  assert.equal(JSON.stringify(m), '{"__proto__":"1"}');
});

test('deploy: an http(s) URL and a version, either alone', () => {
  assert.deepEqual(parseDeploy(' https://staging.example.com ', ' 1.4.2 '), {
    url: 'https://staging.example.com',
    version: '1.4.2',
  });
  assert.deepEqual(parseDeploy('http://10.0.0.1:8080/app', ''), { url: 'http://10.0.0.1:8080/app' });
  assert.deepEqual(parseDeploy('', 'v2'), { version: 'v2' });
  assert.equal(parseDeploy('', ''), null);
  assert.throws(() => parseDeploy('ftp://example.com', ''), /deploy-url: "ftp:\/\/example\.com" is not an http\(s\) URL/);
  assert.throws(() => parseDeploy('staging', ''), /deploy-url: "staging" is not a URL/);
  assert.throws(() => parseDeploy('https://user:pw@example.com', ''), /user name or password is not sent/);
  assert.throws(() => parseDeploy('', 'v'.repeat(129)), /deploy-version: longer than 128/);
  assert.deepEqual(parseDeploy('', 'v'.repeat(128)), { version: 'v'.repeat(128) });
});

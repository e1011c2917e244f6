// Shared by the tests (kept outside test/, so that `node --test test/` does not run it as a
// test file): fixture paths, a log that records, and local HTTP servers.
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ACTION_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FIXTURES = path.join(ACTION_DIR, 'test', 'fixtures');

/** The absolute path of a fixture. */
export function fixture(...parts) {
  return path.join(FIXTURES, ...parts);
}

/** A log with core's methods that keeps what it was told. */
export function recordingLog() {
  const lines = { info: [], warning: [], debug: [] };
  return {
    lines,
    info: (m) => lines.info.push(m),
    warning: (m) => lines.warning.push(m),
    debug: (m) => lines.debug.push(m),
  };
}

/**
 * Starts a server on 127.0.0.1 that records each request ({ method, url, headers, body })
 * and answers with handler(request, index) => { status, headers, body }.
 */
export async function startServer(handler) {
  const requests = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const request = {
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      const answer = handler(request, requests.length - 1);
      res.writeHead(answer.status, answer.headers ?? {});
      res.end(answer.body ?? '');
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections?.();
        server.close(resolve);
      }),
  };
}

/** A problem+json answer. */
export function problem(status, title, detail) {
  return {
    status,
    headers: { 'Content-Type': 'application/problem+json' },
    body: JSON.stringify({ type: 'about:blank', title, status, detail }),
  };
}

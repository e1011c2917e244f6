// The OIDC token and the POST to shipgate, with retries.
import * as core from '@actions/core';
import { VERSION } from './version.js';

export const USER_AGENT = `shipgate-action/${VERSION}`;
export const TIMEOUT_MS = 30_000;
const BASE_DELAY_MS = 1_000;
const MAX_DELAY_MS = 30_000;
const MAX_RETRY_AFTER_MS = 120_000;

/** shipgate's URL without trailing slashes; throws unless it is an http(s) URL. */
export function baseUrl(url) {
  const trimmed = String(url ?? '').trim().replace(/\/+$/, '');
  let parsed;
  try {
    parsed = new URL(trimmed);
  } catch {
    throw new Error(`url: ${JSON.stringify(trimmed)} is not a URL (expected e.g. https://shipgate.example.com)`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new Error(`url: ${JSON.stringify(trimmed)} is not an http(s) URL`);
  }
  if (parsed.search !== '' || parsed.hash !== '') {
    throw new Error(`url: ${JSON.stringify(trimmed)} must not have a query or fragment`);
  }
  return trimmed;
}

/** The GitHub Actions OIDC token for the audience (core.getIDToken). */
export async function getToken(audience, { env = process.env, getIDToken = core.getIDToken } = {}) {
  if (!env.ACTIONS_ID_TOKEN_REQUEST_URL || !env.ACTIONS_ID_TOKEN_REQUEST_TOKEN) {
    throw new Error(
      'cannot get an OIDC token: ACTIONS_ID_TOKEN_REQUEST_URL is not set. ' +
        'The job needs `permissions: id-token: write` ' +
        '(and a workflow run from a fork never gets a token).',
    );
  }
  try {
    return await getIDToken(audience);
  } catch (e) {
    throw new Error(`cannot get an OIDC token for audience ${audience}: ${e.message}`);
  }
}

/** Milliseconds a Retry-After header asks for (seconds or an HTTP date), or null. */
export function retryAfterMs(header, now = Date.now()) {
  if (header === null || header === undefined) return null;
  const value = String(header).trim();
  if (/^\d+$/.test(value)) return Math.min(Number(value) * 1000, MAX_RETRY_AFTER_MS);
  const date = Date.parse(value);
  if (Number.isNaN(date)) return null;
  return Math.min(Math.max(0, date - now), MAX_RETRY_AFTER_MS);
}

/** Exponential backoff from ~1 s, capped, plus up to one base delay of jitter. */
export function backoffMs(attempt, { baseDelayMs = BASE_DELAY_MS, maxDelayMs = MAX_DELAY_MS, random = Math.random } = {}) {
  return Math.min(maxDelayMs, baseDelayMs * 2 ** attempt) + Math.floor(random() * baseDelayMs);
}

function retryable(status) {
  return status === 408 || status === 429 || status >= 500;
}

/** The detail of an application/problem+json answer (else its title or a short text). */
export function problemDetail(text) {
  try {
    const problem = JSON.parse(text);
    if (problem && typeof problem === 'object') {
      const said = problem.detail || problem.title;
      if (typeof said === 'string' && said !== '') return said;
    }
  } catch {
    // not JSON: a proxy's page, say
  }
  const flat = String(text ?? '').replace(/\s+/g, ' ').trim();
  if (flat === '') return 'no detail';
  return flat.length > 200 ? `${flat.slice(0, 197)}...` : flat;
}

function describeStatus(res) {
  return res.statusText ? `${res.status} ${res.statusText}` : String(res.status);
}

function causeOf(error) {
  if (error?.name === 'TimeoutError') return 'no answer within the timeout';
  const cause = error?.cause?.code || error?.cause?.message;
  return cause ? `${error.message} (${cause})` : String(error?.message ?? error);
}

/**
 * POSTs the document to {url}/api/v1/evidence with the token; retries network errors, 408,
 * 429 and 5xx up to `retries` times (Retry-After honoured), never other 4xx.
 * Returns { status, answer } (answer: the parsed JSON, or the text) on 2xx; throws otherwise.
 */
export async function postEvidence({
  url,
  token,
  document,
  retries = 4,
  log = core,
  sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  timeoutMs = TIMEOUT_MS,
  baseDelayMs,
  maxDelayMs,
  random,
}) {
  const endpoint = `${baseUrl(url)}/api/v1/evidence`;
  const body = JSON.stringify(document);
  const attempts = retries + 1;
  for (let attempt = 0; ; attempt += 1) {
    let res;
    let text = '';
    let error;
    try {
      res = await fetch(endpoint, {
        method: 'POST',
        headers: {
          Authorization: `Bearer ${token}`,
          'Content-Type': 'application/json',
          'User-Agent': USER_AGENT,
        },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
      text = await res.text();
    } catch (e) {
      error = e;
    }
    if (!error && res.status >= 200 && res.status < 300) {
      let answer = text;
      try {
        answer = JSON.parse(text);
      } catch {
        // keep the text
      }
      log.debug(`shipgate answered ${res.status}: ${text}`);
      return { status: res.status, answer };
    }
    const last = attempt + 1 >= attempts;
    if (!error && !retryable(res.status)) {
      if (res.status >= 300 && res.status < 400) {
        const to = res.headers.get('location');
        throw new Error(
          `shipgate answered ${describeStatus(res)} (a redirect${to ? ` to ${to}` : ''}): ` +
            "set the action's url to shipgate's final address",
        );
      }
      throw new Error(`shipgate refused the evidence: ${describeStatus(res)}: ${problemDetail(text)}`);
    }
    const what = error
      ? `could not reach shipgate at ${endpoint}: ${causeOf(error)}`
      : `shipgate answered ${describeStatus(res)}: ${problemDetail(text)}`;
    if (last) {
      throw new Error(attempts > 1 ? `${what} (gave up after ${attempts} attempts)` : what);
    }
    const asked = error ? null : retryAfterMs(res.headers.get('retry-after'));
    const wait = asked ?? backoffMs(attempt, { baseDelayMs, maxDelayMs, random });
    log.info(`${what}; retrying in ${(wait / 1000).toFixed(1)} s (attempt ${attempt + 2} of ${attempts})`);
    await sleep(wait);
  }
}

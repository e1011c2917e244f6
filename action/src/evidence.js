// The evidence document: a summary of the reports, never their contents or paths.
import { readFile } from 'node:fs/promises';
import { findFiles, splitPatterns } from './files.js';
import { readJUnit } from './junit.js';
import { readCoverage } from './coverage.js';
import { readSarif, SEVERITIES } from './sarif.js';
import { parseMetrics } from './metrics.js';
import { parseDeploy } from './deploy.js';

export const FORMAT = 1;

/**
 * The `pipeline` input shipgate dispatched the run with, read from the workflow_dispatch
 * event payload (GITHUB_EVENT_PATH, `.inputs.pipeline`); undefined when there is none.
 */
export async function pipelineFromEvent(eventPath, log) {
  if (!eventPath) return undefined;
  let event;
  try {
    event = JSON.parse(await readFile(eventPath, 'utf8'));
  } catch (e) {
    log?.warning?.(`could not read the event payload ${eventPath}: ${e.message}`);
    return undefined;
  }
  const value = event?.inputs?.pipeline;
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

/**
 * Builds the document from the action's inputs:
 * { junit, coverage, sarif, metrics, deployUrl, deployVersion, pipeline } (strings).
 * Every problem found is reported together in one error.
 */
export async function buildEvidence(inputs, { env = process.env, log } = {}) {
  const errors = [];
  const attempt = async (fn) => {
    try {
      return await fn();
    } catch (e) {
      errors.push(e.message);
      return undefined;
    }
  };

  const doc = { format: FORMAT };
  const pipeline =
    String(inputs.pipeline ?? '').trim() || (await pipelineFromEvent(env.GITHUB_EVENT_PATH, log));
  if (pipeline) doc.pipeline = pipeline;
  else log?.info?.('no pipeline input and none in the event payload: pipeline not sent');

  if (splitPatterns(inputs.junit).length > 0) {
    const tests = await attempt(async () => readJUnit(await findFiles('junit', inputs.junit), log));
    if (tests) doc.tests = tests;
  }
  if (String(inputs.coverage ?? '').trim() !== '') {
    const percent = await attempt(() => readCoverage(inputs.coverage, log));
    if (typeof percent === 'number') doc.coverage = { percent };
  }
  if (splitPatterns(inputs.sarif).length > 0) {
    const findings = await attempt(async () => readSarif(await findFiles('sarif', inputs.sarif), log));
    if (findings) doc.findings = findings;
  }
  const metrics = await attempt(() => parseMetrics(inputs.metrics));
  if (metrics) doc.metrics = metrics;
  const deploy = await attempt(() => parseDeploy(inputs.deployUrl, inputs.deployVersion));
  if (deploy) doc.deploy = deploy;

  if (errors.length > 0) {
    throw new Error(errors.length === 1 ? errors[0] : `${errors.length} problems:\n${errors.join('\n')}`);
  }
  return doc;
}

/** One line saying what a document holds. */
export function summarize(doc) {
  const parts = [];
  if (doc.tests) {
    parts.push(`tests ${doc.tests.passed} passed, ${doc.tests.failed} failed, ${doc.tests.skipped} skipped`);
  }
  if (doc.coverage) parts.push(`coverage ${doc.coverage.percent}%`);
  if (doc.findings) parts.push(`findings ${SEVERITIES.map((s) => `${doc.findings[s]} ${s}`).join(', ')}`);
  if (doc.metrics) parts.push(`metrics ${Object.keys(doc.metrics).join(', ')}`);
  if (doc.deploy) {
    parts.push(`deploy ${[doc.deploy.version, doc.deploy.url].filter(Boolean).join(' at ')}`);
  }
  const what = parts.length > 0 ? parts.join('; ') : 'no reports';
  return doc.pipeline ? `pipeline ${doc.pipeline}: ${what}` : what;
}

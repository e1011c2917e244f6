// The action's entry: build the evidence, get an OIDC token, POST it to shipgate.
import * as core from '@actions/core';
import { buildEvidence, summarize } from './evidence.js';
import { baseUrl, getToken, postEvidence } from './report.js';

function retriesInput() {
  const raw = core.getInput('retries').trim();
  if (raw === '') return 4;
  if (!/^\d+$/.test(raw) || Number(raw) > 10) {
    throw new Error(`retries: ${JSON.stringify(raw)} is not a whole number from 0 to 10`);
  }
  return Number(raw);
}

function failOnErrorInput() {
  const raw = core.getInput('fail-on-error').trim().toLowerCase();
  if (raw === '' || raw === 'true') return true;
  if (raw === 'false') return false;
  throw new Error(`fail-on-error: ${JSON.stringify(raw)} is not true or false`);
}

async function run() {
  let failOnError = true;
  try {
    failOnError = failOnErrorInput();
    const url = baseUrl(core.getInput('url', { required: true }));
    const audience = core.getInput('audience').trim() || url;
    const retries = retriesInput();
    const document = await buildEvidence(
      {
        junit: core.getInput('junit'),
        coverage: core.getInput('coverage'),
        sarif: core.getInput('sarif'),
        metrics: core.getInput('metrics'),
        deployUrl: core.getInput('deploy-url'),
        deployVersion: core.getInput('deploy-version'),
        pipeline: core.getInput('pipeline'),
      },
      { log: core },
    );
    const json = JSON.stringify(document);
    core.setOutput('evidence', json);
    core.info(`evidence: ${json}`);
    const token = await getToken(audience);
    const { status } = await postEvidence({ url, token, document, retries, log: core });
    core.info(`shipgate recorded the evidence (${status}) for ${summarize(document)}`);
  } catch (e) {
    const message = `shipgate evidence not reported: ${e.message}`;
    if (failOnError) core.setFailed(message);
    else core.warning(message);
  }
}

run();

// SARIF 2.1.0: results counted by severity, the way GitHub code scanning ranks them.
import { readFile } from 'node:fs/promises';

export const SEVERITIES = ['critical', 'high', 'medium', 'low'];

/**
 * A rule's security-severity (a CVSS-like score) as a severity: >= 9.0 critical, >= 7.0 high,
 * >= 4.0 medium, > 0 low; null when absent or not a positive number.
 */
export function severityFromScore(score) {
  if (score === undefined || score === null || String(score).trim() === '') return null;
  const n = Number(score);
  if (!Number.isFinite(n) || n <= 0) return null;
  if (n >= 9.0) return 'critical';
  if (n >= 7.0) return 'high';
  if (n >= 4.0) return 'medium';
  return 'low';
}

/** A SARIF level as a severity: error high, warning medium, note low, none not counted. */
export function severityFromLevel(level) {
  switch (level) {
    case 'error':
      return 'high';
    case 'warning':
      return 'medium';
    case 'note':
      return 'low';
    case 'none':
      return null;
    default:
      return undefined; // not a SARIF level
  }
}

/** The tool components of a run: the driver first, then the extensions. */
function components(run) {
  const tool = run?.tool ?? {};
  return [tool.driver, ...(Array.isArray(tool.extensions) ? tool.extensions : [])].filter(
    (c) => c && typeof c === 'object',
  );
}

function rulesOf(component) {
  return Array.isArray(component?.rules) ? component.rules : [];
}

/** The component a toolComponentReference names (by index, guid or name), or undefined. */
function referencedComponent(run, ref) {
  const extensions = Array.isArray(run?.tool?.extensions) ? run.tool.extensions : [];
  if (Number.isInteger(ref.index)) return extensions[ref.index];
  const all = components(run);
  if (typeof ref.guid === 'string') return all.find((c) => c.guid === ref.guid);
  if (typeof ref.name === 'string') return all.find((c) => c.name === ref.name);
  return undefined;
}

/**
 * The rule (reportingDescriptor) of a result: by result.rule.index or result.ruleIndex in
 * its tool component (result.rule.toolComponent, else the driver), else by id
 * (result.rule.id or result.ruleId, or a hierarchical id's prefix) in that component, then in
 * the driver and every extension.
 */
export function findRule(run, result) {
  const ref = result?.rule && typeof result.rule === 'object' ? result.rule : {};
  const id = typeof ref.id === 'string' ? ref.id : result?.ruleId;
  const index = Number.isInteger(ref.index) ? ref.index : result?.ruleIndex;
  const home =
    ref.toolComponent && typeof ref.toolComponent === 'object'
      ? referencedComponent(run, ref.toolComponent)
      : run?.tool?.driver;
  if (Number.isInteger(index) && index >= 0) {
    const rule = rulesOf(home)[index];
    const agrees =
      typeof id !== 'string' || rule?.id === undefined || id === rule.id || id.startsWith(`${rule.id}/`);
    if (rule && agrees) return rule;
  }
  if (typeof id !== 'string') return undefined;
  // A hierarchical id ("CA2101/1") may name its rule by a prefix.
  const candidates = [id];
  for (let i = id.lastIndexOf('/'); i > 0; i = id.lastIndexOf('/', i - 1)) {
    candidates.push(id.slice(0, i));
  }
  const searched = [home, ...components(run)].filter(Boolean);
  for (const candidate of candidates) {
    for (const component of searched) {
      const rule = rulesOf(component).find((r) => r?.id === candidate);
      if (rule) return rule;
    }
  }
  return undefined;
}

/**
 * True when a result is suppressed: its suppressions array is non-empty and none of them is
 * still under review or was rejected (the reading of the SARIF SDK and GitLab's importer).
 */
export function isSuppressed(result) {
  const list = result?.suppressions;
  return (
    Array.isArray(list) &&
    list.length > 0 &&
    !list.some((s) => s?.status === 'underReview' || s?.status === 'rejected')
  );
}

/** The severity of one result, or null when it is not counted. */
export function severityOf(run, result) {
  if (isSuppressed(result)) return null;
  // Only failures are findings: a result of kind pass, notApplicable, informational, review or
  // open is not (absent kind means fail). Nor is one the baseline says is gone (absent).
  if (result?.kind !== undefined && result.kind !== 'fail') return null;
  if (result?.baselineState === 'absent') return null;
  const rule = findRule(run, result);
  const byScore = severityFromScore(rule?.properties?.['security-severity']);
  if (byScore !== null) return byScore;
  const level =
    [result?.level, rule?.defaultConfiguration?.level].find(
      (l) => severityFromLevel(l) !== undefined,
    ) ?? 'warning';
  return severityFromLevel(level);
}

/** Counts of one SARIF log (parsed JSON). */
export function countSarif(log, file = 'SARIF log') {
  if (!log || typeof log !== 'object' || !Array.isArray(log.runs)) {
    throw new Error(`${file}: not a SARIF log (no "runs" array)`);
  }
  if (typeof log.version === 'string' && !log.version.startsWith('2.')) {
    throw new Error(`${file}: SARIF version ${log.version} is not supported (2.1.0 is)`);
  }
  const counts = { critical: 0, high: 0, medium: 0, low: 0 };
  for (const run of log.runs) {
    for (const result of Array.isArray(run?.results) ? run.results : []) {
      const severity = severityOf(run, result);
      if (severity) counts[severity] += 1;
    }
  }
  return counts;
}

/** Sums the counts over files. */
export async function readSarif(files, log) {
  const total = { critical: 0, high: 0, medium: 0, low: 0 };
  for (const file of files) {
    let parsed;
    try {
      parsed = JSON.parse((await readFile(file, 'utf8')).replace(/^\uFEFF/, ''));
    } catch (e) {
      throw new Error(`${file}: not valid JSON (${e.message})`);
    }
    const counts = countSarif(parsed, file);
    log?.info?.(`${file}: ${SEVERITIES.map((s) => `${counts[s]} ${s}`).join(', ')}`);
    for (const s of SEVERITIES) total[s] += counts[s];
  }
  return total;
}

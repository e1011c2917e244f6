// Free-form metrics: one name=value pair a line.
export const MAX_METRICS = 50;
export const MAX_VALUE_LENGTH = 256;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;

function quote(line) {
  const shown = line.length > 80 ? `${line.slice(0, 77)}...` : line;
  return JSON.stringify(shown);
}

/**
 * The metrics of the `metrics` input as { name: value } (values are strings), or null when
 * there are none. Blank lines are skipped; a bad line is an error naming the line.
 */
export function parseMetrics(input) {
  const pairs = new Map();
  const lines = String(input ?? '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (line === '') return;
    const where = `metrics line ${i + 1} (${quote(line)})`;
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`${where}: expected name=value`);
    const name = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    if (!NAME.test(name)) {
      throw new Error(
        `${where}: the name must be 1 to 64 letters, digits, '_', '.' or '-'`,
      );
    }
    if (value === '') throw new Error(`${where}: ${name} has no value`);
    if (value.length > MAX_VALUE_LENGTH) {
      throw new Error(`${where}: the value is longer than ${MAX_VALUE_LENGTH} characters`);
    }
    if (pairs.has(name)) throw new Error(`${where}: ${name} is given twice`);
    if (pairs.size === MAX_METRICS) throw new Error(`${where}: more than ${MAX_METRICS} metrics`);
    pairs.set(name, value);
  });
  // Object.fromEntries defines own properties, so even a name like __proto__ stays data.
  return pairs.size === 0 ? null : Object.fromEntries(pairs);
}

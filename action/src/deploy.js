// The deploy a deploy workflow reports: where it went and which version.
export const MAX_VERSION_LENGTH = 128;

/** { url?, version? } from the deploy-url and deploy-version inputs, or null if neither. */
export function parseDeploy(url, version) {
  const deploy = {};
  const u = String(url ?? '').trim();
  if (u !== '') {
    let parsed;
    try {
      parsed = new URL(u);
    } catch {
      throw new Error(`deploy-url: ${JSON.stringify(u)} is not a URL`);
    }
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
      throw new Error(`deploy-url: ${JSON.stringify(u)} is not an http(s) URL`);
    }
    if (parsed.username !== '' || parsed.password !== '') {
      throw new Error('deploy-url: a URL with a user name or password is not sent');
    }
    deploy.url = u;
  }
  const v = String(version ?? '').trim();
  if (v !== '') {
    if (v.length > MAX_VERSION_LENGTH) {
      throw new Error(`deploy-version: longer than ${MAX_VERSION_LENGTH} characters`);
    }
    deploy.version = v;
  }
  return Object.keys(deploy).length === 0 ? null : deploy;
}

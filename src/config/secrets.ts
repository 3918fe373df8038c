/**
 * Values never to print. Two detectors: one reads the connections of a parsed file (secret-named keys, URL
 * passwords, secret-named `${ENV}` substitutions); the other searches the raw text of a file that may not even parse,
 * so that an error quoting a line does not print the password written next to the mistake.
 */
import { interpolateEnv } from './interpolate.js';

/** `connections:` of a parsed file whatever its shape; nothing when it is not a map. */
export function connectionsOf(doc: unknown): Readonly<Record<string, unknown>> {
  const connections = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>)['connections'] : undefined;
  return typeof connections === 'object' && connections !== null ? (connections as Record<string, unknown>) : {};
}

/** `password: x`, `"token": 'x'`, `{ …, secret: x }`: a secret-named key and its value, quoted or plain. */
const SECRET_ENTRY =
  /(?:^|[{,\s])["']?(?:password|passphrase|private_key|secret|token|api_key|secret_access_key|access_key_id|session_token)["']?[ \t]*:[ \t]*(?:"([^"]{0,4096})"|'([^']{0,4096})'|([^\s,}#]{1,4096}))/gim;
/** `scheme://user:password@`; every part bounded, so that a long line costs linear time. */
const URL_PASSWORD_ANYWHERE = /\b[a-z][a-z0-9+.-]{0,31}:\/\/[^:/?#@\s"']{0,256}:([^/?#\s"'@]{0,1024})@/gi;
/** `?password=x` or `&password=x` in a URL. */
const URL_QUERY_PASSWORD = /[?&]password=([^&#\s"']{1,1024})/gi;

/**
 * Secret-looking values in the text of an invalid file (one that may not even parse): a best effort, so that the
 * lines an error quotes do not print a password written next to the mistake. The default of `${VAR:-default}` is a
 * value too: under a secret-named key, and for a secret-named variable anywhere.
 */
export function secretsInText(text: string): string[] {
  const found = new Set<string>();
  for (const m of text.matchAll(SECRET_ENTRY)) {
    const value = m[1] ?? m[2] ?? m[3] ?? '';
    found.add(value);
    if (value.includes('${')) for (const d of interpolateEnv(value, {}).substitutions) found.add(d.text);
  }
  for (const m of [...text.matchAll(URL_PASSWORD_ANYWHERE), ...text.matchAll(URL_QUERY_PASSWORD)]) {
    for (const password of withDecoded(m[1] ?? '')) found.add(password);
  }
  for (const d of interpolateEnv(text, {}).substitutions) if (SECRET_ENV_NAME.test(d.variable)) found.add(d.text);
  // `${VAR}` is a reference, not a value.
  return [...found].filter((s) => s.length > 0 && !s.includes('${'));
}

/** A URL part as written and %-decoded (drivers decode `%40` and may print the decoded form). */
function withDecoded(part: string): string[] {
  try {
    return [part, decodeURIComponent(part)];
  } catch {
    // Not valid percent-encoding: the raw form is all there is.
    return [part];
  }
}

const SECRET_KEYS = new Set(['password', 'passphrase', 'private_key', 'secret', 'token', 'api_key', 'secret_access_key', 'access_key_id', 'session_token']);
const SECRET_ENV_NAME = /PASS|SECRET|TOKEN|KEY|CREDENTIAL/i;
const URL_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^:/?#@\s]*:([^/?#\s]*)@/i;

/**
 * Values never to print: secret-named keys anywhere in a connection, the password in a connection URL, and what was
 * substituted for a secret-looking environment variable anywhere in the file.
 */
export function collectSecrets(
  connections: Readonly<Record<string, unknown>>,
  substitutions: readonly { variable: string; text: string }[],
): string[] {
  const secrets = new Set<string>();
  const visit = (value: unknown, key: string | undefined): void => {
    if (Array.isArray(value)) {
      for (const item of value) visit(item, key);
    } else if (typeof value === 'object' && value !== null) {
      for (const [k, v] of Object.entries(value)) visit(v, k);
    } else if (typeof value === 'string' || typeof value === 'number') {
      const text = String(value);
      if (key !== undefined && SECRET_KEYS.has(key.toLowerCase())) secrets.add(text);
      if (typeof value === 'string') {
        const passwords = [URL_PASSWORD.exec(value)?.[1], ...[...value.matchAll(URL_QUERY_PASSWORD)].map((m) => m[1])];
        for (const password of passwords) if (password !== undefined) for (const p of withDecoded(password)) secrets.add(p);
      }
    }
  };
  for (const connection of Object.values(connections)) visit(connection, undefined);
  for (const { variable, text } of substitutions) if (SECRET_ENV_NAME.test(variable)) secrets.add(text);
  secrets.delete('');
  return [...secrets];
}

/**
 * A driver's text (an error message, a server's detail) with a connection's secrets replaced by `***`. Drivers
 * quote what the server said, and a server may echo a password (a failed URL, a user name that was a password).
 */
export function maskSecrets(text: string, secrets: readonly (string | undefined)[]): string {
  let out = text;
  for (const s of secrets) if (s !== undefined && s !== '' && out.includes(s)) out = out.replaceAll(s, '***');
  return out;
}

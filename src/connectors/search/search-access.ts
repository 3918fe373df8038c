import type { TargetAccess } from '../contract.js';
import { LOADS_INDEX } from './search-import.js';
import type { SearchContext } from './search-scan.js';

/** The blocks that stop a load: an index (or the whole cluster) made read-only, by an operator or a full disk. */
const WRITE_BLOCKS = ['write', 'read_only', 'read_only_allow_delete'] as const;

/**
 * What a load into `table` needs: a work index `<table>_<run>` created, written, aliased and deleted, the old
 * indices deleted by an overwrite, and a record in pigeon_loads.
 */
const PRIVILEGES = ['create_index', 'write', 'manage', 'delete_index'] as const;

interface SettingsReply {
  readonly [index: string]: { readonly settings?: { readonly index?: { readonly blocks?: Record<string, unknown> } } } | number;
}

interface ClusterSettings {
  readonly persistent?: { readonly cluster?: { readonly blocks?: Record<string, unknown> } };
  readonly transient?: { readonly cluster?: { readonly blocks?: Record<string, unknown> } };
}

interface HasPrivileges {
  readonly has_all_requested?: boolean;
  readonly index?: Record<string, Record<string, boolean>>;
}

const on = (v: unknown) => v === true || v === 'true';

/**
 * `pigeon check` of a search target: whether the index (or alias) exists, whether a write block on it or on the
 * cluster stops loads, and, where the server can say (Elasticsearch with security on: `_has_privileges`), whether
 * the connection's user holds what a load needs. Reads settings only.
 */
export async function searchTargetAccess(ctx: SearchContext, table: string, signal?: AbortSignal): Promise<TargetAccess> {
  const call = { code: 'IMPORT_FAILED' as const, signal, context: { table } };
  const name = encodeURIComponent(table);
  const head = await ctx.http.call('HEAD', `/${name}`, undefined, { ...call, accept: [404] });
  const exists = head.status !== 404;

  const cluster = await ctx.http.json<ClusterSettings>('GET', '/_cluster/settings?flat_settings=false', undefined, call);
  for (const scope of [cluster.transient, cluster.persistent]) {
    const blocks = scope?.cluster?.blocks ?? {};
    for (const b of ['read_only', 'read_only_allow_delete']) {
      if (on(blocks[b])) return { exists, writable: false, reason: `the cluster has the block cluster.blocks.${b}` };
    }
  }
  if (exists) {
    const settings = await ctx.http.json<SettingsReply>('GET', `/${name}/_settings/index.blocks.*?flat_settings=false`, undefined, call);
    for (const [index, value] of Object.entries(settings)) {
      if (typeof value === 'number') continue; // the reply's own `status`
      const blocks = value.settings?.index?.blocks ?? {};
      const block = WRITE_BLOCKS.find((b) => on(blocks[b]));
      if (block) return { exists, writable: false, reason: `index ${index} has the block index.blocks.${block}` };
    }
  }

  const privileges = await userPrivileges(ctx, table, signal);
  if (privileges === 'no security') return { exists, writable: true };
  if (privileges === 'unknown') {
    return { exists, writable: true, note: `${ctx.server.flavor.product} does not tell a user its index privileges: a load may still be refused` };
  }
  const missing = Object.entries(privileges.index ?? {}).flatMap(([index, held]) =>
    Object.entries(held).filter(([, has]) => !has).map(([p]) => `${p} on ${index}`));
  return privileges.has_all_requested === true
    ? { exists, writable: true }
    : { exists, writable: false, reason: `the user lacks ${missing.join(', ') || 'a privilege a load needs'}` };
}

/**
 * Elasticsearch's `_has_privileges` for the indices a load touches. A server without security answers the path as an
 * index name (400) or with no handler (OpenSearch without its security plugin): nothing restricts the user. The
 * OpenSearch security plugin has no such question for a user ('unknown').
 */
async function userPrivileges(ctx: SearchContext, table: string, signal?: AbortSignal): Promise<HasPrivileges | 'no security' | 'unknown'> {
  const call = { code: 'IMPORT_FAILED' as const, signal, context: { table }, accept: [400, 404] };
  if (ctx.server.flavor.kind === 'opensearch') {
    const info = await ctx.http.call('GET', '/_plugins/_security/authinfo', undefined, call);
    return info.status === 200 ? 'unknown' : 'no security';
  }
  const body = { index: [{ names: [table, `${table}_*`, LOADS_INDEX], privileges: PRIVILEGES }] };
  const reply = await ctx.http.call('POST', '/_security/user/_has_privileges', JSON.stringify(body), call);
  if (reply.status !== 200) return 'no security';
  return JSON.parse(reply.text) as HasPrivileges;
}

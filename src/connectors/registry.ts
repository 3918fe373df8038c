import type { ConnectorKind } from './contract.js';
import { sqliteKind } from './sqlite/sqlite-kind.js';
import { fileKind } from './file/file-kind.js';
import { mysqlKind } from './mysql/mysql-kind.js';
import { postgresKind } from './postgres/postgres-kind.js';
import { elasticsearchKind, opensearchKind } from './search/search-kind.js';
import { hiveKind } from './hive/hive-kind.js';
import { redshiftKind } from './redshift/redshift-kind.js';
import { s3Kind } from './s3/s3-kind.js';
import { ftpKind, sftpKind } from './ftp/ftp-kind.js';

/**
 * Every kind pigeon knows. Entries are cheap: the implementation and its driver are imported by `load()` only when
 * a pipeline uses the kind, so a SQLite-only pipeline never loads `mysql2`, `pg`, `hive-driver`, the AWS SDK or the FTP and SSH clients.
 */
const KINDS: ReadonlyMap<string, ConnectorKind> = new Map(
  [sqliteKind, fileKind, mysqlKind, postgresKind, hiveKind, elasticsearchKind, opensearchKind, s3Kind, redshiftKind, ftpKind, sftpKind].map((k) => [k.kind, k]),
);

export function getConnectorKind(type: string): ConnectorKind | undefined {
  return KINDS.get(type);
}

export function connectorKindNames(): readonly string[] {
  return [...KINDS.keys()];
}

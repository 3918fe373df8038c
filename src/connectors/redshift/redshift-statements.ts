import type { Session } from '../postgres/postgres-session.js';
import type { CopyFiles } from './redshift-sql.js';

/** A COPY … FROM S3 of one load: its text, and what it loads, for a runner that has no Redshift (tests). */
export interface CopyJob {
  readonly statement: string;
  /** The staging table, qualified. */
  readonly staging: string;
  readonly columns: readonly string[];
  readonly files: CopyFiles;
}

/** An UNLOAD of one chunk: its text, and the SELECT it runs (bounds as parameters) and where it writes. */
export interface UnloadJob {
  readonly statement: string;
  readonly select: string;
  readonly params: readonly string[];
  /** s3:// prefix UNLOAD writes its files and `manifest` under. */
  readonly to: string;
}

/**
 * The two statements only Redshift runs, COPY from S3 and UNLOAD to S3. The connector sends them to the server;
 * a test against PostgreSQL, which has neither, passes its own way of doing the same work (and checks the text).
 */
export interface RedshiftStatements {
  copy(s: Session, job: CopyJob): Promise<void>;
  unload(s: Session, job: UnloadJob): Promise<void>;
}

export const SERVER_STATEMENTS: RedshiftStatements = {
  copy: async (s, job) => {
    await s.client.query(job.statement);
  },
  unload: async (s, job) => {
    await s.client.query(job.statement);
  },
};

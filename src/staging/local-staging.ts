import { resolve } from 'node:path';
import { DirectoryStore } from '../connectors/objects/directory-store.js';
import { ObjectStagingStore } from './object-staging.js';

/** Staging in a local directory: `<dir>/<pipeline>/<lineage>/<node>/`. */
export class LocalStagingStore extends ObjectStagingStore {
  constructor(dir: string, options: { gzip: boolean }) {
    super(new DirectoryStore(resolve(dir)), '', {
      gzip: options.gzip,
      label: 'staging directory',
      hint: 'check that the staging directory (`staging.dir`) is a writable directory with free space',
    });
  }
}

/**
 * A process that uploads an endless stream to the FTP or SFTP test server through pigeon's store, printing `sent N`
 * (MiB) as the stream is read, so a test can kill it in the middle of an upload.
 * argv: ftp|sftp <connection keys as JSON> key
 */
import { Readable } from 'node:stream';
import type { ConnectionConfig } from '../../src/config/types.js';
import { ftpSettings, sftpSettings } from '../../src/connectors/ftp/ftp-config.js';
import { remoteStore } from '../../src/connectors/ftp/ftp-store.js';

const [kind, json, key] = process.argv.slice(2) as ['ftp' | 'sftp', string, string];
const config = { name: 'child', type: kind, ...JSON.parse(json) } as ConnectionConfig;
const store = remoteStore(kind === 'ftp' ? ftpSettings(config, '.') : sftpSettings(config, '.'));
let sent = 0;
const piece = Buffer.alloc(1024 * 1024, 0x61);
const body = new Readable({
  read() {
    sent++;
    process.stdout.write(`sent ${sent}\n`);
    this.push(piece);
  },
});
await store.write(key, body);

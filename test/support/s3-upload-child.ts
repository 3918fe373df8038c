/**
 * A process that uploads an endless stream to the S3 test server through pigeon's S3Store, printing `parts N` as
 * the stream is read, so a test can kill it in the middle of a multipart upload.
 * argv: endpoint bucket prefix key
 */
import { Readable } from 'node:stream';
import { S3Store } from '../../src/connectors/s3/s3-store.js';

const [endpoint, bucket, prefix, key] = process.argv.slice(2) as [string, string, string, string];
const store = new S3Store(
  { name: 'child', endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'k', secretAccessKey: 's' }, partSize: 5 * 1024 * 1024, secrets: [] },
  { bucket, prefix },
);
let sent = 0;
const piece = Buffer.alloc(1024 * 1024, 0x61);
const body = new Readable({
  read() {
    sent++;
    if (sent % 5 === 0) process.stdout.write(`parts ${sent / 5}\n`);
    this.push(piece);
  },
});
await store.write(key, body);

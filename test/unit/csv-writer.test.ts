import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeRow } from '../../src/csv/writer.js';

test('NULL is a bare \\N; the strings \\N and \\. are quoted; empty is ""', () => {
  assert.equal(encodeRow([null, '\\N', '\\.', '', 'a']), '\\N,"\\N","\\.","",a\n');
});

test('quotes, commas and line breaks are quoted, quotes doubled; spaces are kept bare', () => {
  assert.equal(encodeRow(['say "hi"', 'a,b', 'x\ny', 'cr\r', ' pad ']), '"say ""hi""","a,b","x\ny","cr\r", pad \n');
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  dataInterval, findTemplates, formatTimestamp, renderTemplate, templateVars, TEMPLATE_NAMES,
} from '../../src/config/templates.js';
import { PipelineError } from '../../src/errors/pipeline-error.js';

const isUsage = (e: unknown): boolean => e instanceof PipelineError && e.code === 'USAGE';
const utc = (iso: string): Date => new Date(`${iso}Z`);

describe('findTemplates', () => {
  it('finds every {{ name }} with or without spaces, with its offset and length', () => {
    assert.deepEqual(findTemplates("dt = '{{ ds }}' and {{run_id}}"), [
      { name: 'ds', offset: 6, length: 8 },
      { name: 'run_id', offset: 20, length: 10 },
    ]);
    assert.deepEqual(findTemplates('no templates, { single } braces'), []);
  });
});

describe('renderTemplate', () => {
  const vars = templateVars({ start: utc('2024-03-01T00:00:00'), end: utc('2024-03-02T00:00:00') }, 'run-7');

  it('renders every known name', () => {
    assert.equal(
      renderTemplate("{{ds}} {{ ds_nodash }} {{ data_interval_start }}..{{ data_interval_end }} {{ run_id }}", vars),
      '2024-03-01 20240301 2024-03-01 00:00:00..2024-03-02 00:00:00 run-7',
    );
    assert.deepEqual(Object.keys(vars).sort(), [...TEMPLATE_NAMES].sort());
  });

  it('throws TEMPLATE for an unknown name, with a hint', () => {
    assert.throws(() => renderTemplate('{{ dss }}', vars), (e: unknown) =>
      e instanceof PipelineError && e.code === 'TEMPLATE' && e.hint === 'did you mean `ds`?');
  });
});

describe('dataInterval', () => {
  it('--date gives that UTC day', () => {
    assert.deepEqual(dataInterval({ date: '2024-02-29' }), { start: utc('2024-02-29T00:00:00'), end: utc('2024-03-01T00:00:00') });
  });

  it('--interval takes dates or date-times, with an optional Z', () => {
    assert.deepEqual(dataInterval({ interval: '2024-01-01/2024-01-08' }),
      { start: utc('2024-01-01T00:00:00'), end: utc('2024-01-08T00:00:00') });
    assert.deepEqual(dataInterval({ interval: '2024-01-01T06:30/2024-01-01T07:00:15Z' }),
      { start: utc('2024-01-01T06:30:00'), end: utc('2024-01-01T07:00:15') });
  });

  it('defaults to yesterday, UTC, relative to now', () => {
    assert.deepEqual(dataInterval({ now: utc('2024-03-01T00:30:00') }),
      { start: utc('2024-02-29T00:00:00'), end: utc('2024-03-01T00:00:00') });
  });

  it('rejects malformed or impossible input and empty intervals with USAGE', () => {
    const bad = [
      { date: '2024-02-30' }, { date: '2024-2-1' }, { date: 'yesterday' },
      { interval: '2024-01-02' }, { interval: '2024-01-02/2024-01-01' }, { interval: '2024-01-01/2024-01-01' },
      { interval: '2024-01-01T25:00/2024-01-02' }, { date: '2024-01-01', interval: '2024-01-01/2024-01-02' },
    ];
    for (const opts of bad) assert.throws(() => dataInterval(opts), isUsage, JSON.stringify(opts));
  });
});

describe('formatTimestamp', () => {
  it('prints UTC without fractional seconds', () => {
    assert.equal(formatTimestamp(new Date('2024-03-01T05:06:07.890Z')), '2024-03-01 05:06:07');
  });
});

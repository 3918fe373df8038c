import type { ExportRequest } from '../contract.js';

/** What an object source reads, for `pigeon plan` (no connection): the objects and the window applied to rows. */
export function renderObjectExport(req: ExportRequest, root: string): string {
  const s = req.source;
  const cols = s.columns?.join(', ') ?? '*';
  const what =
    s.pattern !== undefined ? `objects matching ${s.pattern}` : s.prefix !== undefined ? `objects under ${s.prefix}` : `table ${s.table ?? '?'}`;
  const w = req.window;
  const bounds = w
    ? ` where ${[
        w.lower ? `${w.column} ${w.lower.inclusive ? '>=' : '>'} '${w.lower.value}'` : '',
        w.upper ? `${w.column} ${w.upper.inclusive ? '<=' : '<'} '${w.upper.value}'` : '',
      ]
        .filter(Boolean)
        .join(' and ')}`
    : '';
  return `read ${cols} from ${what} in ${root}${bounds}`;
}

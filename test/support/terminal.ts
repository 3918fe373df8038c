/**
 * A small terminal for tests: plays back what a program wrote to a pseudo-terminal (text, CR, LF, cursor up `ESC[nA`,
 * erase to the end of the screen `ESC[J`, colours kept as they are) and returns the screen's lines at any moment.
 */
export class Screen {
  lines: string[] = [''];
  row = 0;
  /** After a CR, the next text starts the line again. */
  #atStart = false;

  /** Feeds output; `onFrame` sees the screen after each erase (each redraw of a live block). */
  write(text: string, onFrame?: (lines: readonly string[]) => void): void {
    const re = /\x1b\[(\d*)([AJ])|\r\n|\n|\r|([^\x1b\r\n]+|\x1b\[[\d;]*m)/g;
    for (const m of text.matchAll(re)) {
      if (m[2] !== 'J') this.#atStart = this.#atStart && m[2] === 'A';
      if (m[2] === 'A') this.row = Math.max(0, this.row - Number(m[1] || 1));
      else if (m[2] === 'J') {
        onFrame?.(this.lines.slice());
        this.lines = this.lines.slice(0, this.row + 1);
        this.lines[this.row] = '';
      } else if (m[0] === '\n' || m[0] === '\r\n') {
        this.row++;
        if (this.lines.length <= this.row) this.lines.push('');
        if (m[0] === '\r\n') this.lines[this.row] = this.lines[this.row] ?? '';
      } else if (m[0] === '\r') {
        this.#atStart = true;
      } else if (m[3] !== undefined) {
        this.lines[this.row] = (this.#atStart ? '' : (this.lines[this.row] ?? '')) + m[3];
        this.#atStart = false;
      }
    }
  }
}

/** Text without colour escapes. */
export function plain(text: string): string {
  return text.replace(/\x1b\[[\d;]*m/g, '');
}

/** Lines with ANSI colours as an HTML page that looks like a dark terminal (for a screenshot). */
export function terminalHtml(lines: readonly string[], title: string): string {
  const colors: Record<string, string> = { '31': '#ff6b6b', '32': '#5fd787', '33': '#ffd75f', '36': '#5fd7ff', '39': '' };
  const esc = (s: string) => s.replace(/[&<>]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);
  const html = lines
    .map((line) => {
      let out = '';
      let color = '';
      let dim = false;
      let bold = false;
      for (const part of line.split(/(\x1b\[[\d;]*m)/)) {
        const m = /^\x1b\[([\d;]*)m$/.exec(part);
        if (m) {
          const code = m[1]!;
          if (code in colors) color = colors[code]!;
          else if (code === '2') dim = true;
          else if (code === '1') bold = true;
          else if (code === '22') dim = bold = false;
          continue;
        }
        if (part === '') continue;
        const style = `${color ? `color:${color};` : ''}${dim ? 'opacity:.6;' : ''}${bold ? 'font-weight:700;' : ''}`;
        out += style ? `<span style="${style}">${esc(part)}</span>` : esc(part);
      }
      return out;
    })
    .join('\n');
  return `<!doctype html><html><head><meta charset="utf-8"><style>
body { margin: 0; background: #1e1e1e; }
.win { margin: 16px; border-radius: 8px; background: #111; box-shadow: 0 4px 16px rgba(0,0,0,.5); overflow: hidden; display: inline-block; }
.bar { background: #333; color: #bbb; font: 12px sans-serif; padding: 6px 12px; }
pre { margin: 0; padding: 12px 16px; color: #ddd; font: 13px/1.45 "DejaVu Sans Mono", monospace; }
</style></head><body><div class="win"><div class="bar">${esc(title)}</div><pre>${html}</pre></div></body></html>`;
}

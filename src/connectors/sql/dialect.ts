/** What differs between SQL engines when pigeon builds a SELECT: quoting and bind markers. */
export interface SqlDialect {
  /** Quotes one identifier part; a doubled quote escapes itself, so no name can break out of the quotes. */
  quoteIdent(name: string): string;
  /**
   * The bind marker for the i-th (0-based) parameter, a bound of `column`. An engine without bind parameters
   * (COPY, HiveQL) returns the value as a literal instead, typed by the column.
   */
  placeholder(index: number, column?: string): string;
}

/** `schema.table` → each part quoted. A name that itself contains a dot cannot be written as `a.b`. */
export function quoteTable(d: SqlDialect, table: string): string {
  return table.split('.').map((p) => d.quoteIdent(p)).join('.');
}

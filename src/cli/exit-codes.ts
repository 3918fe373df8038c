/** Exit codes are a contract with schedulers (cron, Airflow): documented in the README. */
export const EXIT = {
  OK: 0,
  NODE_FAILED: 1,
  USAGE: 2,
  INVALID_PIPELINE: 3,
  LOCKED: 4,
  INTERRUPTED: 130,
} as const;

const PARENT_POLL_MS = 500;

/**
 * Calls `stop` (which must be idempotent) on SIGINT and SIGTERM, however often they come: Ctrl-C in
 * a terminal reaches both npm, which forwards it, and this process. When npm started this process
 * (`npm start`, `npm run invoker`), its going away counts as a request to stop too: npm may die
 * without forwarding anything (SIGKILL, SIGHUP), and no process should outlive the one a service
 * manager or a user signals. Without npm, a vanished parent is left alone (`nohup nimbus up &`).
 */
export function whenAskedToStop(stop: (reason: string) => void): void {
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => stop(signal));
  if (process.env["npm_lifecycle_event"] === undefined) return;
  const parent = process.ppid;
  const timer = setInterval(() => {
    // Orphans are adopted by init or a subreaper, so any change means the parent is gone.
    if (process.ppid === parent) return;
    clearInterval(timer);
    stop("npm exited");
  }, PARENT_POLL_MS);
  timer.unref();
}

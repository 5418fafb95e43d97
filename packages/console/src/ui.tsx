// Small pieces every page uses: errors as FC gives them, polling, paging by token, fields.
import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useRef, useState } from "preact/hooks";
import { ApiError, call } from "./api";

/** An error with FC's code, message and request id (as text: nothing in it is ever markup). */
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : new ApiError(0, "Error", String((error as Error).message ?? error), undefined);
  return (
    <div class="error" role="alert" data-testid="error">
      <strong>{e.code}</strong> {e.message}
      {e.requestId ? <span class="muted"> (request {e.requestId})</span> : null}
    </div>
  );
}

export interface Loaded<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  refresh: () => void;
}

/**
 * Loads with `load`, again every `everyMs` (state changes show within a couple of seconds without a
 * reload) and whenever `deps` change; a failed poll keeps the last data and shows the error.
 */
export function usePoll<T>(load: (signal: AbortSignal) => Promise<T>, everyMs: number, deps: unknown[]): Loaded<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    setData(undefined);
    setLoading(true);
  }, deps);
  useEffect(() => {
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      try {
        const value = await latest.current(controller.signal);
        if (controller.signal.aborted) return;
        setData(value);
        setError(undefined);
      } catch (err) {
        if (!controller.signal.aborted) setError(err);
      } finally {
        if (!controller.signal.aborted) {
          setLoading(false);
          if (everyMs > 0) timer = setTimeout(() => void run(), everyMs);
        }
      }
    };
    void run();
    return () => {
      controller.abort();
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { data, error, loading, refresh: useCallback(() => setTick((t) => t + 1), []) };
}

/**
 * One page of a listing the API pages with `nextToken`; Next and Previous walk the tokens (the
 * tokens seen are kept, so Previous goes back exactly).
 */
export function usePaged<T>(path: string, field: string, query: Record<string, string | number | undefined>, everyMs = 3_000, limit = 20) {
  const [tokens, setTokens] = useState<(string | undefined)[]>([undefined]);
  const key = JSON.stringify([path, query]);
  useEffect(() => setTokens([undefined]), [key]);
  const token = tokens[tokens.length - 1];
  const page = usePoll(
    async (signal) => {
      const { data } = await call<Record<string, unknown>>("GET", path, { query: { ...query, limit, nextToken: token }, signal });
      return { items: (data[field] as T[] | undefined) ?? [], nextToken: data["nextToken"] as string | undefined };
    },
    everyMs,
    [key, token],
  );
  const next = page.data?.nextToken;
  return {
    ...page,
    items: page.data?.items ?? [],
    pageNumber: tokens.length,
    next: next ? () => setTokens([...tokens, next]) : undefined,
    previous: tokens.length > 1 ? () => setTokens(tokens.slice(0, -1)) : undefined,
  };
}

export function Pager({ pageNumber, next, previous }: { pageNumber: number; next: (() => void) | undefined; previous: (() => void) | undefined }) {
  if (!next && !previous) return null;
  return (
    <div class="pager">
      <button type="button" disabled={!previous} onClick={previous}>
        ← Previous
      </button>
      <span>page {pageNumber}</span>
      <button type="button" disabled={!next} onClick={next} data-testid="next-page">
        Next →
      </button>
    </div>
  );
}

export function Field({ label, error, children, hint }: { label: string; error?: string | undefined; children: ComponentChildren; hint?: string }) {
  return (
    <label class={error ? "field invalid" : "field"}>
      <span>{label}</span>
      {children}
      {hint ? <small class="muted">{hint}</small> : null}
      {error ? (
        <small class="field-error" role="alert">
          {error}
        </small>
      ) : null}
    </label>
  );
}

/** Which field an FC validation message names ("memorySize: …", "… 'timeout' …"), to show it there. */
export function fieldOf(err: unknown, fields: string[]): string | undefined {
  if (!(err instanceof ApiError)) return undefined;
  return fields.find((f) => err.message.startsWith(`${f}:`) || err.message.includes(`'${f}'`) || err.message.startsWith(`${f} `));
}

/** A button that runs an async action, disabled (and saying so) while it runs. */
export function Action({ run, children, busyText, testid, kind }: { run: () => Promise<unknown>; children: ComponentChildren; busyText?: string; testid?: string; kind?: string }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  return (
    <span class="action">
      <button
        type="button"
        class={kind}
        disabled={busy}
        data-testid={testid}
        onClick={async () => {
          setBusy(true);
          setError(undefined);
          try {
            await run();
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        {busy ? (busyText ?? "Working…") : children}
      </button>
      <ErrorBox error={error} />
    </span>
  );
}

export const time = (ms: number | string | undefined) => (ms === undefined || ms === null ? "—" : new Date(ms).toLocaleString());

export function ago(ms: number | undefined): string {
  if (ms === undefined) return "never";
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.round(s / 60)} min ago`;
  return `${Math.round(s / 3600)} h ago`;
}

// Run the function: an event editor with saved test events, sync or async, and what came back —
// status, duration, memory, request id — with the invocation's log tail beside it. An HTTP function
// gets a request builder for its trigger URL instead.
import { useState } from "preact/hooks";
import { ApiError, listAll, send } from "../api";
import { fnHref } from "../router";
import { ErrorBox, Field } from "../ui";
import { fnPath, type TabProps } from "./function";

interface Trigger {
  triggerName: string;
  triggerType: string;
  triggerConfig: { authType?: string; methods?: string[] };
  urlInternet?: string;
}

interface Result {
  status: number;
  body: string;
  requestId: string | undefined;
  durationMs: string | null;
  memoryMb: string | null;
  errorType: string | null;
  log: string;
  async?: string | undefined;
}

/** Saved test events, per function, in this browser (events only: never a key). */
function savedEvents(service: string, fn: string): Record<string, string> {
  try {
    return JSON.parse(localStorage.getItem(`nimbus.console.events.${service}.${fn}`) ?? "{}") as Record<string, string>;
  } catch {
    return {};
  }
}

function decodeBase64(b64: string): string {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

export function InvokeTab(props: TabProps) {
  const [http, setHttp] = useState<Trigger | null | undefined>(undefined);
  if (http === undefined) {
    void listAll<Trigger>(`${fnPath(props.service, props.fn)}/triggers`, "triggers")
      .then((ts) => setHttp(ts.find((t) => t.triggerType === "http") ?? null))
      .catch(() => setHttp(null));
    return <p class="muted">Loading…</p>;
  }
  return http ? <HttpBuilder {...props} trigger={http} /> : <EventInvoker {...props} />;
}

function EventInvoker({ service, fn }: TabProps) {
  const [event, setEvent] = useState('{"hello":"world"}');
  const [mode, setMode] = useState<"Sync" | "Async">("Sync");
  const [saved, setSaved] = useState(() => savedEvents(service, fn));
  const [name, setName] = useState("");
  const [result, setResult] = useState<Result>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const store = (next: Record<string, string>) => {
    localStorage.setItem(`nimbus.console.events.${service}.${fn}`, JSON.stringify(next));
    setSaved(next);
  };
  const invoke = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const headers: Record<string, string> = mode === "Async" ? { "x-fc-invocation-type": "Async" } : { "x-fc-log-type": "Tail" };
      const res = await send("POST", `${fnPath(service, fn)}/invocations`, { raw: event, headers });
      const body = await res.text();
      const requestId = res.headers.get("x-fc-request-id") ?? undefined;
      if (res.status >= 400 && !res.headers.get("x-fc-error-type")) {
        const parsed = (() => {
          try {
            return JSON.parse(body) as { ErrorCode?: string; ErrorMessage?: string };
          } catch {
            return {};
          }
        })();
        throw new ApiError(res.status, parsed.ErrorCode ?? `HTTP${res.status}`, parsed.ErrorMessage ?? body, requestId);
      }
      const log = res.headers.get("x-fc-log-result");
      setResult({
        status: res.status,
        body,
        requestId,
        durationMs: res.headers.get("x-fc-invocation-duration"),
        memoryMb: res.headers.get("x-fc-max-memory-usage"),
        errorType: res.headers.get("x-fc-error-type"),
        log: log ? decodeBase64(log) : "",
        async: res.status === 202 ? (res.headers.get("x-fc-stateful-async-invocation-id") ?? undefined) : undefined,
      });
    } catch (err) {
      setResult(undefined);
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div class="split">
      <div>
        <Field label="Event">
          <textarea name="event" rows={10} spellcheck={false} value={event} onInput={(e) => setEvent(e.currentTarget.value)} data-testid="event" />
        </Field>
        <div class="row">
          <select aria-label="saved test events" value="" onChange={(e) => e.currentTarget.value && setEvent(saved[e.currentTarget.value] ?? "")}>
            <option value="">Saved test events…</option>
            {Object.keys(saved).map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
          <input aria-label="test event name" placeholder="name" value={name} onInput={(e) => setName(e.currentTarget.value)} />
          <button type="button" disabled={!name.trim()} onClick={() => store({ ...saved, [name.trim()]: event })}>
            Save event
          </button>
          {saved[name.trim()] !== undefined ? (
            <button type="button" onClick={() => store(Object.fromEntries(Object.entries(saved).filter(([n]) => n !== name.trim())))}>
              Delete
            </button>
          ) : null}
        </div>
        <div class="row">
          <label>
            <input type="radio" name="mode" checked={mode === "Sync"} onChange={() => setMode("Sync")} /> Sync
          </label>
          <label>
            <input type="radio" name="mode" checked={mode === "Async"} onChange={() => setMode("Async")} data-testid="mode-async" /> Async
          </label>
          <button type="button" onClick={invoke} disabled={busy} data-testid="invoke">
            {busy ? "Invoking…" : "Invoke"}
          </button>
        </div>
        <ErrorBox error={error} />
      </div>
      {result ? (
        <div class="result" data-testid="result">
          <p>
            <strong class={result.errorType ? "bad" : "good"}>{result.errorType ?? (result.status === 202 ? "Queued" : "Succeeded")}</strong> · status {result.status}
            {result.durationMs ? ` · ${result.durationMs} ms` : ""}
            {result.memoryMb ? ` · ${result.memoryMb} MB` : ""}
          </p>
          <p class="muted">
            request <code data-testid="request-id">{result.requestId}</code>
            {result.async ? (
              <>
                {" "}
                · invocation <a href={fnHref(service, fn, "async", result.async)}>{result.async}</a>
              </>
            ) : null}
          </p>
          {result.status !== 202 ? (
            <>
              <h3>Response</h3>
              <pre data-testid="response">{result.body}</pre>
              <h3>
                Log <a href={`${fnHref(service, fn, "logs")}?requestId=${encodeURIComponent(result.requestId ?? "")}`}>(all lines)</a>
              </h3>
              <pre class="log" data-testid="log-tail">
                {result.log}
              </pre>
            </>
          ) : null}
        </div>
      ) : null}
    </div>
  );
}

function HttpBuilder({ trigger }: TabProps & { trigger: Trigger }) {
  const url = trigger.urlInternet ?? "";
  const [method, setMethod] = useState(trigger.triggerConfig.methods?.[0] ?? "GET");
  const [path, setPath] = useState("/");
  const [headers, setHeaders] = useState("content-type: text/plain");
  const [body, setBody] = useState("");
  const [result, setResult] = useState<{ status: number; headers: string; body: string; requestId: string | null }>();
  const [error, setError] = useState<unknown>();
  const run = async () => {
    setError(undefined);
    try {
      const h: Record<string, string> = {};
      for (const line of headers.split("\n")) {
        const i = line.indexOf(":");
        if (i > 0) h[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
      }
      const target = new URL(url);
      const full = target.pathname.replace(/\/$/, "") + (path.startsWith("/") ? path : `/${path}`);
      const res =
        trigger.triggerConfig.authType === "function"
          ? await send(method, full.replace(/^\/2016-08-15/, ""), { headers: h, ...(method === "GET" || method === "HEAD" ? {} : { raw: body }) })
          : await fetch(full, { method, headers: h, ...(method === "GET" || method === "HEAD" ? {} : { body }) });
      setResult({ status: res.status, headers: [...res.headers].map(([k, v]) => `${k}: ${v}`).join("\n"), body: await res.text(), requestId: res.headers.get("x-fc-request-id") });
    } catch (err) {
      setError(err);
    }
  };
  return (
    <div class="split">
      <div>
        <p>
          This is an HTTP function: it is called through its trigger <code>{trigger.triggerName}</code> at <code>{url}</code> ({trigger.triggerConfig.authType ?? "anonymous"}).
        </p>
        <div class="row">
          <select aria-label="method" value={method} onChange={(e) => setMethod(e.currentTarget.value)}>
            {(trigger.triggerConfig.methods ?? ["GET", "POST", "PUT", "DELETE"]).map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
          <input aria-label="path" value={path} onInput={(e) => setPath(e.currentTarget.value)} />
        </div>
        <Field label="Headers (name: value per line)">
          <textarea rows={4} value={headers} onInput={(e) => setHeaders(e.currentTarget.value)} />
        </Field>
        <Field label="Body">
          <textarea rows={6} value={body} onInput={(e) => setBody(e.currentTarget.value)} />
        </Field>
        <button type="button" onClick={run} data-testid="send-http">
          Send
        </button>
        <ErrorBox error={error} />
      </div>
      {result ? (
        <div class="result" data-testid="result">
          <p>
            <strong>{result.status}</strong> · request <code>{result.requestId}</code>
          </p>
          <pre>{result.headers}</pre>
          <pre data-testid="response">{result.body}</pre>
        </div>
      ) : null}
    </div>
  );
}

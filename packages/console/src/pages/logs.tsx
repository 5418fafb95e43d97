// A function's output: search by keyword, request id and time range (pages through the API's
// tokens), or follow live (the API's Server-Sent Events, read from a signed fetch).
import { useEffect, useRef, useState } from "preact/hooks";
import { call, send } from "../api";
import { ErrorBox, Field } from "../ui";
import { fnPath, type TabProps } from "./function";

interface Line {
  timestamp: string;
  requestId: string;
  instanceId: string;
  qualifier: string;
  stream: "stdout" | "stderr";
  message: string;
}

const toInput = (ms: number) => new Date(ms - new Date().getTimezoneOffset() * 60_000).toISOString().slice(0, 16);

export function LogsTab({ service, fn, query }: TabProps) {
  const [keyword, setKeyword] = useState("");
  const [requestId, setRequestId] = useState(query.get("requestId") ?? "");
  const [since, setSince] = useState(toInput(Date.now() - 3_600_000));
  const [until, setUntil] = useState("");
  const [lines, setLines] = useState<Line[]>([]);
  const [tokens, setTokens] = useState<string[]>([]);
  const [next, setNext] = useState<string>();
  const [error, setError] = useState<unknown>();
  const [following, setFollowing] = useState(false);
  const stop = useRef<AbortController>();

  const search = async (token?: string) => {
    setError(undefined);
    try {
      const { data } = await call<{ logs: Line[]; nextToken?: string }>("GET", `${fnPath(service, fn)}/logs`, {
        query: {
          keyword: keyword || undefined,
          requestId: requestId || undefined,
          since: since ? new Date(since).toISOString() : undefined,
          until: until ? new Date(until).toISOString() : undefined,
          limit: 200,
          nextToken: token,
        },
      });
      setLines(data.logs);
      setNext(data.nextToken);
    } catch (err) {
      setError(err);
    }
  };

  const follow = async () => {
    const controller = new AbortController();
    stop.current = controller;
    setFollowing(true);
    setLines([]);
    setError(undefined);
    try {
      const res = await send("GET", `${fnPath(service, fn)}/logs`, { query: { follow: "true", keyword: keyword || undefined, requestId: requestId || undefined }, signal: controller.signal });
      if (!res.ok || !res.body) throw new Error(`following failed: ${res.status} ${await res.text()}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end: number;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const event = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = event
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trimStart())
            .join("\n");
          if (data) setLines((all) => [...all.slice(-999), JSON.parse(data) as Line]);
        }
      }
    } catch (err) {
      if ((err as Error).name !== "AbortError") setError(err);
    } finally {
      setFollowing(false);
    }
  };

  useEffect(() => {
    void search();
    return () => stop.current?.abort();
  }, [service, fn]);

  return (
    <section>
      <form
        class="row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          setTokens([]);
          void search();
        }}
      >
        <Field label="Keyword">
          <input name="keyword" value={keyword} onInput={(e) => setKeyword(e.currentTarget.value)} />
        </Field>
        <Field label="Request id">
          <input name="requestId" value={requestId} onInput={(e) => setRequestId(e.currentTarget.value)} />
        </Field>
        <Field label="From">
          <input type="datetime-local" value={since} onInput={(e) => setSince(e.currentTarget.value)} />
        </Field>
        <Field label="To">
          <input type="datetime-local" value={until} onInput={(e) => setUntil(e.currentTarget.value)} />
        </Field>
        <button type="submit" disabled={following}>
          Search
        </button>
        {following ? (
          <button type="button" onClick={() => stop.current?.abort()} data-testid="stop-follow">
            Stop following
          </button>
        ) : (
          <button type="button" onClick={() => void follow()} data-testid="follow">
            Follow live
          </button>
        )}
      </form>
      {following ? <p class="muted" data-testid="following">Following: new lines appear as they are written.</p> : null}
      <ErrorBox error={error} />
      <table class="logs" data-testid="log-lines">
        <thead>
          <tr>
            <th>Time</th>
            <th>Request</th>
            <th>Message</th>
          </tr>
        </thead>
        <tbody>
          {lines.map((l, i) => (
            <tr key={i} class={l.stream === "stderr" ? "stderr" : ""}>
              <td class="nowrap">{new Date(l.timestamp).toLocaleTimeString()}</td>
              <td>
                <a
                  href="#"
                  onClick={(e) => {
                    e.preventDefault();
                    setRequestId(l.requestId);
                  }}
                >
                  {l.requestId.slice(0, 8)}
                </a>
              </td>
              <td>
                <pre>{l.message}</pre>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {!following ? (
        <div class="pager">
          <button
            type="button"
            disabled={tokens.length === 0}
            onClick={() => {
              const back = tokens.slice(0, -1);
              setTokens(back);
              void search(back[back.length - 1]);
            }}
          >
            ← Previous
          </button>
          <button
            type="button"
            disabled={!next}
            onClick={() => {
              if (!next) return;
              setTokens([...tokens, next]);
              void search(next);
            }}
          >
            Next →
          </button>
        </div>
      ) : null}
    </section>
  );
}

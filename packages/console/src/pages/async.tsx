// Stateful asynchronous invocations with their events, stop, redrive; the async config with its
// destinations. Deep link to one invocation: `#/services/<svc>/functions/<fn>/async/<id>`.
import { useState } from "preact/hooks";
import { call, seg } from "../api";
import { fnHref } from "../router";
import { Action, ErrorBox, Field, Pager, usePaged, usePoll } from "../ui";
import { fnPath, type TabProps } from "./function";

interface Invocation {
  invocationId: string;
  requestId: string;
  status: string;
  startedTime: number;
  endTime?: number;
  alreadyRetriedTimes: number;
  invocationErrorMessage: string;
  returnPayload?: string;
  invocationPayload?: string;
  redriveOf?: string;
  redrivenAs?: string;
  events: { eventId: number; status: string; timestamp: number; eventDetail: string }[];
}

interface AsyncConfig {
  statefulInvocation: boolean;
  maxAsyncRetryAttempts: number;
  maxAsyncEventAgeInSeconds: number;
  destinationConfig: { onSuccess?: { destination: string }; onFailure?: { destination: string } };
}

const OPEN = new Set(["Enqueued", "Running", "Retrying", "Stopping"]);

function Detail({ service, fn, id }: { service: string; fn: string; id: string }) {
  const one = usePoll((signal) => call<Invocation>("GET", `${fnPath(service, fn)}/stateful-async-invocations/${seg(id)}`, { signal }).then((r) => r.data), 2_000, [service, fn, id]);
  const i = one.data;
  return (
    <article class="detail" data-testid="invocation">
      <h2>
        Invocation {id} <a href={fnHref(service, fn, "async")}>(all)</a>
      </h2>
      <ErrorBox error={one.error} />
      {i ? (
        <>
          <p>
            <strong data-testid="invocation-status">{i.status}</strong> · started {new Date(i.startedTime).toLocaleString()}
            {i.endTime ? ` · took ${i.endTime - i.startedTime} ms` : ""} · retried {i.alreadyRetriedTimes} · request{" "}
            <a href={`${fnHref(service, fn, "logs")}?requestId=${encodeURIComponent(i.requestId)}`}>{i.requestId}</a>
          </p>
          {i.redriveOf ? <p>Runs {i.redriveOf} again.</p> : null}
          {i.redrivenAs ? <p>Run again as <a href={fnHref(service, fn, "async", i.redrivenAs)}>{i.redrivenAs}</a>.</p> : null}
          {i.invocationErrorMessage ? <pre class="bad">{i.invocationErrorMessage}</pre> : null}
          <h3>Payload</h3>
          <pre>{i.invocationPayload}</pre>
          {i.returnPayload !== undefined ? (
            <>
              <h3>Result</h3>
              <pre>{i.returnPayload}</pre>
            </>
          ) : null}
          <h3>Events</h3>
          <ol>
            {i.events.map((e) => (
              <li key={e.eventId}>
                {new Date(e.timestamp).toLocaleTimeString()} <strong>{e.status}</strong> {e.eventDetail}
              </li>
            ))}
          </ol>
          {OPEN.has(i.status) ? (
            <Action testid="stop-invocation" run={() => call("PUT", `${fnPath(service, fn)}/stateful-async-invocations/${seg(id)}`).then(() => one.refresh())}>
              Stop
            </Action>
          ) : null}
          {(i.status === "Failed" || i.status === "Expired") && !i.redrivenAs ? (
            <Action run={() => call("POST", `${fnPath(service, fn)}/stateful-async-invocations/redrives`, { body: { invocationIds: [id] } }).then(() => one.refresh())}>Redrive</Action>
          ) : null}
        </>
      ) : null}
    </article>
  );
}

function Config({ service, fn }: { service: string; fn: string }) {
  const path = `${fnPath(service, fn)}/async-invoke-config`;
  const config = usePoll((signal) => call<AsyncConfig>("GET", path, { signal }).then((r) => r.data).catch((err: { code?: string }) => (err.code === "AsyncConfigNotExists" ? undefined : Promise.reject(err))), 0, [path]);
  const [form, setForm] = useState<{ stateful: boolean; retries: string; age: string; onSuccess: string; onFailure: string } | undefined>();
  const current = config.data;
  const f = form ?? {
    stateful: current?.statefulInvocation ?? false,
    retries: String(current?.maxAsyncRetryAttempts ?? 3),
    age: String(current?.maxAsyncEventAgeInSeconds ?? 86_400),
    onSuccess: current?.destinationConfig.onSuccess?.destination ?? "",
    onFailure: current?.destinationConfig.onFailure?.destination ?? "",
  };
  const [error, setError] = useState<unknown>();
  return (
    <details class="config">
      <summary>Async configuration {current ? "" : "(FC's defaults: no records, 3 retries, 1 day)"}</summary>
      <label>
        <input type="checkbox" checked={f.stateful} onChange={(e) => setForm({ ...f, stateful: e.currentTarget.checked })} /> Keep a record of every invocation (statefulInvocation)
      </label>
      <div class="row">
        <Field label="Retries">
          <input type="number" value={f.retries} onInput={(e) => setForm({ ...f, retries: e.currentTarget.value })} />
        </Field>
        <Field label="Max event age (s)">
          <input type="number" value={f.age} onInput={(e) => setForm({ ...f, age: e.currentTarget.value })} />
        </Field>
      </div>
      <Field label="On success (destination ARN)">
        <input value={f.onSuccess} onInput={(e) => setForm({ ...f, onSuccess: e.currentTarget.value })} />
      </Field>
      <Field label="On failure (destination ARN)">
        <input value={f.onFailure} onInput={(e) => setForm({ ...f, onFailure: e.currentTarget.value })} />
      </Field>
      <button
        type="button"
        onClick={async () => {
          setError(undefined);
          try {
            await call("PUT", path, {
              body: {
                statefulInvocation: f.stateful,
                maxAsyncRetryAttempts: Number(f.retries),
                maxAsyncEventAgeInSeconds: Number(f.age),
                destinationConfig: {
                  ...(f.onSuccess ? { onSuccess: { destination: f.onSuccess } } : {}),
                  ...(f.onFailure ? { onFailure: { destination: f.onFailure } } : {}),
                },
              },
            });
            setForm(undefined);
            config.refresh();
          } catch (err) {
            setError(err);
          }
        }}
      >
        Save
      </button>
      <ErrorBox error={error ?? config.error} />
    </details>
  );
}

export function AsyncTab({ service, fn, rest }: TabProps) {
  const [status, setStatus] = useState("");
  const list = usePaged<Invocation>(`${fnPath(service, fn)}/stateful-async-invocations`, "invocations", { status: status || undefined, sortOrderByTime: "desc", includePayload: "false" }, 2_000, 20);
  const [redriven, setRedriven] = useState<string>();
  const id = rest[0];
  return (
    <section>
      <Config service={service} fn={fn} />
      {id ? <Detail service={service} fn={fn} id={id} /> : null}
      <div class="row">
        <select aria-label="status" value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
          <option value="">every status</option>
          {["Enqueued", "Running", "Retrying", "Succeeded", "Failed", "Expired", "Stopping", "Stopped", "Invalid"].map((s) => (
            <option key={s}>{s}</option>
          ))}
        </select>
        <Action
          run={async () => {
            const { data } = await call<{ redriven: unknown[]; skipped: unknown[] }>("POST", `${fnPath(service, fn)}/stateful-async-invocations/redrives`, { body: {} });
            setRedriven(`${data.redriven.length} redriven, ${data.skipped.length} skipped`);
            list.refresh();
          }}
        >
          Redrive every Failed and Expired
        </Action>
        {redriven ? <span class="muted">{redriven}</span> : null}
      </div>
      <ErrorBox error={list.error} />
      <table>
        <thead>
          <tr>
            <th>Invocation</th>
            <th>Status</th>
            <th>Started</th>
            <th>Took</th>
            <th>Error</th>
          </tr>
        </thead>
        <tbody>
          {list.items.map((i) => (
            <tr key={i.invocationId} class={i.status === "Failed" || i.status === "Expired" ? "failing" : ""} data-testid={`invocation-${i.invocationId}`}>
              <td>
                <a href={fnHref(service, fn, "async", i.invocationId)}>{i.invocationId}</a>
              </td>
              <td>{i.status}</td>
              <td>{new Date(i.startedTime).toLocaleString()}</td>
              <td>{i.endTime ? `${i.endTime - i.startedTime} ms` : "—"}</td>
              <td>{i.invocationErrorMessage.split("\n")[0]}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {list.data && list.items.length === 0 ? <p class="muted">No stateful invocations{status ? ` ${status}` : ""}: records are kept when the async config asks for them.</p> : null}
      <Pager pageNumber={list.pageNumber} next={list.next} previous={list.previous} />
    </section>
  );
}

// Triggers: create (HTTP, timer, NATS subject, object storage) with FC's validation messages,
// edit a trigger's config, delete; a timer shows when it fires next.
import { useState } from "preact/hooks";
import { call, seg } from "../api";
import { Action, ErrorBox, Field, Pager, usePaged } from "../ui";
import { fnPath, type TabProps } from "./function";

interface Trigger {
  triggerName: string;
  triggerType: string;
  triggerConfig: Record<string, unknown>;
  sourceArn?: string;
  qualifier?: string;
  urlInternet?: string;
  nextFireTimes?: string[];
  lastModifiedTime: string;
}

const TEMPLATES: Record<string, { config: unknown; sourceArn?: string }> = {
  http: { config: { authType: "anonymous", methods: ["GET", "POST"] } },
  timer: { config: { cronExpression: "@every 1m", payload: "", enable: true } },
  nats: { config: { subject: "orders.created", invocationType: "Async" } },
  oss: { config: { events: ["oss:ObjectCreated:*"], filter: { key: { prefix: "", suffix: "" } } }, sourceArn: "acs:oss:cn-local:123:bucket" },
};

function TriggerRow({ service, fn, t, onChange }: { service: string; fn: string; t: Trigger; onChange: () => void }) {
  const [editing, setEditing] = useState(false);
  const [config, setConfig] = useState(JSON.stringify(t.triggerConfig, null, 2));
  const [error, setError] = useState<unknown>();
  const path = `${fnPath(service, fn)}/triggers/${seg(t.triggerName)}`;
  return (
    <tr data-testid={`trigger-${t.triggerName}`}>
      <td>{t.triggerName}</td>
      <td>{t.triggerType}</td>
      <td>
        {editing ? (
          <>
            <textarea rows={6} value={config} onInput={(e) => setConfig(e.currentTarget.value)} />
            <button
              type="button"
              onClick={async () => {
                setError(undefined);
                try {
                  await call("PUT", path, { body: { triggerConfig: JSON.parse(config) } });
                  setEditing(false);
                  onChange();
                } catch (err) {
                  setError(err);
                }
              }}
            >
              Save
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
            <ErrorBox error={error} />
          </>
        ) : (
          <>
            <code>{JSON.stringify(t.triggerConfig)}</code>
            {t.urlInternet ? (
              <div>
                URL <code>{t.urlInternet}</code>
              </div>
            ) : null}
            {t.nextFireTimes?.length ? (
              <div class="muted" data-testid="next-fires">
                next: {t.nextFireTimes.slice(0, 3).map((f) => new Date(f).toLocaleTimeString()).join(", ")}
              </div>
            ) : null}
          </>
        )}
      </td>
      <td>{t.qualifier ?? "LATEST"}</td>
      <td>
        {editing ? null : (
          <button type="button" onClick={() => (setConfig(JSON.stringify(t.triggerConfig, null, 2)), setEditing(true))}>
            Edit
          </button>
        )}
        <Action
          kind="danger"
          run={async () => {
            if (!confirm(`Delete trigger ${t.triggerName}?`)) return;
            await call("DELETE", path);
            onChange();
          }}
        >
          Delete
        </Action>
      </td>
    </tr>
  );
}

export function TriggersTab({ service, fn }: TabProps) {
  const triggers = usePaged<Trigger>(`${fnPath(service, fn)}/triggers`, "triggers", {}, 3_000, 20);
  const [name, setName] = useState("");
  const [type, setType] = useState("timer");
  const [config, setConfig] = useState(JSON.stringify(TEMPLATES["timer"]?.config, null, 2));
  const [sourceArn, setSourceArn] = useState("");
  const [qualifier, setQualifier] = useState("");
  const [error, setError] = useState<unknown>();
  const message = error instanceof Error ? error.message : undefined;
  return (
    <section>
      <ErrorBox error={triggers.error} />
      <table>
        <thead>
          <tr>
            <th>Name</th>
            <th>Type</th>
            <th>Config</th>
            <th>Qualifier</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {triggers.items.map((t) => (
            <TriggerRow key={`${t.triggerName}:${t.lastModifiedTime}`} service={service} fn={fn} t={t} onChange={triggers.refresh} />
          ))}
        </tbody>
      </table>
      <Pager pageNumber={triggers.pageNumber} next={triggers.next} previous={triggers.previous} />
      <h2>New trigger</h2>
      <form
        class="config"
        onSubmit={async (e) => {
          e.preventDefault();
          setError(undefined);
          let parsed: unknown;
          try {
            parsed = JSON.parse(config);
          } catch (err) {
            setError(new Error(`triggerConfig: not JSON (${(err as Error).message})`));
            return;
          }
          try {
            await call("POST", `${fnPath(service, fn)}/triggers`, {
              body: { triggerName: name, triggerType: type, triggerConfig: parsed, ...(sourceArn ? { sourceArn } : {}), ...(qualifier ? { qualifier } : {}) },
            });
            setName("");
            triggers.refresh();
          } catch (err) {
            setError(err);
          }
        }}
      >
        <div class="row">
          <Field label="Name" error={message?.startsWith("triggerName") ? message : undefined}>
            <input name="triggerName" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
          </Field>
          <Field label="Type">
            <select
              name="triggerType"
              value={type}
              onChange={(e) => {
                const t = e.currentTarget.value;
                setType(t);
                setConfig(JSON.stringify(TEMPLATES[t]?.config, null, 2));
                setSourceArn(TEMPLATES[t]?.sourceArn ?? "");
              }}
            >
              <option value="http">HTTP</option>
              <option value="timer">Timer</option>
              <option value="nats">NATS subject</option>
              <option value="oss">Object storage</option>
            </select>
          </Field>
          <Field label="Qualifier" hint="LATEST when empty">
            <input name="qualifier" value={qualifier} onInput={(e) => setQualifier(e.currentTarget.value)} />
          </Field>
        </div>
        {type === "oss" ? (
          <Field label="Source bucket ARN" error={message?.startsWith("sourceArn") ? message : undefined}>
            <input name="sourceArn" value={sourceArn} onInput={(e) => setSourceArn(e.currentTarget.value)} />
          </Field>
        ) : null}
        <Field label="Trigger config (JSON)" error={message?.includes("triggerConfig") || message?.includes("cronExpression") || message?.includes("subject") ? message : undefined}>
          <textarea name="triggerConfig" rows={6} spellcheck={false} value={config} onInput={(e) => setConfig(e.currentTarget.value)} />
        </Field>
        <button type="submit" data-testid="create-trigger">
          Create trigger
        </button>
        <ErrorBox error={error} />
      </form>
    </section>
  );
}

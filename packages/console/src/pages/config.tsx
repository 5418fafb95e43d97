// A function's configuration, editable, with FC's validation messages next to the field they name.
import { useEffect, useState } from "preact/hooks";
import { call } from "../api";
import { Action, ErrorBox, Field, fieldOf } from "../ui";
import { fnPath, type TabProps } from "./function";

const FIELDS = ["description", "handler", "memorySize", "timeout", "instanceConcurrency", "environmentVariables", "layers", "initializer"];

export function ConfigTab({ service, fn, record, refresh }: TabProps) {
  const [form, setForm] = useState(() => formOf(record));
  const [dirty, setDirty] = useState(false);
  const [error, setError] = useState<unknown>();
  const [saved, setSaved] = useState(false);
  // Changes made elsewhere show up here, unless the form is being edited.
  useEffect(() => {
    if (!dirty) setForm(formOf(record));
  }, [record, dirty]);
  const set = (patch: Partial<ReturnType<typeof formOf>>) => {
    setForm({ ...form, ...patch });
    setDirty(true);
    setSaved(false);
  };
  const bad = fieldOf(error, FIELDS);
  const save = async () => {
    setError(undefined);
    try {
      const env: Record<string, string> = {};
      for (const { key, value } of form.env) if (key.trim()) env[key.trim()] = value;
      await call("PUT", fnPath(service, fn), {
        body: {
          description: form.description,
          handler: form.handler,
          memorySize: Number(form.memorySize),
          timeout: Number(form.timeout),
          instanceConcurrency: Number(form.instanceConcurrency),
          environmentVariables: env,
          layers: form.layers.split("\n").map((l) => l.trim()).filter(Boolean),
        },
      });
      setDirty(false);
      setSaved(true);
      refresh();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form
      class="config"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
    >
      <dl class="facts">
        <dt>Runtime</dt>
        <dd>{record.runtime}</dd>
        <dt>Code</dt>
        <dd>
          {record.codeSize ?? 0} bytes, checksum {record.codeChecksum ?? "—"}
        </dd>
        <dt>Last modified</dt>
        <dd>{record.lastModifiedTime ?? "—"}</dd>
      </dl>
      <Field label="Description" error={bad === "description" ? (error as Error).message : undefined}>
        <input name="description" value={form.description} onInput={(e) => set({ description: e.currentTarget.value })} />
      </Field>
      <Field label="Handler" error={bad === "handler" ? (error as Error).message : undefined}>
        <input name="handler" value={form.handler} onInput={(e) => set({ handler: e.currentTarget.value })} />
      </Field>
      <div class="row">
        <Field label="Memory (MB)" error={bad === "memorySize" ? (error as Error).message : undefined} hint="128 to 32768, a multiple of 64">
          <input name="memorySize" type="number" value={form.memorySize} onInput={(e) => set({ memorySize: e.currentTarget.value })} />
        </Field>
        <Field label="Timeout (s)" error={bad === "timeout" ? (error as Error).message : undefined}>
          <input name="timeout" type="number" value={form.timeout} onInput={(e) => set({ timeout: e.currentTarget.value })} />
        </Field>
        <Field label="Instance concurrency" error={bad === "instanceConcurrency" ? (error as Error).message : undefined} hint="requests one instance serves at once">
          <input name="instanceConcurrency" type="number" value={form.instanceConcurrency} onInput={(e) => set({ instanceConcurrency: e.currentTarget.value })} />
        </Field>
      </div>
      <fieldset class={bad === "environmentVariables" ? "invalid" : ""}>
        <legend>Environment variables</legend>
        {form.env.map((pair, i) => (
          <div class="row" key={i}>
            <input aria-label="name" placeholder="NAME" value={pair.key} onInput={(e) => set({ env: form.env.map((p, j) => (j === i ? { ...p, key: e.currentTarget.value } : p)) })} />
            <input aria-label="value" placeholder="value" value={pair.value} onInput={(e) => set({ env: form.env.map((p, j) => (j === i ? { ...p, value: e.currentTarget.value } : p)) })} />
            <button type="button" onClick={() => set({ env: form.env.filter((_, j) => j !== i) })}>
              Remove
            </button>
          </div>
        ))}
        <button type="button" onClick={() => set({ env: [...form.env, { key: "", value: "" }] })}>
          Add a variable
        </button>
        {bad === "environmentVariables" ? <small class="field-error">{(error as Error).message}</small> : null}
      </fieldset>
      <Field label="Layers (one ARN per line)" error={bad === "layers" ? (error as Error).message : undefined}>
        <textarea name="layers" rows={3} value={form.layers} onInput={(e) => set({ layers: e.currentTarget.value })} />
      </Field>
      <div class="row">
        <button type="submit" disabled={!dirty} data-testid="save-config">
          Save
        </button>
        {dirty ? (
          <button type="button" onClick={() => (setForm(formOf(record)), setDirty(false), setError(undefined))}>
            Discard changes
          </button>
        ) : null}
        {saved ? <span class="ok">Saved.</span> : null}
      </div>
      <ErrorBox error={error} />
      <h2>Danger zone</h2>
      <Action
        kind="danger"
        run={async () => {
          if (!confirm(`Delete ${service}/${fn}? Its triggers must be deleted first.`)) return;
          await call("DELETE", fnPath(service, fn));
          location.hash = "#/";
        }}
      >
        Delete this function
      </Action>
    </form>
  );
}

function formOf(record: TabProps["record"]) {
  return {
    description: record.description ?? "",
    handler: record.handler,
    memorySize: String(record.memorySize),
    timeout: String(record.timeout),
    instanceConcurrency: String(record.instanceConcurrency ?? 1),
    env: Object.entries(record.environmentVariables ?? {}).map(([key, value]) => ({ key, value })),
    layers: (record.layers ?? []).join("\n"),
  };
}

// A new function from a zip: its service is created when it does not exist yet.
import { useState } from "preact/hooks";
import { ApiError, base64, call, seg } from "../api";
import { fnHref } from "../router";
import { ErrorBox, Field, fieldOf } from "../ui";

const RUNTIMES = ["nodejs20", "nodejs18", "nodejs16", "python3.10", "python3.9", "python3", "custom"];

export function CreateFunction({ limit }: { limit: number | undefined }) {
  const [open, setOpen] = useState(false);
  const [service, setService] = useState("");
  const [name, setName] = useState("");
  const [runtime, setRuntime] = useState("nodejs20");
  const [handler, setHandler] = useState("index.handler");
  const [zip, setZip] = useState<File>();
  const [error, setError] = useState<unknown>();
  const [progress, setProgress] = useState<string>();
  if (!open)
    return (
      <button type="button" class="primary" onClick={() => setOpen(true)} data-testid="new-function">
        New function
      </button>
    );
  const bad = fieldOf(error, ["serviceName", "functionName", "runtime", "handler", "code"]);
  return (
    <form
      class="config detail"
      onSubmit={async (e) => {
        e.preventDefault();
        setError(undefined);
        if (!zip) return setError(new Error("code: choose a zip file"));
        if (limit !== undefined && zip.size > limit) return setError(new Error(`code: ${zip.name} is ${zip.size} bytes: over the limit of ${limit} bytes (${Math.floor(limit / 1024 / 1024)} MB); nothing was sent`));
        try {
          setProgress("Creating the service…");
          await call("POST", "/services", { body: { serviceName: service } }).catch((err: unknown) => {
            if (!(err instanceof ApiError && err.code === "ServiceAlreadyExists")) throw err;
          });
          setProgress(`Uploading ${zip.name} (${zip.size} bytes)…`);
          const zipFile = base64(new Uint8Array(await zip.arrayBuffer()));
          await call("POST", `/services/${seg(service)}/functions`, { body: { functionName: name, runtime, handler, code: { zipFile } } });
          location.hash = fnHref(service, name, "invoke");
        } catch (err) {
          setError(err);
        } finally {
          setProgress(undefined);
        }
      }}
    >
      <h2>New function</h2>
      <div class="row">
        <Field label="Service" error={bad === "serviceName" ? (error as Error).message : undefined}>
          <input name="serviceName" required value={service} onInput={(e) => setService(e.currentTarget.value)} />
        </Field>
        <Field label="Function" error={bad === "functionName" ? (error as Error).message : undefined}>
          <input name="functionName" required value={name} onInput={(e) => setName(e.currentTarget.value)} />
        </Field>
        <Field label="Runtime">
          <select name="runtime" value={runtime} onChange={(e) => setRuntime(e.currentTarget.value)}>
            {RUNTIMES.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </Field>
        <Field label="Handler" error={bad === "handler" ? (error as Error).message : undefined}>
          <input name="handler" required value={handler} onInput={(e) => setHandler(e.currentTarget.value)} />
        </Field>
      </div>
      <Field label="Code (zip)" error={bad === "code" ? (error as Error).message : undefined} hint={limit !== undefined ? `up to ${Math.floor(limit / 1024 / 1024)} MB zipped` : undefined}>
        <input name="code" type="file" accept=".zip,application/zip" onChange={(e) => setZip(e.currentTarget.files?.[0])} />
      </Field>
      <div class="row">
        <button type="submit" disabled={Boolean(progress)} data-testid="create-function">
          {progress ?? "Create"}
        </button>
        <button type="button" onClick={() => setOpen(false)}>
          Cancel
        </button>
      </div>
      <ErrorBox error={error} />
    </form>
  );
}

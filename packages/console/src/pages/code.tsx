// A function's code: upload a zip, or a folder (zipped here), refused before sending when it is over
// the gateway's limit; a single-file function can be edited inline.
import { unzipSync, zipSync, strFromU8, strToU8 } from "fflate";
import { useEffect, useState } from "preact/hooks";
import { base64, call } from "../api";
import { Action, ErrorBox, usePoll } from "../ui";
import { fnPath, type TabProps } from "./function";

export function CodeTab({ service, fn, record, refresh }: TabProps) {
  const limits = usePoll(() => call<{ CodeSizeLimit: number }>("GET", "/accountConfigs").then((r) => r.data), 0, []);
  const limit = limits.data?.CodeSizeLimit;
  const [progress, setProgress] = useState<string>();
  const [error, setError] = useState<unknown>();
  const upload = async (zip: Uint8Array, what: string) => {
    setError(undefined);
    if (limit !== undefined && zip.length > limit) {
      setError(new Error(`${what} is ${zip.length} bytes zipped: over the limit of ${limit} bytes (${Math.floor(limit / 1024 / 1024)} MB); nothing was sent`));
      return;
    }
    setProgress(`Uploading ${what} (${zip.length} bytes)…`);
    try {
      await call("PUT", fnPath(service, fn), { body: { code: { zipFile: base64(zip) } } });
      setProgress(`Deployed ${what}.`);
      refresh();
    } catch (err) {
      setProgress(undefined);
      setError(err);
    }
  };
  return (
    <section>
      <p>
        {record.codeSize ?? 0} bytes zipped, checksum {record.codeChecksum ?? "—"}
        {limit !== undefined ? <span class="muted"> · limit {Math.floor(limit / 1024 / 1024)} MB zipped</span> : null}
      </p>
      <div class="row">
        <label class="button">
          Upload a zip
          <input
            type="file"
            accept=".zip,application/zip"
            data-testid="upload-zip"
            hidden
            onChange={async (e) => {
              const file = e.currentTarget.files?.[0];
              e.currentTarget.value = "";
              if (file) await upload(new Uint8Array(await file.arrayBuffer()), file.name);
            }}
          />
        </label>
        <label class="button">
          Upload a folder
          <input
            type="file"
            hidden
            // @ts-expect-error: the directory picker's attribute is not in the DOM typings
            webkitdirectory=""
            onChange={async (e) => {
              const files = [...(e.currentTarget.files ?? [])];
              e.currentTarget.value = "";
              if (!files.length) return;
              setProgress(`Zipping ${files.length} files…`);
              const entries: Record<string, Uint8Array> = {};
              for (const f of files) entries[f.webkitRelativePath.split("/").slice(1).join("/") || f.name] = new Uint8Array(await f.arrayBuffer());
              await upload(zipSync(entries, { level: 6 }), `a folder of ${files.length} files`);
            }}
          />
        </label>
      </div>
      {progress ? <p class="muted" data-testid="code-progress">{progress}</p> : null}
      <ErrorBox error={error} />
      <InlineEditor service={service} fn={fn} checksum={record.codeChecksum} upload={upload} />
    </section>
  );
}

/** The code of a function whose package holds one file, in a text area (saved as a new zip). */
function InlineEditor({ service, fn, checksum, upload }: { service: string; fn: string; checksum: string | undefined; upload: (zip: Uint8Array, what: string) => Promise<void> }) {
  const [file, setFile] = useState<{ name: string; text: string } | null | undefined>(undefined);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    let stop = false;
    void (async () => {
      try {
        const { data } = await call<{ url: string }>("GET", `${fnPath(service, fn)}/code`);
        const res = await fetch(data.url);
        const entries = Object.entries(unzipSync(new Uint8Array(await res.arrayBuffer()))).filter(([name]) => !name.endsWith("/"));
        if (stop) return;
        const only = entries.length === 1 ? entries[0] : undefined;
        setFile(only && only[1].length < 256 * 1024 ? { name: only[0], text: strFromU8(only[1]) } : null);
      } catch (err) {
        if (!stop) setError(err);
      }
    })();
    return () => {
      stop = true;
    };
  }, [service, fn, checksum]);
  if (error) return <ErrorBox error={error} />;
  if (file === undefined) return <p class="muted">Reading the code…</p>;
  if (file === null) return <p class="muted">The package holds several files: upload a new zip or folder to change it.</p>;
  return (
    <div class="editor">
      <h2>{file.name}</h2>
      <textarea rows={18} spellcheck={false} value={file.text} data-testid="code-editor" onInput={(e) => setFile({ ...file, text: e.currentTarget.value })} />
      <Action run={() => upload(zipSync({ [file.name]: strToU8(file.text) }), file.name)} busyText="Deploying…" testid="save-code">
        Deploy
      </Action>
    </div>
  );
}

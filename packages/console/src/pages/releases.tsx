// Versions, aliases with their canary weights, which version served recent calls, and provisioned
// instances per alias.
import { useState } from "preact/hooks";
import { call, seg } from "../api";
import { Action, ErrorBox, Field, Pager, usePaged, usePoll } from "../ui";
import { fnPath, type TabProps } from "./function";

interface Version {
  versionId: string;
  description?: string;
  createdTime: string;
}
interface Alias {
  aliasName: string;
  versionId: string;
  description?: string;
  additionalVersionWeight?: Record<string, number>;
}
interface Recent {
  requestId: string;
  qualifier: string;
  versionId: string;
  startTime: string;
}

function AliasRow({ service, alias, versions, onChange }: { service: string; alias: Alias; versions: Version[]; onChange: () => void }) {
  const [extra] = Object.entries(alias.additionalVersionWeight ?? {});
  const [version, setVersion] = useState(alias.versionId);
  const [canary, setCanary] = useState(extra?.[0] ?? "");
  const [weight, setWeight] = useState(Math.round((extra?.[1] ?? 0) * 100));
  const [error, setError] = useState<unknown>();
  const save = async () => {
    setError(undefined);
    try {
      await call("PUT", `/services/${seg(service)}/aliases/${seg(alias.aliasName)}`, {
        body: { versionId: version, additionalVersionWeight: canary && weight > 0 ? { [canary]: weight / 100 } : {} },
      });
      onChange();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <tr data-testid={`alias-${alias.aliasName}`}>
      <td>{alias.aliasName}</td>
      <td>
        <select aria-label="version" value={version} onChange={(e) => setVersion(e.currentTarget.value)}>
          {versions.map((v) => (
            <option key={v.versionId}>{v.versionId}</option>
          ))}
        </select>
      </td>
      <td>
        <select aria-label="canary version" value={canary} onChange={(e) => setCanary(e.currentTarget.value)} data-testid="canary-version">
          <option value="">none</option>
          {versions
            .filter((v) => v.versionId !== version)
            .map((v) => (
              <option key={v.versionId}>{v.versionId}</option>
            ))}
        </select>
      </td>
      <td>
        <input type="range" min={0} max={100} step={5} value={weight} aria-label="canary weight" disabled={!canary} onInput={(e) => setWeight(Number(e.currentTarget.value))} data-testid="canary-weight" />{" "}
        <output>{canary ? `${weight}%` : "—"}</output>
      </td>
      <td>
        <button type="button" onClick={save} data-testid="save-alias">
          Save
        </button>
        <ErrorBox error={error} />
      </td>
    </tr>
  );
}

export function ReleasesTab({ service, fn }: TabProps) {
  const versions = usePaged<Version>(`/services/${seg(service)}/versions`, "versions", {}, 5_000, 20);
  const aliases = usePoll((signal) => call<{ aliases: Alias[] }>("GET", `/services/${seg(service)}/aliases`, { query: { limit: 100 }, signal }).then((r) => r.data.aliases), 5_000, [service]);
  const recent = usePoll(
    (signal) => call<{ invocations: Recent[] }>("GET", `${fnPath(service, fn)}/invocations-log`, { query: { limit: 200, since: new Date(Date.now() - 3_600_000).toISOString() }, signal }).then((r) => r.data.invocations),
    3_000,
    [service, fn],
  );
  const [description, setDescription] = useState("");
  const [aliasName, setAliasName] = useState("");
  const [aliasVersion, setAliasVersion] = useState("");
  const served = new Map<string, number>();
  for (const r of (recent.data ?? []).slice(-100)) served.set(r.versionId || "LATEST", (served.get(r.versionId || "LATEST") ?? 0) + 1);
  const all = versions.items;
  return (
    <section>
      <h2>Versions of {service}</h2>
      <div class="row">
        <input aria-label="version description" placeholder="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} />
        <Action
          testid="publish-version"
          busyText="Publishing…"
          run={async () => {
            await call("POST", `/services/${seg(service)}/versions`, { body: description ? { description } : {} });
            setDescription("");
            versions.refresh();
          }}
        >
          Publish a version
        </Action>
      </div>
      <ErrorBox error={versions.error} />
      <table>
        <thead>
          <tr>
            <th>Version</th>
            <th>Description</th>
            <th>Published</th>
            <th>Served (last 100 calls)</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {all.map((v) => (
            <tr key={v.versionId} data-testid={`version-${v.versionId}`}>
              <td>{v.versionId}</td>
              <td>{v.description}</td>
              <td>{new Date(v.createdTime).toLocaleString()}</td>
              <td>{served.get(v.versionId) ?? 0}</td>
              <td>
                <Action run={() => call("DELETE", `/services/${seg(service)}/versions/${seg(v.versionId)}`).then(() => versions.refresh())}>Delete</Action>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <Pager pageNumber={versions.pageNumber} next={versions.next} previous={versions.previous} />
      {served.get("LATEST") ? <p class="muted">LATEST served {served.get("LATEST")} of the last calls.</p> : null}

      <h2>Aliases</h2>
      <ErrorBox error={aliases.error} />
      <table>
        <thead>
          <tr>
            <th>Alias</th>
            <th>Version</th>
            <th>Canary version</th>
            <th>Canary weight</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {(aliases.data ?? []).map((a) => (
            <AliasRow key={`${a.aliasName}:${a.versionId}:${JSON.stringify(a.additionalVersionWeight)}`} service={service} alias={a} versions={all} onChange={aliases.refresh} />
          ))}
        </tbody>
      </table>
      <form
        class="row"
        onSubmit={(e) => {
          e.preventDefault();
        }}
      >
        <Field label="New alias">
          <input name="aliasName" value={aliasName} onInput={(e) => setAliasName(e.currentTarget.value)} />
        </Field>
        <Field label="Version">
          <select value={aliasVersion} onChange={(e) => setAliasVersion(e.currentTarget.value)}>
            <option value="">choose…</option>
            {all.map((v) => (
              <option key={v.versionId}>{v.versionId}</option>
            ))}
          </select>
        </Field>
        <Action
          testid="create-alias"
          run={async () => {
            await call("POST", `/services/${seg(service)}/aliases`, { body: { aliasName, versionId: aliasVersion } });
            setAliasName("");
            aliases.refresh();
          }}
        >
          Create alias
        </Action>
      </form>
      <h2>Provisioned instances</h2>
      {(aliases.data ?? []).map((a) => (
        <Provision key={a.aliasName} service={service} fn={fn} alias={a.aliasName} />
      ))}
      {(aliases.data ?? []).length === 0 ? <p class="muted">Provisioned instances are set per alias: create one first.</p> : null}
    </section>
  );
}

function Provision({ service, fn, alias }: { service: string; fn: string; alias: string }) {
  const path = `${fnPath(`${service}.${alias}`, fn)}/provision-config`;
  const config = usePoll((signal) => call<{ target: number; current: number }>("GET", path, { signal }).then((r) => r.data), 5_000, [path]);
  const [target, setTarget] = useState("");
  return (
    <div class="row">
      <span>
        {alias}: {config.data ? `${config.data.current ?? 0} of ${config.data.target ?? 0} provisioned` : "…"}
      </span>
      <input aria-label={`provisioned target of ${alias}`} type="number" min={0} placeholder="target" value={target} onInput={(e) => setTarget(e.currentTarget.value)} />
      <Action run={() => call("PUT", path, { body: { target: Number(target) } }).then(() => config.refresh())}>Set</Action>
      <ErrorBox error={config.error} />
    </div>
  );
}

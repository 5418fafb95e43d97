import { render } from "preact";
import { useState } from "preact/hooks";
import { ApiError, call, online, session, signIn, signInError, signOut } from "./api";
import { route } from "./router";
import { Overview } from "./pages/overview";
import { FunctionPage } from "./pages/function";
import { ErrorBox, Field } from "./ui";

function SignIn() {
  const [id, setId] = useState("");
  const [secret, setSecret] = useState("");
  const [error, setError] = useState<unknown>(signInError.value ? new ApiError(403, "SignedOut", signInError.value, undefined) : undefined);
  const [busy, setBusy] = useState(false);
  return (
    <main class="signin">
      <h1>Nimbus console</h1>
      <p class="muted">Sign in with an access key pair. The secret stays in this tab's session storage and is forgotten when you sign out or close the tab.</p>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          const credentials = { accessKeyId: id.trim(), accessKeySecret: secret };
          try {
            // A key pair is good when the API accepts a request it signed.
            await call("GET", "/services", { query: { limit: 1 }, credentials });
            signInError.value = undefined;
            signIn(credentials);
          } catch (err) {
            setError(err);
          } finally {
            setBusy(false);
          }
        }}
      >
        <Field label="AccessKey ID">
          <input name="accessKeyId" autocomplete="username" required value={id} onInput={(e) => setId(e.currentTarget.value)} />
        </Field>
        <Field label="AccessKey secret">
          <input name="accessKeySecret" type="password" autocomplete="current-password" required value={secret} onInput={(e) => setSecret(e.currentTarget.value)} />
        </Field>
        <button type="submit" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
      <ErrorBox error={error} />
    </main>
  );
}

function App() {
  if (!session.value) return <SignIn />;
  const r = route.value;
  return (
    <>
      <header>
        <a href="#/" class="brand">
          Nimbus
        </a>
        <nav>
          <a href="#/">Overview</a>
        </nav>
        <span class="who">
          {session.value.accessKeyId}{" "}
          <button type="button" onClick={() => signOut()} data-testid="sign-out">
            Sign out
          </button>
        </span>
      </header>
      {online.value ? null : (
        <div class="banner" role="status" data-testid="offline">
          The gateway cannot be reached. Retrying… (what is shown may be out of date)
        </div>
      )}
      <main>{r.page === "function" ? <FunctionPage service={r.service} fn={r.fn} tab={r.tab} rest={r.rest} query={r.query} /> : <Overview />}</main>
    </>
  );
}

render(<App />, document.getElementById("app") as HTMLElement);

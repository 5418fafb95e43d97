// Deep links: every page is a hash route (`#/`, `#/services/<svc>/functions/<fn>/<tab>`), so a URL
// names the page and its function, and the gateway serves one document for all of them.
import { signal } from "@preact/signals";

export type Route = { page: "overview" } | { page: "function"; service: string; fn: string; tab: string; rest: string[]; query: URLSearchParams };

export const TABS = ["config", "code", "invoke", "logs", "metrics", "releases", "triggers", "async", "instances"] as const;

export function parse(hash: string): Route {
  const [path = "", search = ""] = hash.replace(/^#\/?/, "").split("?");
  const query = new URLSearchParams(search);
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "services" && parts[1] && parts[2] === "functions" && parts[3]) {
    const tab = (TABS as readonly string[]).includes(parts[4] ?? "") ? (parts[4] as string) : "config";
    return { page: "function", service: parts[1], fn: parts[3], tab, rest: parts.slice(5), query };
  }
  return { page: "overview" };
}

export const route = signal<Route>(parse(location.hash));
addEventListener("hashchange", () => (route.value = parse(location.hash)));

export const fnHref = (service: string, fn: string, tab = "config", ...rest: string[]) =>
  `#/services/${[service, "functions", fn, tab, ...rest].map(encodeURIComponent).join("/")}`;

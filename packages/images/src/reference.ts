import { ImageError } from "./errors.js";
import type { ImageReference } from "./types.js";

/** Docker Hub as Docker names it after normalization (`index.docker.io` and no registry at all both mean it). */
export const DOCKER_HUB = "docker.io";

/** The longest name (registry + repository) the distribution spec allows. */
const NAME_MAX = 255;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])$/;
const IPV6 = /^\[[0-9A-Fa-f:.]+(?:%[A-Za-z0-9]+)?\]$/;

function invalid(ref: string, why: string): ImageError {
  return new ImageError("InvalidReference", `image reference '${ref}' is invalid: ${why}`);
}

/**
 * Parses an image reference (`[host[:port]/]path[:tag][@sha256:…]`) by the Docker/OCI distribution
 * grammar and normalizes it as Docker does: no registry means `docker.io`, a single Docker Hub name
 * gets `library/`, and no tag or digest means tag `latest`. Throws ImageError("InvalidReference")
 * saying what is wrong.
 */
export function parseImageReference(ref: string): ImageReference {
  if (ref.length === 0) throw invalid(ref, "it is empty");
  if (ref.trim() !== ref || /\s/.test(ref)) throw invalid(ref, "it contains whitespace");
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(ref)) throw invalid(ref, "give the image without a scheme (no http:// or docker://)");

  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!digest.startsWith("sha256:")) throw invalid(ref, `digest '${digest}' is not sha256:<64 hex digits> (only sha256 digests are supported)`);
    if (!DIGEST.test(digest)) throw invalid(ref, `digest '${digest}' is not sha256 followed by 64 lowercase hex digits`);
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf("/");
  const colon = rest.lastIndexOf(":");
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      throw invalid(ref, `tag '${tag}' must be 1-128 characters of letters, digits, '_', '.' and '-', not starting with '.' or '-'`);
    }
  }
  if (rest.length === 0) throw invalid(ref, "the repository name is missing");

  const { registry, repository } = splitName(ref, rest);
  if (registry.length + 1 + repository.length > NAME_MAX) throw invalid(ref, `the name is longer than ${NAME_MAX} characters`);
  if (tag === undefined && digest === undefined) tag = "latest";
  return { registry, repository, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/** Splits `[domain/]path` the way Docker does: the first component is a registry when it has a '.' or ':', is `localhost`, or has capitals. */
function splitName(ref: string, name: string): { registry: string; repository: string } {
  const slash = name.indexOf("/");
  const first = slash < 0 ? "" : name.slice(0, slash);
  const isDomain = slash >= 0 && (/[.:]/.test(first) || first === "localhost" || first.startsWith("[") || first !== first.toLowerCase());
  let registry = DOCKER_HUB;
  let path = name;
  if (isDomain) {
    registry = first;
    path = name.slice(slash + 1);
    checkDomain(ref, registry);
    if (registry === "index.docker.io") registry = DOCKER_HUB;
  }
  if (path.length === 0) throw invalid(ref, "the repository name is missing");
  for (const component of path.split("/")) {
    if (component.length === 0) throw invalid(ref, "the repository path has an empty component ('//' or a trailing '/')");
    if (component !== component.toLowerCase()) throw invalid(ref, `repository name '${path}' must be lowercase`);
    if (!PATH_COMPONENT.test(component)) {
      throw invalid(ref, `repository component '${component}' must be lowercase letters and digits, separated by '.', '_', '__' or dashes`);
    }
  }
  if (registry === DOCKER_HUB && !path.includes("/")) path = `library/${path}`;
  return { registry, repository: path };
}

function checkDomain(ref: string, domain: string): void {
  const portAt = domain.startsWith("[") ? domain.indexOf("]:") + 1 : domain.lastIndexOf(":");
  const host = portAt > 0 ? domain.slice(0, portAt) : domain;
  const port = portAt > 0 ? domain.slice(portAt + 1) : undefined;
  if (port !== undefined && !(/^[0-9]{1,5}$/.test(port) && Number(port) > 0 && Number(port) <= 65535)) {
    throw invalid(ref, `registry port '${port}' is not a port number`);
  }
  if (host.startsWith("[")) {
    if (!IPV6.test(host)) throw invalid(ref, `registry '${host}' is not a bracketed IPv6 address`);
    return;
  }
  if (!host.split(".").every((c) => DOMAIN_COMPONENT.test(c))) {
    throw invalid(ref, `registry '${host}' is not a host name (letters, digits and '-' in dot-separated parts)`);
  }
}

/** `registry/repository[:tag][@digest]` — the normalized form, parsable again. */
export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? "" : `:${ref.tag}`}${ref.digest === undefined ? "" : `@${ref.digest}`}`;
}

/** `registry/repository@digest`: what every node pulls once a reference is resolved. */
export function pinnedReference(ref: ImageReference, digest: string): string {
  return `${ref.registry}/${ref.repository}@${digest}`;
}

/**
 * The `docker://` reference skopeo is given: by digest when there is one (skopeo refuses a tag and a
 * digest together, and the digest is what counts), else by tag.
 */
export function skopeoReference(ref: ImageReference, digest = ref.digest): string {
  return `docker://${ref.registry}/${ref.repository}${digest === undefined ? `:${ref.tag ?? "latest"}` : `@${digest}`}`;
}

/** `<service>[.<qualifier>]/<function>` as the commands take it. */
export function parseTarget(target: string): { service: string; qualifier: string | undefined; fn: string } {
  const slash = target.indexOf("/");
  if (slash <= 0 || slash === target.length - 1) throw new Error(`name the function as <service>/<function>, got '${target}'`);
  const [service, qualifier] = target.slice(0, slash).split(".", 2) as [string, string | undefined];
  return { service, qualifier, fn: target.slice(slash + 1) };
}

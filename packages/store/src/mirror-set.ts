import type { ControlPlane } from "./control-plane.js";
import type { Mirror } from "./mirror.js";
import type { KvRepository } from "./repository.js";

/** The repositories of the control plane that can be mirrored (the KV buckets). */
export type MirrorName = { [K in keyof ControlPlane]: ControlPlane[K] extends KvRepository<infer _T> ? K : never }[keyof ControlPlane];

type MirrorOf<K extends MirrorName> = ControlPlane[K] extends KvRepository<infer T> ? Mirror<T> : never;

/** Watched copies of some buckets, loaded together, with one readiness check and one stop. */
export type MirrorSet<K extends MirrorName> = { readonly [P in K]: MirrorOf<P> } & {
  /** True once every mirror has loaded its bucket. */
  ready(): boolean;
  stop(): Promise<void>;
};

/** Starts a mirror of each named bucket (in parallel); resolves once all are loaded. */
export async function openMirrors<K extends MirrorName>(
  store: ControlPlane,
  names: readonly K[],
  onInvalid?: (key: string, err: unknown) => void,
): Promise<MirrorSet<K>> {
  const loaded = await Promise.all(names.map(async (name) => [name, await (store[name] as KvRepository<unknown>).mirror(onInvalid)] as const));
  const all = loaded.map(([, mirror]) => mirror as Mirror<unknown>);
  return Object.assign(Object.fromEntries(loaded), {
    ready: () => all.every((m) => m.ready),
    stop: async () => {
      await Promise.all(all.map((m) => m.stop()));
    },
  }) as unknown as MirrorSet<K>;
}

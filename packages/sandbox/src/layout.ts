/** Where things are from the function's point of view. */
export interface SandboxPaths {
  code: string;
  runtime: string;
  opt: string;
  tmp: string;
  /** The argv that runs Node in this sandbox, before the script (the host's Node, wherever it is bound). */
  node: string[];
}

/** Inside a bubblewrap sandbox, FC's layout. */
export const SANDBOX_PATHS: SandboxPaths = { code: "/code", runtime: "/var/fc/runtime", opt: "/opt", tmp: "/tmp", node: [process.execPath] };

import { fileURLToPath } from "node:url";

/**
 * Where the Python runtime lives on the host: one stdlib-only program (plus Debian's
 * python3-msgpack, which it imports privately) that an instance runs as `python3 <dir>/bootstrap.py`.
 */
export const PYTHON_RUNTIME_DIR = fileURLToPath(new URL("../python", import.meta.url));
export const PYTHON_RUNTIME_ENTRY = "bootstrap.py";

import { readdir, readFile, stat } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import yazl from "yazl";

const SKIP = new Set([".git", ".nimbus", ".DS_Store"]);

/** True for what a code package leaves out (`.git`, `.nimbus`, `.DS_Store`). */
export function isSkipped(name: string): boolean {
  return SKIP.has(name);
}

/**
 * Zips a directory the way `zip -r` does: files and their exec bits, symbolic links followed (the
 * platform refuses links inside packages), `.git` and `.nimbus` left out. `extra` directories (the
 * packages pip installed for it) are merged in at the top; the directory's own files win a clash.
 */
export async function zipDirectory(root: string, extra: string[] = []): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  const added = new Set<string>();
  async function walk(base: string, dir: string): Promise<void> {
    for (const entry of await readdir(dir)) {
      if (SKIP.has(entry)) continue;
      const path = join(dir, entry);
      const info = await stat(path);
      if (info.isDirectory()) await walk(base, path);
      else if (info.isFile()) {
        const name = relative(base, path).split(sep).join("/");
        if (added.has(name)) continue;
        zip.addBuffer(await readFile(path), name, { mode: info.mode & 0o111 ? 0o100755 : 0o100644 });
        added.add(name);
      }
    }
  }
  await walk(root, root);
  if (added.size === 0) throw new Error(`${root} holds no files to deploy`);
  for (const dir of extra) await walk(dir, dir);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

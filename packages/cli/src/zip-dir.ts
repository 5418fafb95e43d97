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
 * platform refuses links inside packages), `.git` and `.nimbus` left out.
 */
export async function zipDirectory(root: string): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  let files = 0;
  async function walk(dir: string): Promise<void> {
    for (const entry of await readdir(dir)) {
      if (SKIP.has(entry)) continue;
      const path = join(dir, entry);
      const info = await stat(path);
      if (info.isDirectory()) await walk(path);
      else if (info.isFile()) {
        zip.addBuffer(await readFile(path), relative(root, path).split(sep).join("/"), { mode: info.mode & 0o111 ? 0o100755 : 0o100644 });
        files++;
      }
    }
  }
  await walk(root);
  if (files === 0) throw new Error(`${root} holds no files to deploy`);
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

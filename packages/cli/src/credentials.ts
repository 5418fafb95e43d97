import { randomBytes, randomInt } from "node:crypto";
import { chmod, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** What `.nimbus/credentials.json` holds: the root key and the embedded servers' secrets. */
export interface StoredCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  accountId: string;
  natsToken: string;
  redisPassword: string;
  createdAt: string;
}

/** FC-looking ids: a 16-digit account id, an `LTAI…` key id. */
function generate(): StoredCredentials {
  return {
    accessKeyId: `LTAI${randomBytes(10).toString("hex")}`,
    accessKeySecret: randomBytes(24).toString("base64url"),
    accountId: String(randomInt(1, 10)) + String(randomInt(0, 1e8)).padStart(8, "0") + String(randomInt(0, 1e7)).padStart(7, "0"),
    natsToken: randomBytes(24).toString("hex"),
    redisPassword: randomBytes(24).toString("hex"),
    createdAt: new Date().toISOString(),
  };
}

/**
 * Reads the credentials of this home, creating them (mode 0600) on first use; `created` tells
 * whether they were just generated.
 */
export async function loadOrCreateCredentials(home: string): Promise<{ credentials: StoredCredentials; created: boolean; file: string }> {
  const file = join(home, "credentials.json");
  try {
    const credentials = JSON.parse(await readFile(file, "utf8")) as StoredCredentials;
    await chmod(file, 0o600);
    return { credentials: { ...generate(), ...credentials }, created: false, file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  const credentials = generate();
  await writeFile(file, JSON.stringify(credentials, null, 2) + "\n", { mode: 0o600, flag: "wx" });
  return { credentials, created: true, file };
}

import { up } from "./up.js";

const USAGE = `usage: nimbus <command>

commands:
  up        start the whole platform on this machine (what npm start runs)
`;

/** The `nimbus` command line. */
export async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "up":
      return up();
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`nimbus: unknown command '${command}'\n${USAGE}`);
      process.exitCode = 2;
      void rest;
  }
}

/** Password entry on a terminal without echo; never on a pipe (scripts must use --password). */
import { MeridianError } from "@meridian/primitives";

export function canPrompt(): boolean {
  return process.stdin.isTTY === true;
}

export function readHidden(question: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY)
    return Promise.reject(
      new MeridianError("no password file given (--password) and stdin is not a terminal", {
        code: "PASSWORD_MISSING",
      }),
    );
  process.stderr.write(question);
  stdin.setRawMode(true);
  stdin.setEncoding("utf8");
  stdin.resume();
  return new Promise<string>((resolve, reject) => {
    let buf = "";
    const finish = (err?: Error) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (err) reject(err);
      else resolve(buf);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === "\r" || ch === "\n") return finish();
        if (ch === "\u0003") return finish(new MeridianError("interrupted", { code: "INTERRUPTED" }));
        if (ch === "\u0004") {
          if (buf === "")
            return finish(new MeridianError("no password entered", { code: "PASSWORD_MISSING" }));
          return finish();
        }
        if (ch === "\u007f" || ch === "\b") buf = Array.from(buf).slice(0, -1).join("");
        else if (ch >= " ") buf += ch;
      }
    };
    stdin.on("data", onData);
  });
}

/** Asks twice for a new password; empty or mismatching entries are errors. */
export async function promptNewPassword(): Promise<string> {
  const first = await readHidden("New keystore password: ");
  if (first === "") throw new MeridianError("empty password", { code: "PASSWORD_MISSING" });
  const again = await readHidden("Repeat password: ");
  if (again !== first) throw new MeridianError("passwords do not match", { code: "PASSWORD_MISMATCH" });
  return first;
}

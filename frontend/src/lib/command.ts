/**
 * The command field accepts either an exec-form JSON array (`["sh","-c","echo hi"]`) or shell-like
 * words (`sh -c "echo hi"`), and returns the exec-form list the API stores; empty means the image's own.
 */
export function parseCommand(text: string): string[] | null {
  const t = text.trim();
  if (!t) return null;
  if (t.startsWith("[")) {
    const v: unknown = JSON.parse(t);
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) throw new Error("Use a JSON array of strings.");
    return v.length ? (v as string[]) : null;
  }
  const out: string[] = [];
  let cur = "";
  let quote: '"' | "'" | null = null;
  let started = false;
  for (let i = 0; i < t.length; i++) {
    const ch = t[i]!;
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === "\\" && quote === '"' && i + 1 < t.length) cur += t[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      started = true;
    } else if (/\s/.test(ch)) {
      if (started) out.push(cur);
      cur = "";
      started = false;
    } else if (ch === "\\" && i + 1 < t.length) {
      cur += t[++i];
      started = true;
    } else {
      cur += ch;
      started = true;
    }
  }
  if (quote) throw new Error("Unclosed quote.");
  if (started) out.push(cur);
  return out;
}

/** The inverse for display: JSON when any word would need quoting, plain words otherwise. */
export function formatCommand(cmd: string[] | null | undefined): string {
  if (!cmd || cmd.length === 0) return "";
  return cmd.every((w) => /^[\w@%+=:,./-]+$/.test(w)) ? cmd.join(" ") : JSON.stringify(cmd);
}

/**
 * Log lines as the log view holds them, and the pure parts of showing them: the time of a line,
 * narrowing by text and replica, highlighting a match, and the text of a downloaded .log file.
 */

export interface LogLine {
  n: number;
  /** The container's id, first 12 characters; "" for a build or deployment log line. */
  container: string;
  /** The replica index the runtime log stream gives with each event, when it gives one. */
  replica?: number;
  stream: string;
  text: string;
  /** ISO-8601 UTC, as the engine stamped the line; absent for build and stored deployment logs. */
  ts?: string;
  event?: boolean;
}

export interface ReplicaOption {
  container: string;
  replica?: number;
  label: string;
}

export interface LogFilter {
  /** Text a line must contain, any case; "" keeps every line. */
  query: string;
  /** A container id to keep only that replica's lines; "" keeps every replica. */
  container: string;
}

/** The Date of an engine timestamp. Docker gives nanoseconds; Date needs at most milliseconds. */
export function parseLogTime(ts: string | undefined): Date | null {
  if (!ts) return null;
  const d = new Date(ts.replace(/(\.\d{3})\d+/, "$1"));
  return Number.isNaN(d.getTime()) ? null : d;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** HH:MM:SS.mmm in the browser's time zone, or "" when the line has no (valid) time. */
export function formatLogTime(ts: string | undefined): string {
  const d = parseLogTime(ts);
  if (!d) return "";
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

/** The lines that pass the filter, in order. */
export function filterLines(lines: readonly LogLine[], filter: LogFilter): LogLine[] {
  const q = filter.query.toLowerCase();
  if (!q && !filter.container) return lines as LogLine[];
  return lines.filter((l) => (!filter.container || l.container === filter.container) && (!q || l.text.toLowerCase().includes(q)));
}

/** ``text`` cut into pieces, the ones that match ``query`` (any case) marked, for highlighting. */
export function splitMatches(text: string, query: string): { text: string; match: boolean }[] {
  if (!query) return [{ text, match: false }];
  const hay = text.toLowerCase();
  const needle = query.toLowerCase();
  const out: { text: string; match: boolean }[] = [];
  let at = 0;
  for (let i = hay.indexOf(needle); i !== -1; i = hay.indexOf(needle, i + needle.length)) {
    if (i > at) out.push({ text: text.slice(at, i), match: false });
    out.push({ text: text.slice(i, i + needle.length), match: true });
    at = i + needle.length;
  }
  if (at < text.length || out.length === 0) out.push({ text: text.slice(at), match: false });
  return out;
}

export function replicaLabel(replica: number | undefined, container: string): string {
  return replica == null ? container : `replica ${replica} · ${container}`;
}

/** One option per container that has printed a line, by replica index then first appearance. */
export function replicaOptions(lines: readonly LogLine[]): ReplicaOption[] {
  const seen = new Map<string, ReplicaOption>();
  for (const l of lines) {
    if (!l.container || seen.has(l.container)) continue;
    seen.set(l.container, { container: l.container, replica: l.replica, label: replicaLabel(l.replica, l.container) });
  }
  return [...seen.values()].sort((a, b) => (a.replica ?? Infinity) - (b.replica ?? Infinity));
}

/** A downloaded log: one line each, prefixed with its ISO time and replica where it has them. */
export function logFileText(lines: readonly LogLine[]): string {
  return lines
    .map((l) => {
      const prefix: string[] = [];
      if (l.ts) prefix.push(l.ts);
      if (l.container) prefix.push(`[${replicaLabel(l.replica, l.container)}]`);
      if (l.stream === "stderr") prefix.push("stderr:");
      return [...prefix, l.text].join(" ");
    })
    .map((s) => `${s}\n`)
    .join("");
}

/** ``{name}-{YYYYMMDD-HHMMSS}Z.log``, the name made safe for a file system. */
export function logFileName(name: string, now: Date): string {
  const safe = name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "") || "logs";
  const t = now.toISOString();
  const stamp = `${t.slice(0, 10).replaceAll("-", "")}-${t.slice(11, 19).replaceAll(":", "")}Z`;
  return `${safe}-${stamp}.log`;
}

/** Human units for machine figures: bytes in binary multiples, CPU counts without noise. */

const BYTE_UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];

export function formatBytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n) || n < 0) return "—";
  let x = n;
  let i = 0;
  while (x >= 1024 && i < BYTE_UNITS.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? x : x.toFixed(x >= 100 ? 0 : 1)} ${BYTE_UNITS[i]}`;
}

export function formatCpus(n: number): string {
  const text = Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0+$/, "");
  return `${text} ${n === 1 ? "CPU" : "CPUs"}`;
}

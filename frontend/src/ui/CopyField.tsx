import { useState } from "react";

/** A read-only value with a Copy button (a webhook URL, a secret, a public key). */
export function CopyField({ label, value, testId, secret, multiline }: { label: string; value: string; testId: string; secret?: boolean; multiline?: boolean }) {
  const [shown, setShown] = useState(!secret);
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied(true);
      window.setTimeout(() => setCopied(false), 1500);
    } catch {
      setShown(true); // no clipboard (plain http): show it to be selected by hand
    }
  };
  const text = shown ? value : "•".repeat(24);
  return (
    <div className="field copy-field">
      <span className="label">{label}</span>
      <div className="row gap">
        {multiline ? (
          <pre className="code-block grow" data-testid={testId} data-value={value}>
            {text}
          </pre>
        ) : (
          <code className="grow copy-value" data-testid={testId} data-value={value}>
            {text}
          </code>
        )}
        {secret ? (
          <button type="button" className="btn btn-sm" onClick={() => setShown((s) => !s)} data-testid={`${testId}-reveal`}>
            {shown ? "Hide" : "Show"}
          </button>
        ) : null}
        <button type="button" className="btn btn-sm" onClick={() => void copy()} data-testid={`${testId}-copy`}>
          {copied ? "Copied" : "Copy"}
        </button>
      </div>
    </div>
  );
}

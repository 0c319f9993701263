import { ApiError } from "../api";

// A failed call as the user sees it: what went wrong, and the request id
// to quote to support (API.md: every error carries one).
export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  const e = error instanceof ApiError ? error : null;
  return (
    <div role="alert" className="error">
      <strong>{e ? messageOf(e) : String((error as Error).message ?? error)}</strong>
      {e?.requestId && (
        <div className="rid">
          Request id: <code data-testid="request-id">{e.requestId}</code>
        </div>
      )}
    </div>
  );
}

export function messageOf(e: ApiError): string {
  switch (e.code) {
    case "plan_limit_reached":
      return `${e.message}. Your plan does not allow more: an owner can change the plan under Billing.`;
    case "precondition_failed":
      return "This was changed by someone else; the latest version is shown.";
    case "forbidden":
      return `Not allowed: ${e.message}`;
    default:
      return e.message;
  }
}

export function fieldError(error: unknown, field: string): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const f = error.fields.find((x) => x.field === field);
  return f ? FIELD_CODES[f.code] ?? f.code : undefined;
}

const FIELD_CODES: Record<string, string> = {
  required: "Required",
  invalid_type: "Wrong type",
  invalid_format: "Invalid format",
  invalid_choice: "Not one of the choices",
  too_short: "Too short",
  too_long: "Too long",
  out_of_range: "Out of range",
  unknown_field: "Unknown field",
  not_found: "Not found",
  taken: "Already taken",
  before_start: "Before the start date",
};

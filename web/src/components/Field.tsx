import { useId, type ReactNode } from "react";
import { fieldError } from "./ErrorBox";

// A labelled form control with the API's error for it underneath.
export function Field(props: {
  label: string;
  name: string;
  error: unknown;
  children: (id: string, describedBy: string | undefined) => ReactNode;
}) {
  const id = useId();
  const msg = fieldError(props.error, props.name);
  const errId = `${id}-err`;
  return (
    <div className="field">
      <label htmlFor={id}>{props.label}</label>
      {props.children(id, msg ? errId : undefined)}
      {msg && (
        <span id={errId} className="field-error" data-field={props.name}>
          {msg}
        </span>
      )}
    </div>
  );
}

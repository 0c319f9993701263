import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import { ApiError } from "../api";
import { ErrorBox } from "./ErrorBox";
import { Field } from "./Field";

afterEach(cleanup);

describe("ErrorBox", () => {
  it("shows the message and the request id", () => {
    render(<ErrorBox error={new ApiError(404, "not_found", "no such project", "0123abcd")} />);
    expect(screen.getByRole("alert").textContent).toContain("no such project");
    expect(screen.getByTestId("request-id").textContent).toBe("0123abcd");
  });

  it("says what to do when the plan is full", () => {
    render(<ErrorBox error={new ApiError(402, "plan_limit_reached", "seats are used up", "r")} />);
    expect(screen.getByRole("alert").textContent).toMatch(/change the plan under Billing/);
  });

  it("renders nothing without an error", () => {
    const { container } = render(<ErrorBox error={null} />);
    expect(container.innerHTML).toBe("");
  });
});

describe("Field", () => {
  it("puts the API's field error under its field, described by it", () => {
    const err = new ApiError(400, "validation_failed", "bad", "r",
                             [{ field: "end_date", code: "before_start" }]);
    render(
      <>
        <Field label="Start" name="start_date" error={err}>
          {(id, d) => <input id={id} aria-describedby={d} />}
        </Field>
        <Field label="End" name="end_date" error={err}>
          {(id, d) => <input id={id} aria-describedby={d} />}
        </Field>
      </>,
    );
    const end = screen.getByLabelText("End");
    expect(end.getAttribute("aria-describedby")).toBeTruthy();
    expect(document.getElementById(end.getAttribute("aria-describedby")!)!.textContent)
      .toBe("Before the start date");
    expect(screen.getByLabelText("Start").getAttribute("aria-describedby")).toBeNull();
  });
});

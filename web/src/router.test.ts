import { describe, expect, it } from "vitest";
import { match } from "./router";

describe("match", () => {
  it("binds parameters", () => expect(match("/projects/:id", "/projects/42")).toEqual({ id: "42" }));
  it("ignores a trailing slash", () => expect(match("/projects/:id", "/projects/42/")).toEqual({ id: "42" }));
  it("refuses other shapes", () => {
    expect(match("/projects/:id", "/projects")).toBeNull();
    expect(match("/projects/:id", "/tasks/42")).toBeNull();
  });
});

import { describe, expect, it } from "vitest";
import { tenantOf } from "./host";

describe("tenantOf", () => {
  it("reads the slug of a tenant host", () =>
    expect(tenantOf("acme.lintel.localhost", "lintel.localhost")).toBe("acme"));
  it("is null on the apex", () => expect(tenantOf("lintel.localhost", "lintel.localhost")).toBeNull());
  it("ignores case", () => expect(tenantOf("ACME.Lintel.localhost", "lintel.localhost")).toBe("acme"));
  it("is null for a deeper or a foreign host", () => {
    expect(tenantOf("a.b.lintel.localhost", "lintel.localhost")).toBeNull();
    expect(tenantOf("acme.example.com", "lintel.localhost")).toBeNull();
  });
});

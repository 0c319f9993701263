// Which console this host is: a tenant's (<slug>.<base domain>) or the
// platform's apex. The base domain is the build's (VITE_BASE_DOMAIN).
export const BASE_DOMAIN: string = import.meta.env.VITE_BASE_DOMAIN ?? "lintel.localhost";

export function tenantOf(hostname: string, base = BASE_DOMAIN): string | null {
  const h = hostname.toLowerCase();
  if (h === base) return null;
  if (h.endsWith("." + base)) {
    const slug = h.slice(0, -base.length - 1);
    return slug.includes(".") ? null : slug;
  }
  return null;
}

export function tenantUrl(slug: string, path: string, loc: Location = location): string {
  const port = loc.port ? `:${loc.port}` : "";
  return `${loc.protocol}//${slug}.${BASE_DOMAIN}${port}${path}`;
}

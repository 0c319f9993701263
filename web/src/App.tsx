import { useEffect, useState } from "react";
import { api, dropSession, onSessionChange, refresh, signOut } from "./api";
import { tenantOf } from "./host";
import { Link, match, navigate, useLocation } from "./router";
import { can, MeContext, type Me } from "./session";
import { Crash } from "./components/Crash";
import { ErrorBox } from "./components/ErrorBox";
import { Login } from "./pages/Login";
import { Signup } from "./pages/Signup";
import { AcceptInvitation } from "./pages/AcceptInvitation";
import { ResetPassword } from "./pages/ResetPassword";
import { Projects } from "./pages/Projects";
import { ProjectBoard } from "./pages/ProjectBoard";
import { Reports } from "./pages/Reports";
import { Members } from "./pages/Members";
import { Billing } from "./pages/Billing";
import { Admin } from "./pages/Admin";
import { Profile } from "./pages/Profile";

export function App() {
  const loc = useLocation();
  const tenant = tenantOf(location.hostname);
  if (tenant === null) return <PlatformConsole path={loc.pathname} />;
  return <TenantConsole tenant={tenant} path={loc.pathname} />;
}

function Shell(props: { title: string; nav?: React.ReactNode; children: React.ReactNode }) {
  return (
    <>
      <header className="top">
        <span className="brand">{props.title}</span>
        {props.nav}
      </header>
      <main id="main">{props.children}</main>
    </>
  );
}

// The apex: sign-up of a new company; /admin the platform's operator, who
// gets an access token only (no session to refresh: signs in again).
function PlatformConsole({ path }: { path: string }) {
  const [signedIn, setSignedIn] = useState(false);
  useEffect(() => onSessionChange(setSignedIn), []);
  if (path !== "/admin") {
    return (
      <Shell title="Lintel" nav={<nav aria-label="Main"><Link to="/admin">Operator sign-in</Link></nav>}>
        <Signup />
      </Shell>
    );
  }
  const nav = signedIn ? (
    <nav aria-label="Main">
      <button type="button" onClick={dropSession}>Sign out</button>
    </nav>
  ) : undefined;
  return (
    <Shell title="Lintel operator" nav={nav}>
      {signedIn ? <Crash><Admin /></Crash> : <Login platform onSignedIn={() => setSignedIn(true)} />}
    </Shell>
  );
}

// Pages a visitor without a session may open.
const PUBLIC = ["/login", "/accept-invitation", "/reset-password"];

function TenantConsole({ tenant, path }: { tenant: string; path: string }) {
  const [me, setMe] = useState<Me | null>(null);
  const [state, setState] = useState<"starting" | "in" | "out">("starting");
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const off = onSessionChange((signedIn) => {
      if (!signedIn) {
        setMe(null);
        setState("out");
      }
    });
    // A reload keeps no token: the cookie gets a new one, if it can.
    refresh().then((ok) => setState(ok ? "in" : "out"));
    return () => {
      off();
    };
  }, []);

  useEffect(() => {
    if (state !== "in" || me) return;
    api<Me>("GET", "/api/users/me").then(setMe, setError);
  }, [state, me]);

  const isPublic = PUBLIC.includes(path);
  useEffect(() => {
    if (state === "out" && !isPublic) navigate(`/login?next=${encodeURIComponent(path)}`, true);
  }, [state, isPublic, path]);

  if (isPublic && state !== "in") {
    const onIn = () => setState("in");
    return (
      <Shell title={tenant}>
        {path === "/login" && <Login onSignedIn={onIn} />}
        {path === "/accept-invitation" && <AcceptInvitation onSignedIn={onIn} />}
        {path === "/reset-password" && <ResetPassword />}
      </Shell>
    );
  }
  if (state !== "in" || !me) {
    return (
      <Shell title={tenant}>
        {error ? <ErrorBox error={error} /> : <p role="status">Loading…</p>}
      </Shell>
    );
  }
  if (isPublic) {
    const next = new URLSearchParams(location.search).get("next");
    navigate(next && next.startsWith("/") ? next : "/", true);
  }
  const nav = (
    <nav aria-label="Main">
      <Link to="/">Projects</Link>
      <Link to="/reports">Reports</Link>
      {can(me, "admin") && <Link to="/members">Members</Link>}
      {can(me, "admin") && <Link to="/billing">Billing</Link>}
      <Link to="/profile" className="who">
        {me.name} ({me.role})
      </Link>
      <button type="button" onClick={() => void signOut(false)}>
        Sign out
      </button>
      <button type="button" onClick={() => void signOut(true)}>
        Sign out everywhere
      </button>
    </nav>
  );
  let page: React.ReactNode;
  let m: Record<string, string> | null;
  if (path === "/" || path === "/projects") page = <Projects />;
  else if ((m = match("/projects/:id", path))) page = <ProjectBoard id={m.id} />;
  else if (path === "/reports") page = <Reports />;
  else if (path === "/members") page = <Members />;
  else if (path === "/billing") page = <Billing />;
  else if (path === "/profile") {
    page = <Profile me={me} onChange={() => void api<Me>("GET", "/api/users/me").then(setMe, setError)} />;
  }
  else page = <p>There is no page here. <Link to="/">Projects</Link></p>;
  return (
    <MeContext.Provider value={me}>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <Shell title={tenant} nav={nav}>
        <Crash key={path}>{page}</Crash>
      </Shell>
    </MeContext.Provider>
  );
}

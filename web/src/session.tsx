import { createContext, useContext } from "react";

export interface Me {
  id: string;
  email: string;
  name: string;
  role: "owner" | "admin" | "manager" | "member" | "viewer";
}

const RANK = { viewer: 1, member: 2, manager: 3, admin: 4, owner: 5 } as const;

// API.md's roles table: who may do what.
export function can(me: Me | null, least: keyof typeof RANK): boolean {
  return me !== null && RANK[me.role] >= RANK[least];
}

export const MeContext = createContext<Me | null>(null);
export const useMe = () => useContext(MeContext);

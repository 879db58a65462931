import { createContext, useContext } from "react";
import type { AlertView } from "../bindings/AlertView";
import type { ProfileSummary } from "../bindings/ProfileSummary";
import type { RoomSummary } from "../bindings/RoomSummary";
import type { TransferDirection } from "../bindings/TransferDirection";

export interface Transfer {
  direction: TransferDirection;
  done: number;
  total: number;
}

export interface Jump {
  room: string;
  message: string;
  nonce: number;
}

export interface MainContextValue {
  profile: ProfileSummary;
  rooms: RoomSummary[];
  nameOf: (user: string) => string;
  openRoom: (room: string) => void;
  jumpTo: (room: string, message: string) => void;
  transfers: Record<string, Transfer>;
  maxFileSize: number;
  alerts: AlertView[];
  dismissAlert: (id: number) => void;
  startVerification: (user: string, device: string) => void;
  showPreviews: boolean;
  /** Asks for a fresh room list (after marking a room read, for instance). */
  refreshRooms: () => void;
}

export const MainContext = createContext<MainContextValue | null>(null);

export function useMain(): MainContextValue {
  const v = useContext(MainContext);
  if (!v) throw new Error("useMain outside MainScreen");
  return v;
}

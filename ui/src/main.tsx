import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import "./styles/theme.css";
import "./styles/app.css";
import { App } from "./App";

async function start() {
  // The mock backend exists only in `vite --mode mock`; in any other build this branch is
  // removed at compile time, so the module is never bundled.
  if (__MOCK__) {
    const { installMockBackend } = await import("./dev/mockBackend");
    installMockBackend();
  }
  const root = document.getElementById("root");
  if (root) {
    createRoot(root).render(
      <StrictMode>
        <App />
      </StrictMode>,
    );
  }
}

void start();

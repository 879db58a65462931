/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// No @vitejs/plugin-react: esbuild compiles JSX with the automatic runtime.
export default defineConfig(({ mode }) => ({
  esbuild: { jsx: "automatic" },
  clearScreen: false,
  // The app's icon lives in the repository's icons/ (one source for the window, the tray and here).
  server: { port: 5173, strictPort: true, fs: { allow: [".", "../icons"] } },
  build: {
    outDir: "dist",
    target: "es2022",
    sourcemap: false,
    // The CSP forbids inline scripts; keep every asset a separate file.
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 800,
  },
  define: {
    __MOCK__: JSON.stringify(mode === "mock"),
  },
  test: {
    environment: "jsdom",
    setupFiles: ["src/test/setup.ts"],
    include: ["src/**/*.test.{ts,tsx}"],
    testTimeout: 20000,
    pool: "threads",
    maxWorkers: 2,
    minWorkers: 1,
  },
}));

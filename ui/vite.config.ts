/// <reference types="vitest/config" />
import { defineConfig } from "vite";

// No @vitejs/plugin-react: esbuild compiles JSX with the automatic runtime.
export default defineConfig(({ mode }) => ({
  esbuild: { jsx: "automatic" },
  clearScreen: false,
  server: { port: 5173, strictPort: true },
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

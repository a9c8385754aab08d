import { defineConfig } from "vitest/config";
import react from "@vitejs/plugin-react";
import { fileURLToPath } from "node:url";

// The daemon serves the built SPA from its package data; `make dev-frontend` proxies /api to `make dev`.
const outDir = fileURLToPath(new URL("../deploykit_http/spa_assets", import.meta.url));
const daemon = process.env.DEPLOYKIT_DEV_API ?? "http://127.0.0.1:8080";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir,
    emptyOutDir: true,
    assetsDir: "assets",
    sourcemap: false,
    chunkSizeWarningLimit: 600,
    rollupOptions: {
      output: {
        manualChunks: {
          react: ["react", "react-dom", "react-dom/client", "react-router", "@tanstack/react-query"],
        },
      },
    },
  },
  server: {
    proxy: {
      "/api": { target: daemon, changeOrigin: false, ws: true },
    },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});

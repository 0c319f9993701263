/// <reference types="vitest" />
// The console builds into the checkout's build/web, which the edge serves
// at / (gateway-module/nginx.conf.example); LINTEL_WEB_OUT moves it.
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: process.env.LINTEL_WEB_OUT ?? "../build/web",
    emptyOutDir: true,
    target: "es2020",
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.ts", "src/**/*.test.tsx"],
  },
});

// Builds react/ and serves it with /graphql (HTTP and websocket) proxied to orgql,
// so that the app and the API share an origin as they would behind one host.
import { defineConfig } from "vite";

const api = process.env.ORGQL_URL ?? "http://127.0.0.1:18080";

export default defineConfig({
  root: "react",
  build: { outDir: "../dist", emptyOutDir: true },
  esbuild: { jsx: "automatic" },
  preview: { host: "127.0.0.1", port: 4173, strictPort: true,
    proxy: { "/graphql": { target: api, ws: true } } },
});

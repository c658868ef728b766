// Bundles src/main.jsx into dist/board.js, which is committed and embedded in the Go binary.
// The output depends only on the sources and the versions pinned in package-lock.json (no
// timestamps, hashes or absolute paths), so CI rebuilds it and fails if it differs.
import * as esbuild from "esbuild";

await esbuild.build({
  entryPoints: ["src/main.jsx"],
  outfile: "dist/board.js",
  bundle: true,
  format: "iife",
  target: "es2020",
  jsx: "automatic",
  minify: true,
  // Production builds of React and Apollo Client (no dev warnings, a third of the size).
  define: { "process.env.NODE_ENV": '"production"' },
  conditions: ["production"],
  legalComments: "eof",
  charset: "utf8",
  logLevel: "info",
});

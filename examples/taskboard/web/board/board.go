// Package board holds the built board view (dist/board.js): React and Apollo Client, bundled by
// esbuild from src/ (npm ci && npm run build). The bundle is committed and embedded, so the Go
// binary serves it and nobody needs Node to run taskboard; CI rebuilds it and fails on a
// difference.
package board

import _ "embed"

// JS is the bundle, served to members at /board/board.js.
//
//go:embed dist/board.js
var JS []byte

// Package web holds the dashboard's committed build (dist/), embedded so
// the binary serves it without Node. The source is beside it in src/;
// internal/web serves it.
package web

import "embed"

// Dist is the built dashboard: index.html and hashed assets.
//
//go:embed all:dist
var Dist embed.FS

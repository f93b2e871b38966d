// Package web holds the dashboard: its own pages and scripts under static/,
// and the map libraries that `npm run build` copies into static/vendor/
// (Leaflet, leaflet.heat; never committed). FS exposes them for embedding.
package web

import (
	"embed"
	"io/fs"
)

//go:embed all:static
var static embed.FS

// FS is the dashboard's files, rooted at static/.
func FS() fs.FS {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the directive guarantees the directory
	}
	return sub
}

// HasVendor reports whether the npm-built map libraries were embedded.
func HasVendor() bool {
	_, err := fs.Stat(static, "static/vendor/leaflet/leaflet.js")
	return err == nil
}

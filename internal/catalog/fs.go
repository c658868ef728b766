package catalog

import "io/fs"

func subFS() (fs.FS, error) { return fs.Sub(sqlFiles, "sql") }

// Files returns the catalog's own migrations (for fingerprinting test templates).
func Files() fs.FS { f, _ := subFS(); return f }

package catalog

// InstallLocalFrom installs a given local migration line, for tests of the upgrade path.
var InstallLocalFrom = installLocal

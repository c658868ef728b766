package catalog

// InstallLocalFrom installs a given local migration line, for tests of the upgrade path.
var InstallLocalFrom = installLocal

// ServerFewestSQL is ServerFewestTenants' statement, for its plan's test.
const ServerFewestSQL = serverFewestSQL

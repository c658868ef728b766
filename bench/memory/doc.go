// Package memory measures the memory of a PostgreSQL backend that has served many schema-tier
// tenants (relcache and catcache entries are never freed), without and with tenancy's connection
// recycling (Config.ConnMaxTenants). Run it as `go run ./bench memory`.
package memory

package lockkey

import "testing"

// TestValuesNeverChange pins every key: a process of an older build takes the old values, so a
// changed value would let two processes into what the lock protects.
func TestValuesNeverChange(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"Catalog", Catalog, 32762622053868409},
		{"TestRoles", TestRoles, 7465737401},
		{"TestTemplate", TestTemplate, 7465737402},
		{"Fence", int64(Fence), 0x74656e61},
		{"TenantOp", int64(TenantOp), 0x746d6f76},
		{"Tenant", int64(Tenant(1<<32 | 5)), 4},
		{"Pool", Pool("pool_default"), 4105701817039953961},
		{"Template", Template("app_tenancy_template"), 3496841362266239358},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
}

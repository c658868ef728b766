package tenancycli

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tenancy-go/tenancy"
)

func tenantsSettingsCommand(a *app) *cobra.Command {
	var set, unset []string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "settings SLUG",
		Short: "Show a tenant's settings, or change them with --set KEY=VALUE and --unset KEY",
		Long: `settings shows a tenant's settings (a JSON object in the catalog that the application reads),
or changes top-level keys: --set KEY=VALUE gives KEY the VALUE, read as JSON when it is valid JSON
(true, 42, null, {"a":1}, "quoted") and as a string otherwise (dark, hello world); --unset KEY removes
KEY. The result must pass the application's settings type, if it registers one; if not, nothing
changes. Running applications see the change at once (their caches hear of it).`,
		Args: exactArgs("SLUG"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := &tenancy.TenantSetSettingsOpts{Unset: unset}
			for _, kv := range set {
				k, v, ok := strings.Cut(kv, "=")
				if !ok || k == "" {
					return usagef(cmd, "--set %q: want KEY=VALUE", kv)
				}
				if _, dup := opts.Set[k]; dup {
					return usagef(cmd, "--set %s: given twice", k)
				}
				if opts.Set == nil {
					opts.Set = map[string]json.RawMessage{}
				}
				opts.Set[k] = settingValue(v)
			}
			for _, k := range unset {
				if k == "" {
					return usagef(cmd, "--unset: empty key")
				}
				if _, both := opts.Set[k]; both {
					return usagef(cmd, "%s is both --set and --unset", k)
				}
			}
			ctx := cmd.Context()
			c, err := a.client(ctx, false)
			if err != nil {
				return err
			}
			var t *tenancy.Tenant
			if len(set) == 0 && len(unset) == 0 {
				t, err = c.TenantGet(ctx, args[0])
			} else {
				t, err = c.TenantSetSettings(ctx, args[0], opts)
			}
			if err != nil {
				return err
			}
			return a.printSettings(t, asJSON)
		},
	}
	cmd.Flags().StringArrayVar(&set, "set", nil, "KEY=VALUE: set a key (VALUE is JSON if valid JSON, else a string); repeatable")
	cmd.Flags().StringArrayVar(&unset, "unset", nil, "KEY: remove a key; repeatable")
	jsonFlag(cmd, &asJSON)
	return cmd
}

// settingValue reads a --set value: JSON when it is valid JSON, else a JSON string.
func settingValue(v string) json.RawMessage {
	if json.Valid([]byte(v)) {
		return json.RawMessage(strings.TrimSpace(v))
	}
	s, _ := json.Marshal(v) // a Go string always marshals
	return s
}

// printSettings prints t's settings: the object itself with --json, else one key a line.
func (a *app) printSettings(t *tenancy.Tenant, asJSON bool) error {
	obj := map[string]json.RawMessage{}
	if len(t.Settings) > 0 {
		if err := json.Unmarshal(t.Settings, &obj); err != nil {
			return fmt.Errorf("settings of %s: %w", t.Slug, err)
		}
	}
	if asJSON {
		return a.printJSON(obj)
	}
	if len(obj) == 0 {
		a.printf("tenant %s has no settings", t.Slug)
		return nil
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\n", oneLine(k), obj[k])
	}
	return w.Flush()
}

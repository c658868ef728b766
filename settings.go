package tenancy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/tenancy-go/tenancy/internal/catalog"
)

// A tenant's settings are one JSON object in the catalog (Tenant.Settings), which every
// application instance reads with the tenant and whose changes reach their caches as every other
// catalog change does. The application gives them a Go type: SettingsOf reads them as one, and
// Config.ValidateSettings (SettingsType makes one from the type) keeps what is written to it.

// SettingsValidator checks a tenant's settings, a JSON object, before they are written
// (TenantCreate, TenantSetSettings, Restore). Its error is the reason given to the caller.
type SettingsValidator func(settings json.RawMessage) error

// SettingsType returns the validator of settings of type T, a struct: the object must decode
// into a T strictly (every key a field of T, spelt as its JSON name, each value of the field's
// type), and then pass T's Validate method, if T or *T has one.
func SettingsType[T any]() SettingsValidator {
	return func(settings json.RawMessage) error {
		v, err := decodeSettings[T](settings)
		if err != nil {
			return err
		}
		if val, ok := any(&v).(interface{ Validate() error }); ok {
			return val.Validate()
		}
		return nil
	}
}

// SettingsOf returns t's settings as a T, decoded as SettingsType's validator decodes them: a key
// that is not a field of T, or a value of the wrong type, is an error wrapping ErrInvalidSettings.
// A tenant without settings gives T's zero value. Validate is not called: reading never fails on a
// rule that only writes enforce.
func SettingsOf[T any](t *Tenant) (T, error) {
	v, err := decodeSettings[T](t.Settings)
	if err != nil {
		return v, fmt.Errorf("%w of %s: %w", ErrInvalidSettings, t.Slug, err)
	}
	return v, nil
}

// decodeSettings decodes a JSON object into a T, refusing unknown keys, keys spelt in another
// case than the field's JSON name (encoding/json would accept them, and two spellings of one key
// would then disagree) and trailing data.
func decodeSettings[T any](data []byte) (T, error) {
	var v T
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	if fields := jsonFieldNames(reflect.TypeFor[T]()); fields != nil {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(data, &obj); err != nil {
			return v, settingsDecodeErr(err)
		}
		for _, k := range sortedKeys(obj) {
			if !fields[k] {
				return v, unknownSetting(k, fields)
			}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		return v, settingsDecodeErr(err)
	}
	if dec.More() {
		return v, errors.New("data after the settings object")
	}
	return v, nil
}

func settingsDecodeErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("settings are a JSON %s, want %s", te.Value, te.Type)
		}
		return fmt.Errorf("setting %q is a JSON %s, want %s", te.Field, te.Value, te.Type)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return fmt.Errorf("unknown setting %s", field) // a nested object's key
	}
	return err
}

func unknownSetting(key string, fields map[string]bool) error {
	for f := range fields {
		if strings.EqualFold(f, key) {
			return fmt.Errorf("unknown setting %q (did you mean %q?)", key, f)
		}
	}
	return fmt.Errorf("unknown setting %q (known: %s)", key, strings.Join(sortedKeys(fields), ", "))
}

// jsonFieldNames returns the JSON names of the fields of struct type t (embedded structs' fields
// included), or nil when t is not a struct.
func jsonFieldNames(t reflect.Type) map[string]bool {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	names := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" && f.Tag.Get("json") == "-" {
			continue
		}
		if f.Anonymous && name == "" {
			if inner := jsonFieldNames(f.Type); inner != nil {
				for k := range inner {
					names[k] = true
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	return names
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// checkSettings returns the settings to write for tenant slug (empty means {}), once they are a
// JSON object that Config.ValidateSettings accepts.
func (c *Client) checkSettings(slug string, settings []byte) ([]byte, error) {
	if len(bytes.TrimSpace(settings)) == 0 {
		settings = []byte("{}")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(settings, &obj); err != nil || obj == nil {
		return nil, fmt.Errorf("%w of %s: not a JSON object", ErrInvalidSettings, slug)
	}
	if c.validateSettings != nil {
		if err := c.validateSettings(settings); err != nil {
			return nil, fmt.Errorf("%w of %s: %w", ErrInvalidSettings, slug, err)
		}
	}
	return settings, nil
}

// TenantSetSettingsOpts change a tenant's settings: keys are top-level keys of its settings object.
type TenantSetSettingsOpts struct {
	// Set gives keys their values (valid JSON each), replacing the values they had.
	Set map[string]json.RawMessage
	// Unset removes keys; a key the settings do not have is ignored.
	Unset []string
}

// TenantSetSettings changes tenant slug's settings: opts.Set and opts.Unset apply to the settings
// it has, and the result must pass Config.ValidateSettings, or nothing is written and the error
// wraps ErrInvalidSettings. The read and the write are one transaction that holds the tenant's
// row, so concurrent changes of other keys are kept. Caches (tenancyhttp) hear of the change as of
// any other change of the tenant.
func (c *Client) TenantSetSettings(ctx context.Context, slug string, opts *TenantSetSettingsOpts) (*Tenant, error) {
	admin, err := c.ownerPool()
	if err != nil {
		return nil, err
	}
	if err := ValidateSlug(slug); err != nil && !errors.Is(err, ErrReservedSlug) {
		return nil, err
	}
	if opts == nil {
		opts = &TenantSetSettingsOpts{}
	}
	for k, v := range opts.Set {
		if k == "" {
			return nil, fmt.Errorf("%w of %s: empty key", ErrInvalidSettings, slug)
		}
		if !json.Valid(v) {
			return nil, fmt.Errorf("%w of %s: the value of %q is not JSON", ErrInvalidSettings, slug, k)
		}
		if slices.Contains(opts.Unset, k) {
			return nil, fmt.Errorf("%w of %s: %q is both set and unset", ErrInvalidSettings, slug, k)
		}
	}
	if len(opts.Set) == 0 && len(opts.Unset) == 0 {
		return c.TenantGet(ctx, slug)
	}
	err = pgx.BeginFunc(ctx, admin, func(tx pgx.Tx) error {
		id, cur, err := catalog.TenantSettingsForUpdate(ctx, tx, slug)
		if err != nil {
			return notFoundOr(err, ErrTenantNotFound, slug)
		}
		obj := map[string]json.RawMessage{}
		if err := json.Unmarshal(cur, &obj); err != nil || obj == nil {
			obj = map[string]json.RawMessage{} // jsonb that is not an object (written by hand): replaced
		}
		for _, k := range opts.Unset {
			delete(obj, k)
		}
		for k, v := range opts.Set {
			obj[k] = v
		}
		next, err := json.Marshal(obj)
		if err != nil {
			return err
		}
		if next, err = c.checkSettings(slug, next); err != nil {
			return err
		}
		return catalog.TenantSetSettings(ctx, tx, id, next)
	})
	if err != nil {
		return nil, err
	}
	return c.TenantGet(ctx, slug)
}

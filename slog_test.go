package tenancy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/tenancy-go/tenancy"
)

func TestLogHandlerAddsTenant(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(tenancy.NewLogHandler(slog.NewJSONHandler(&buf, nil))).With("app", "taskboard")
	ctx := tenancy.WithTenant(context.Background(), &tenancy.Tenant{ID: 7, Slug: "acme"})

	log.InfoContext(ctx, "with tenant", "n", 1)
	log.InfoContext(context.Background(), "no tenant")
	log.Info("no context")
	log.WithGroup("req").InfoContext(ctx, "grouped", "path", "/x")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines:\n%s", len(lines), buf.String())
	}
	var recs []map[string]any
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		if m["app"] != "taskboard" {
			t.Errorf("WithAttrs lost: %s", l)
		}
		recs = append(recs, m)
	}
	tenant := func(m map[string]any) any { return m["tenant"] }
	want := map[string]any{"id": float64(7), "slug": "acme"}
	if got, _ := tenant(recs[0]).(map[string]any); got == nil || got["id"] != want["id"] || got["slug"] != want["slug"] || recs[0]["n"] != float64(1) {
		t.Errorf("line with a tenant context: %s", lines[0])
	}
	for _, i := range []int{1, 2} {
		if tenant(recs[i]) != nil {
			t.Errorf("line without a tenant has one: %s", lines[i])
		}
	}
	if g, _ := recs[3]["req"].(map[string]any); g == nil || g["path"] != "/x" || g["tenant"] == nil {
		t.Errorf("grouped line: %s", lines[3])
	}
	if a := tenancy.LogAttr(context.Background()); !a.Equal(slog.Attr{}) {
		t.Errorf("LogAttr without a tenant = %v", a)
	}
	if a := tenancy.LogAttr(ctx); a.String() != "tenant=[id=7 slug=acme]" {
		t.Errorf("LogAttr = %v", a)
	}
}

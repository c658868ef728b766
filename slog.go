package tenancy

import (
	"context"
	"log/slog"
)

// LogAttr returns the tenant that ctx carries as a log attribute, a group "tenant" with its id and
// slug (tenant.id=7 tenant.slug=acme), or an empty attribute (which slog drops) if there is none.
func LogAttr(ctx context.Context) slog.Attr {
	t, ok := FromContext(ctx)
	if !ok {
		return slog.Attr{}
	}
	return slog.Group("tenant", slog.Int64("id", t.ID), slog.String("slug", t.Slug))
}

// NewLogHandler wraps h so that every record logged with a context that carries a tenant
// (logger.InfoContext(ctx, ...)) gets LogAttr(ctx). Records logged without a context, or with one
// that carries no tenant, pass through unchanged. Under a logger's WithGroup the attribute lands in
// that group, as any attribute added at log time does.
func NewLogHandler(h slog.Handler) slog.Handler { return logHandler{h} }

type logHandler struct{ inner slog.Handler }

func (h logHandler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h logHandler) Handle(ctx context.Context, r slog.Record) error {
	if a := LogAttr(ctx); !a.Equal(slog.Attr{}) {
		// Clone: the caller's record may share its attribute storage with other copies.
		r = r.Clone()
		r.AddAttrs(a)
	}
	return h.inner.Handle(ctx, r)
}

func (h logHandler) WithAttrs(as []slog.Attr) slog.Handler { return logHandler{h.inner.WithAttrs(as)} }

func (h logHandler) WithGroup(name string) slog.Handler { return logHandler{h.inner.WithGroup(name)} }

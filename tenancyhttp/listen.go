package tenancyhttp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// Channel is the notification channel on which the catalog announces every change to a tenant or
// a domain (internal/catalog/sql/0001_catalog.up.sql).
const Channel = "tenancy_catalog"

// ListenerApplicationName names the listener's connection in pg_stat_activity.
const ListenerApplicationName = "tenancy cache listener"

// change is the payload of a catalog notification.
type change struct {
	Table    string `json:"table"`
	Op       string `json:"op"`
	TenantID int64  `json:"tenant_id"`
	Slug     string `json:"slug"`
	OldSlug  string `json:"old_slug"`
	Host     string `json:"host"`
}

// Start connects the listener and returns once it listens; from then on catalog changes reach
// the cache within the notification's round trip. The cache is emptied, since entries loaded
// before may have missed changes. The listener runs until Close is called, reconnecting with
// backoff whenever its connection drops. ctx bounds the first connection only.
func (c *Cache) Start(ctx context.Context) error {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if c.stop != nil {
		return errors.New("tenancyhttp: Cache.Start: already started")
	}
	conn, err := c.connect(ctx)
	if err != nil {
		return err
	}
	c.Purge()
	c.state.Store(stateListening)
	lctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	c.stop, c.done = stop, make(chan struct{})
	go c.listen(lctx, conn)
	return nil
}

// Close stops the listener and waits for it. The cache keeps working, on TTL alone.
func (c *Cache) Close() {
	c.startMu.Lock()
	defer c.startMu.Unlock()
	if c.stop == nil {
		return
	}
	c.stop()
	<-c.done
}

func (c *Cache) connect(ctx context.Context) (*pgx.Conn, error) {
	var cfg *pgx.ConnConfig
	if c.cfg.Listen != nil {
		cfg = c.cfg.Listen.Copy()
	} else {
		cfg = c.client.AppPool().Config().ConnConfig.Copy()
	}
	cfg.RuntimeParams["application_name"] = ListenerApplicationName
	// A wait that times out (to ping) must leave the connection usable: a deadline does, the
	// default cancel request would not be needed and costs a connection each time.
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.DeadlineContextWatcherHandler{Conn: pc.Conn()}
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("tenancyhttp: cache listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("tenancyhttp: cache listener: %w", err)
	}
	return conn, nil
}

func (c *Cache) listen(ctx context.Context, conn *pgx.Conn) {
	defer close(c.done)
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		err := c.wait(ctx, conn)
		if ctx.Err() != nil {
			c.state.Store(stateStopped)
			return
		}
		// Notifications sent while we are away are lost: forget everything, now and on return.
		c.state.Store(stateReconnecting)
		c.Purge()
		c.log.Warn("tenancy: cache listener lost its connection; reconnecting", "err", err)
		conn.Close(context.Background())
		if conn = c.reconnect(ctx); conn == nil {
			c.state.Store(stateStopped)
			return
		}
		c.Purge()
		c.state.Store(stateListening)
		c.stats.reconnects.Add(1)
		c.log.Info("tenancy: cache listener reconnected")
	}
}

// wait applies notifications until the connection fails, pinging it when idle.
func (c *Cache) wait(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, c.cfg.HealthInterval)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			c.stats.notifications.Add(1)
			c.apply(n.Payload)
		case ctx.Err() != nil:
			return err
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return err
			}
		default:
			return err
		}
	}
}

func (c *Cache) reconnect(ctx context.Context) *pgx.Conn {
	backoff := 50 * time.Millisecond
	for {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := c.connect(cctx)
		cancel()
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		c.log.Warn("tenancy: cache listener cannot reconnect", "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

// apply invalidates what one notification says changed; a payload it cannot read drops all.
func (c *Cache) apply(payload string) {
	var ch change
	if err := json.Unmarshal([]byte(payload), &ch); err != nil || ch.TenantID == 0 {
		c.Purge()
		return
	}
	var slugs, hosts []string
	for _, s := range []string{ch.Slug, ch.OldSlug} {
		if s != "" {
			slugs = append(slugs, s)
		}
	}
	if ch.Host != "" {
		hosts = append(hosts, ch.Host)
	}
	c.Invalidate(ch.TenantID, slugs, hosts)
}

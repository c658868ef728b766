package app

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket: Burst attempts at once, then one per Every.
type Rate struct {
	Every time.Duration
	Burst int
}

// RateLimits throttles what an attacker would repeat. Each action is limited per client address
// (see Config.TrustedProxies) and per the account or organisation it aims at; a zero Rate takes
// the default.
type RateLimits struct {
	SignUp  Rate // per client address
	LogIn   Rate // per client address and per email address, on every host
	Console Rate // per client address and for the console as a whole (it has one password)
	Tokens  Rate // API tokens made, per organisation and per client address
}

// Default rates: enough for people, far too few for scripts.
var (
	SignUpRateDefault  = Rate{Every: 6 * time.Minute, Burst: 10}
	LogInRateDefault   = Rate{Every: 6 * time.Second, Burst: 10}
	ConsoleRateDefault = Rate{Every: 6 * time.Second, Burst: 10}
	TokensRateDefault  = Rate{Every: time.Minute, Burst: 20}
)

// limiter says whether one more attempt under key may go ahead, or how long to wait.
type limiter interface {
	allow(key string) (ok bool, wait time.Duration)
}

// buckets is a limiter with one golang.org/x/time/rate bucket per key.
type buckets struct {
	rate Rate
	mu   sync.Mutex
	m    map[string]*rate.Limiter
}

func newBuckets(r, def Rate) *buckets {
	if r.Every <= 0 || r.Burst <= 0 {
		r = def
	}
	return &buckets{rate: r, m: map[string]*rate.Limiter{}}
}

// maxKeys bounds the memory of one limiter: past it, full buckets (keys idle long enough to
// have nothing to remember) are dropped.
const maxKeys = 10000

func (b *buckets) allow(key string) (bool, time.Duration) {
	now := time.Now()
	b.mu.Lock()
	l, ok := b.m[key]
	if !ok {
		if len(b.m) >= maxKeys {
			for k, x := range b.m {
				if x.TokensAt(now) >= float64(b.rate.Burst) {
					delete(b.m, k)
				}
			}
		}
		l = rate.NewLimiter(rate.Every(b.rate.Every), b.rate.Burst)
		b.m[key] = l
	}
	b.mu.Unlock()
	res := l.ReserveN(now, 1)
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		return false, d
	}
	return true, 0
}

// allowAll takes one attempt from every key's bucket; refused by one, it answers 429 with
// Retry-After and returns false.
func (s *Server) allowAll(w http.ResponseWriter, r *http.Request, l limiter, keys ...string) bool {
	for _, k := range keys {
		if ok, wait := l.allow(k); !ok {
			secs := int(wait.Seconds() + 0.999)
			w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
			s.log.WarnContext(r.Context(), "rate limited", "method", r.Method, "path", r.URL.Path, "client", s.clientAddr(r))
			s.refuse(w, r, http.StatusTooManyRequests, "Too many attempts; wait "+strconv.Itoa(max(secs, 1))+" seconds and try again.")
			return false
		}
	}
	return true
}

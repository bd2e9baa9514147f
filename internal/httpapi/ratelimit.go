package httpapi

import (
	"container/list"
	"math"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/teleconsult/teleconsult/internal/clientaddr"
)

// POST /sessions trades a link code for a session: guessing codes is
// throttled per client address with a token bucket. The address is the
// real client's behind TRUSTED_PROXIES (see [clientaddr]), so that one
// client behind a proxy cannot lock out everyone else behind it.
const (
	sessionRate  = rate.Limit(10.0 / 60) // 10 attempts a minute
	sessionBurst = 20
	// maxLimitedClients bounds the limiter's memory; past it the least
	// recently seen client is forgotten.
	maxLimitedClients = 10000
)

// ipLimiter is a bounded LRU map of token buckets, one per client key.
type ipLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu    sync.Mutex
	order *list.List // of *limiterEntry, most recently seen first
	byKey map[string]*list.Element
}

type limiterEntry struct {
	key string
	lim *rate.Limiter
}

func newIPLimiter(limit rate.Limit, burst, maxClients int) *ipLimiter {
	return &ipLimiter{limit: limit, burst: burst, max: maxClients, order: list.New(), byKey: map[string]*list.Element{}}
}

// allow takes one token of key's bucket at now. When there is none it
// returns false and how long until there is.
func (l *ipLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	el, ok := l.byKey[key]
	if ok {
		l.order.MoveToFront(el)
	} else {
		if l.order.Len() >= l.max {
			oldest := l.order.Back()
			l.order.Remove(oldest)
			delete(l.byKey, oldest.Value.(*limiterEntry).key)
		}
		el = l.order.PushFront(&limiterEntry{key: key, lim: rate.NewLimiter(l.limit, l.burst)})
		l.byKey[key] = el
	}
	lim := el.Value.(*limiterEntry).lim
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	return false, time.Duration(missing / float64(l.limit) * float64(time.Second))
}

// len returns how many clients are tracked.
func (l *ipLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.order.Len()
}

// clientKey is the rate-limit key of an address written as in
// r.RemoteAddr (see [clientaddr.Key]). Handlers use the request's client
// address instead: clientaddr.Key(clientaddr.Of(r)).
func clientKey(remoteAddr string) string { return clientaddr.Key(clientaddr.Parse(remoteAddr)) }

// retrySeconds rounds a wait up to whole seconds, at least 1, after
// rounding to milliseconds the float error of the bucket's arithmetic.
func retrySeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Round(time.Millisecond).Seconds())))
}

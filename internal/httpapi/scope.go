package httpapi

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/eventagg/eventagg"
)

// Scope limits a key to some topics: each pattern is a topic name, or a
// prefix ending in "*" ("orders.*"). A nil Scope allows every topic.
type Scope []string

// parseScope reads comma-separated patterns; each error names the pattern.
func parseScope(s string) (Scope, error) {
	var out Scope
	for _, p := range strings.Split(s, ",") {
		name := strings.TrimSuffix(p, "*")
		if p == "*" {
			return nil, nil // every topic, said out loud
		}
		if strings.Contains(name, "*") {
			return nil, fmt.Errorf("topic pattern %q: * only at the end", p)
		}
		if err := eventagg.ValidateTopic(name); err != nil {
			return nil, fmt.Errorf("topic pattern %q: %v", p, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// Allows reports whether topic is in the scope.
func (sc Scope) Allows(topic string) bool {
	if sc == nil {
		return true
	}
	for _, p := range sc {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(topic, prefix) {
				return true
			}
		} else if topic == p {
			return true
		}
	}
	return false
}

func (sc Scope) String() string { return strings.Join(sc, ",") }

// outside is the error for a topic a scoped key may not touch.
func (sc Scope) outside(topic string) error {
	return eventagg.Errorf(eventagg.EFORBIDDEN, "topic: %s is outside this key's topics (%s)", eventagg.Quote(topic), sc)
}

// checkScope refuses a request for one topic outside the key's topics; ""
// (all topics) passes, and the handler filters.
func checkScope(r *http.Request, topic string) error {
	if sc := scopeOf(r); topic != "" && !sc.Allows(topic) {
		return sc.outside(topic)
	}
	return nil
}

type scopeKey struct{}

// scopeOf is the scope of the request's key: nil (every topic) without
// keys, or for a key without topic patterns.
func scopeOf(r *http.Request) Scope {
	sc, _ := r.Context().Value(scopeKey{}).(Scope)
	return sc
}

func withScope(r *http.Request, sc Scope) *http.Request {
	if sc == nil {
		return r
	}
	return r.WithContext(context.WithValue(r.Context(), scopeKey{}, sc))
}

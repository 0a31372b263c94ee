package httpapi

import (
	"bufio"
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
)

// Right is what an API key may do.
type Right string

const (
	RightPublish Right = "publish" // POST /publish
	RightRead    Right = "read"    // GET /events, /stats, /topics, /subscribe
	RightAdmin   Right = "admin"   // GET /metrics, and everything else
)

// Auth holds the API keys and their rights. Keys are kept only as SHA-256
// digests and compared in constant time, so neither the comparison time nor
// a memory dump gives a key away.
type Auth struct {
	keys []authKey
}

type authKey struct {
	digest [sha256.Size]byte
	rights []Right
	scope  Scope // nil: every topic
}

// ParseAuth reads an auth file: one key per line, then its rights separated
// by commas ("k3y publish,read"), then optionally the topics it is limited
// to, comma-separated names or prefixes ending in * ("k3y read
// orders.*,billing.eu"); blank lines and # comments are skipped. Errors
// name the line.
func ParseAuth(r io.Reader) (*Auth, error) {
	a := &Auth{}
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 2 && len(fields) != 3 {
			return nil, fmt.Errorf("line %d: want \"KEY RIGHTS [TOPICS]\" (rights: publish, read, admin; topics: names or prefixes ending in *; both comma-separated)", n)
		}
		if len(fields[0]) < 16 {
			return nil, fmt.Errorf("line %d: key shorter than 16 characters", n)
		}
		k := authKey{digest: sha256.Sum256([]byte(fields[0]))}
		for _, r := range strings.Split(fields[1], ",") {
			switch Right(r) {
			case RightPublish, RightRead, RightAdmin:
				k.rights = append(k.rights, Right(r))
			default:
				return nil, fmt.Errorf("line %d: unknown right %q (publish, read, admin)", n, r)
			}
		}
		if len(fields) == 3 {
			var err error
			if k.scope, err = parseScope(fields[2]); err != nil {
				return nil, fmt.Errorf("line %d: %v", n, err)
			}
		}
		a.keys = append(a.keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(a.keys) == 0 {
		return nil, fmt.Errorf("no keys")
	}
	return a, nil
}

// lookup returns the entry of key and whether it is known. It looks at
// every key whatever it finds, so the time taken says nothing.
func (a *Auth) lookup(key string) (authKey, bool) {
	d := sha256.Sum256([]byte(key))
	var found authKey
	ok := false
	for _, k := range a.keys {
		if subtle.ConstantTimeCompare(d[:], k.digest[:]) == 1 {
			found, ok = k, true
		}
	}
	return found, ok
}

// keyOf takes the key from "Authorization: Bearer KEY", "X-API-Key", or,
// for GET (browsers' EventSource cannot set headers), the "key" parameter.
func keyOf(r *http.Request) string {
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		return strings.TrimPrefix(h, "Bearer ")
	}
	if k := r.Header.Get("X-API-Key"); k != "" {
		return k
	}
	if r.Method == http.MethodGet {
		return r.URL.Query().Get("key")
	}
	return ""
}

// authorize lets a request through when no keys are configured, the route
// is open, or its key has the right (admin has every right); the handler
// then finds the key's topics with scopeOf. Otherwise: 401 without a known
// key, 403 with a key that lacks the right.
func (s *Server) authorize(right Right, next http.Handler) http.Handler {
	if s.cfg.Auth == nil || right == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, ok := s.cfg.Auth.lookup(keyOf(r))
		switch {
		case !ok:
			w.Header().Set("WWW-Authenticate", `Bearer realm="eventagg"`)
			writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "auth: missing or unknown API key"})
		case slices.Contains(k.rights, right) || slices.Contains(k.rights, RightAdmin):
			next.ServeHTTP(w, withScope(r, k.scope))
		default:
			writeJSON(w, http.StatusForbidden, map[string]string{"error": fmt.Sprintf("auth: this key lacks the %q right", right)})
		}
	})
}

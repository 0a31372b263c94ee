package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/eventagg/eventagg"
)

// statusOf is the one table from domain error codes to HTTP statuses. The
// client package maps them back.
var statusOf = map[string]int{
	eventagg.EINVALID:       http.StatusBadRequest,
	eventagg.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	eventagg.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	eventagg.EUNSUPPORTED:   http.StatusUnsupportedMediaType,
	eventagg.EUNAVAILABLE:   http.StatusServiceUnavailable,
	eventagg.ENOTFOUND:      http.StatusNotFound,
	eventagg.EFORBIDDEN:     http.StatusForbidden,
	eventagg.ECONFLICT:      http.StatusConflict,
	eventagg.EINTERNAL:      http.StatusInternalServerError,
}

// retryAfterSeconds is what a 503 tells publishers to wait before retrying.
const retryAfterSeconds = "1"

// writeError answers with {"error": "..."} and the status of err's code.
// Internal errors are logged and their text is not sent.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := eventagg.ErrorCode(err)
	if errors.Is(err, r.Context().Err()) && r.Context().Err() != nil {
		return // the client is gone; nobody reads the answer
	}
	status := statusOf[code]
	switch code {
	case eventagg.EINTERNAL:
		s.logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	case eventagg.EUNAVAILABLE:
		w.Header().Set("Retry-After", retryAfterSeconds)
	}
	writeJSON(w, status, map[string]string{"error": eventagg.ErrorMessage(err)})
}

// writeJSON answers with v as JSON. HTML escaping is off so payloads come
// back as close to byte-for-byte as JSON allows.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
}

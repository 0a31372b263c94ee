package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/eventagg/eventagg"
)

// item is one event of a request body: decoded, or the reason it is not.
type item struct {
	in  eventagg.Input
	err error
}

// body is a decoded /publish request.
type body struct {
	items  []item
	single bool // one bare object: errors answer 422 rather than per-event
}

// decodePublish reads a /publish body in any of its forms: one event object,
// an array of events, {"events": [...]}, or NDJSON. A malformed JSON document
// fails the whole request (nothing can be trusted after a syntax error); an
// event with wrong field types, or a bad NDJSON line, fails only itself.
func (s *Server) decodePublish(w http.ResponseWriter, r *http.Request) (body, error) {
	ndjson, err := mediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return body{}, err
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return body{}, eventagg.Errorf(eventagg.ETOOLARGE,
				"body: larger than the limit of %d bytes (--max-body-bytes)", s.cfg.MaxBodyBytes)
		}
		return body{}, eventagg.Errorf(eventagg.EINVALID, "body: could not be read: %v", err)
	}
	if ndjson {
		return s.decodeNDJSON(data)
	}
	return s.decodeJSON(data)
}

// mediaType accepts JSON (also when no type is given) and NDJSON.
func mediaType(header string) (ndjson bool, err error) {
	if header == "" {
		return false, nil
	}
	mt, params, err := mime.ParseMediaType(header)
	if err != nil {
		return false, eventagg.Errorf(eventagg.EUNSUPPORTED, "Content-Type: cannot parse %s", eventagg.Quote(header))
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false, eventagg.Errorf(eventagg.EUNSUPPORTED, "Content-Type: charset %s not supported, send utf-8", eventagg.Quote(cs))
	}
	switch mt {
	case "application/json":
		return false, nil
	case "application/x-ndjson", "application/ndjson", "application/jsonl":
		return true, nil
	}
	return false, eventagg.Errorf(eventagg.EUNSUPPORTED,
		"Content-Type: %s not supported; use application/json or application/x-ndjson", eventagg.Quote(mt))
}

func (s *Server) decodeJSON(data []byte) (body, error) {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	if len(trimmed) == 0 {
		return body{}, eventagg.Errorf(eventagg.EINVALID, "body: empty; send an event, an array of events or {\"events\": [...]}")
	}
	switch trimmed[0] {
	case '[':
		return s.decodeArray(data)
	case '{':
	default:
		if json.Valid(data) {
			return body{}, eventagg.Errorf(eventagg.EINVALID, "body: must be an event object, an array of events or {\"events\": [...]}")
		}
		return body{}, syntaxError(data)
	}
	// One object: either an event or the {"events": [...]} envelope.
	var env struct {
		eventagg.Input
		Events json.RawMessage `json:"events"`
	}
	err := json.Unmarshal(data, &env)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err != nil && !errors.As(err, &typeErr):
		return body{}, syntaxError(data)
	case env.Events != nil:
		b := bytes.TrimSpace(env.Events)
		switch {
		case len(b) > 0 && b[0] == '[':
			return s.decodeArray(b)
		case len(b) > 0 && b[0] == '{':
			// {"events": {…}}: a batch of one, as several publishers send.
			return s.decodeArray(slices.Concat([]byte{'['}, b, []byte{']'}))
		}
		return body{}, eventagg.Errorf(eventagg.EINVALID, "events: must be an array of events, or one event object")
	case err != nil:
		return body{single: true, items: []item{{err: typeError(typeErr)}}}, nil
	}
	return body{single: true, items: []item{{in: env.Input}}}, nil
}

// decodeArray decodes a JSON array of events one element at a time, so an
// element of the wrong shape rejects itself and not its neighbours.
func (s *Server) decodeArray(data []byte) (body, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // the '['
		return body{}, syntaxError(data)
	}
	var b body
	for dec.More() {
		if len(b.items) == s.cfg.MaxEvents {
			return body{}, tooManyEvents(s.cfg.MaxEvents)
		}
		var it item
		if err := dec.Decode(&it.in); err != nil {
			var typeErr *json.UnmarshalTypeError
			if !errors.As(err, &typeErr) {
				return body{}, syntaxError(data)
			}
			it = item{err: typeError(typeErr)}
		}
		b.items = append(b.items, it)
	}
	if _, err := dec.Token(); err != nil { // the ']'
		return body{}, syntaxError(data)
	}
	if _, err := dec.Token(); err != io.EOF {
		return body{}, syntaxError(data)
	}
	if len(b.items) == 0 {
		return body{}, eventagg.Errorf(eventagg.EINVALID, "events: empty batch")
	}
	return b, nil
}

// decodeNDJSON decodes one event per line; blank lines are skipped. A bad
// line rejects only its own event.
func (s *Server) decodeNDJSON(data []byte) (body, error) {
	var b body
	line := 0
	for len(data) > 0 {
		var l []byte
		l, data, _ = bytes.Cut(data, []byte{'\n'})
		line++
		l = bytes.TrimSpace(l)
		if len(l) == 0 {
			continue
		}
		if len(b.items) == s.cfg.MaxEvents {
			return body{}, tooManyEvents(s.cfg.MaxEvents)
		}
		var it item
		if len(l) > s.cfg.MaxLineBytes {
			it.err = eventagg.Errorf(eventagg.ETOOLARGE, "line %d: longer than the limit of %d bytes (--max-line-bytes)", line, s.cfg.MaxLineBytes)
			b.items = append(b.items, it)
			continue
		}
		if err := json.Unmarshal(l, &it.in); err != nil {
			var typeErr *json.UnmarshalTypeError
			if errors.As(err, &typeErr) {
				it.err = typeError(typeErr)
			} else {
				it.err = eventagg.Errorf(eventagg.EINVALID, "line %d: malformed JSON: %v", line, err)
			}
		}
		b.items = append(b.items, it)
	}
	if len(b.items) == 0 {
		return body{}, eventagg.Errorf(eventagg.EINVALID, "events: empty batch")
	}
	return b, nil
}

func tooManyEvents(max int) error {
	return eventagg.Errorf(eventagg.ETOOLARGE, "events: more than the limit of %d events per request (--max-events)", max)
}

// typeError names the field whose JSON type is wrong.
func typeError(e *json.UnmarshalTypeError) error {
	if e.Field == "" {
		return eventagg.Errorf(eventagg.EINVALID, "event: must be a JSON object, got %s", e.Value)
	}
	// The {"events": [...]} envelope embeds Input; its name is not a field.
	field := strings.TrimPrefix(e.Field, "Input.")
	return eventagg.Errorf(eventagg.EINVALID, "%s: must be a %s, got %s", field, e.Type.Kind(), e.Value)
}

// syntaxError re-reads the whole document to report the first syntax error
// with its line and column. It runs only on the error path, and always
// returns an error.
func syntaxError(data []byte) error {
	var v json.RawMessage
	err := json.Unmarshal(data, &v)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := position(data, se.Offset)
		return eventagg.Errorf(eventagg.EINVALID, "body: malformed JSON at line %d, column %d (byte %d): %v", line, col, se.Offset, se)
	}
	if err != nil {
		return eventagg.Errorf(eventagg.EINVALID, "body: malformed JSON: %v", err)
	}
	return eventagg.Errorf(eventagg.EINVALID, "body: malformed JSON")
}

// position turns a byte offset into a 1-based line and column.
func position(data []byte, offset int64) (line, col int) {
	offset = min(offset, int64(len(data)))
	before := data[:offset]
	line = bytes.Count(before, []byte{'\n'}) + 1
	col = int(offset) - (bytes.LastIndexByte(before, '\n') + 1)
	if col == 0 {
		col = 1
	}
	return line, col
}

package httpapi

import (
	"embed"
	"net/http"
)

// The dashboard and the API description are embedded, so the binary needs
// nothing from the network at run time.
//
//go:embed static/index.html static/openapi.json
var static embed.FS

func (s *Server) handleDashboard(w http.ResponseWriter, r *http.Request) {
	serveStatic(w, "static/index.html", "text/html; charset=utf-8")
}

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	serveStatic(w, "static/openapi.json", "application/json")
}

func serveStatic(w http.ResponseWriter, name, contentType string) {
	b, err := static.ReadFile(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b)
}

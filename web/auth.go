package web

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// Auth protects the HTTP side. Admin credentials (a bearer token, or a
// user and password) guard the API and the page; read credentials guard
// the media (HLS, MJPEG, snapshots), which admins may read too. Empty
// fields switch that check off.
type Auth struct {
	Token              string
	Username, Password string
	ReadUsername       string
	ReadPassword       string
}

func (a Auth) adminOn() bool { return a.Token != "" || a.Username != "" }
func (a Auth) readOn() bool  { return a.adminOn() || a.ReadUsername != "" }

// Enabled reports whether any credential is required.
func (a Auth) Enabled() bool { return a.readOn() }

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (a Auth) isAdmin(r *http.Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && a.Token != "" {
		return equal(tok, a.Token)
	}
	u, p, ok := r.BasicAuth()
	return ok && a.Username != "" && equal(u, a.Username) && equal(p, a.Password)
}

func (a Auth) isReader(r *http.Request) bool {
	if a.isAdmin(r) {
		return true
	}
	u, p, ok := r.BasicAuth()
	return ok && a.ReadUsername != "" && equal(u, a.ReadUsername) && equal(p, a.ReadPassword)
}

// middleware answers 401 with a Basic challenge (browsers then ask for a
// password) unless the request carries the credentials its route needs.
func (a Auth) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		path := c.Request.URL.Path
		if path == "/healthz" {
			return
		}
		allowed := a.isAdmin(c.Request)
		if !allowed && isMediaPath(path) {
			allowed = !a.readOn() || a.isReader(c.Request)
		} else if !allowed {
			allowed = !a.adminOn()
		}
		if !allowed {
			c.Header("WWW-Authenticate", `Basic realm="visiongate", charset="UTF-8"`)
			writeError(c, http.StatusUnauthorized, "authentication required")
		}
	}
}

func isMediaPath(p string) bool {
	return strings.HasPrefix(p, "/hls/") || strings.HasPrefix(p, "/mjpeg/") || strings.HasPrefix(p, "/snapshot/")
}

package web

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gin-gonic/gin"
)

func TestAuth(t *testing.T) {
	auth := Auth{Token: "t0k", Username: "admin", Password: "pw", ReadUsername: "viewer", ReadPassword: "see"}
	h := NewRouter(Options{Sources: newFake(), Auth: auth, Extra: func(r *gin.Engine) {
		r.GET("/mjpeg/:name", func(c *gin.Context) { c.String(200, "pictures") })
	}})
	type creds struct{ bearer, user, pass string }
	cases := []struct {
		name, path string
		creds
		want int
	}{
		{"health is open", "/healthz", creds{}, 200},
		{"api needs credentials", "/api/v1/sources", creds{}, 401},
		{"api with token", "/api/v1/sources", creds{bearer: "t0k"}, 200},
		{"api with wrong token", "/api/v1/sources", creds{bearer: "nope"}, 401},
		{"api with admin password", "/api/v1/sources", creds{user: "admin", pass: "pw"}, 200},
		{"api with wrong password", "/api/v1/sources", creds{user: "admin", pass: "pW"}, 401},
		{"api refuses the read account", "/api/v1/sources", creds{user: "viewer", pass: "see"}, 401},
		{"media needs credentials", "/mjpeg/cam", creds{}, 401},
		{"media with the read account", "/mjpeg/cam", creds{user: "viewer", pass: "see"}, 200},
		{"media with the admin token", "/mjpeg/cam", creds{bearer: "t0k"}, 200},
		{"metrics are admin only", "/metrics", creds{user: "viewer", pass: "see"}, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", c.path, nil)
			if c.bearer != "" {
				req.Header.Set("Authorization", "Bearer "+c.bearer)
			}
			if c.user != "" {
				req.SetBasicAuth(c.user, c.pass)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != c.want {
				t.Fatalf("%s = %d, want %d", c.path, rec.Code, c.want)
			}
			if c.want == http.StatusUnauthorized && rec.Header().Get("WWW-Authenticate") == "" {
				t.Error("401 without a challenge")
			}
		})
	}
}

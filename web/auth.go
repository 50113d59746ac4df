package web

import (
	"crypto/subtle"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
)

// Level is what a credential grants.
type Level int

// Levels, each including the ones before it.
const (
	LevelNone  Level = iota // nothing (or only /healthz)
	LevelRead               // media and events: RTSP, HLS, MJPEG, snapshots, detections, SSE
	LevelAdmin              // everything: the API, the page, metrics, and all of the above
)

// Auth is visiongate's one authentication rule, for every protocol:
//
//   - no credential configured: everything is open;
//   - any credential configured: every route but /healthz needs one;
//   - admin credentials grant everything: Username/Password (HTTP Basic,
//     RTSP Basic or Digest), or Token as "Authorization: Bearer TOKEN"
//     (HTTP) or as the password with any user name (HTTP Basic, RTSP);
//   - the read account grants the media and event routes only.
//
// Read credentials without admin ones are refused by config validation, so
// that the API is never left open while the media are protected.
type Auth struct {
	Token              string
	Username, Password string
	ReadUsername       string
	ReadPassword       string
	// Throttle, when set, counts failed logins per address and refuses
	// addresses that failed too often (429 with Retry-After).
	Throttle *Throttle
}

// Account is one credential the rule accepts.
type Account struct {
	User, Pass string
	// AnyUser accepts any user name with Pass (the token).
	AnyUser bool
	Level   Level
}

// Enabled reports whether any credential is required.
func (a Auth) Enabled() bool { return a.Token != "" || a.Username != "" || a.ReadUsername != "" }

// Accounts lists the user/password credentials the rule accepts; RTSP
// checks these (with Basic or Digest), HTTP Basic too.
func (a Auth) Accounts() []Account {
	var accs []Account
	if a.Username != "" {
		accs = append(accs, Account{User: a.Username, Pass: a.Password, Level: LevelAdmin})
	}
	if a.Token != "" {
		accs = append(accs, Account{Pass: a.Token, AnyUser: true, Level: LevelAdmin})
	}
	if a.ReadUsername != "" {
		accs = append(accs, Account{User: a.ReadUsername, Pass: a.ReadPassword, Level: LevelRead})
	}
	return accs
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// Basic returns the level a user name and password grant.
func (a Auth) Basic(user, pass string) Level {
	got := LevelNone
	for _, acc := range a.Accounts() { // every account is compared: no early exit to time
		userOK := acc.AnyUser || equal(user, acc.User)
		if userOK && equal(pass, acc.Pass) && acc.Level > got {
			got = acc.Level
		}
	}
	return got
}

// level returns what r's credentials grant, and whether it carried any.
func (a Auth) level(r *http.Request) (Level, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return LevelNone, false
	}
	if tok, ok := strings.CutPrefix(h, "Bearer "); ok {
		if a.Token != "" && equal(tok, a.Token) {
			return LevelAdmin, true
		}
		return LevelNone, true
	}
	if u, p, ok := r.BasicAuth(); ok {
		return a.Basic(u, p), true
	}
	return LevelNone, true
}

// readRoutes are the API routes the read account may use besides media.
var readRoutes = regexp.MustCompile(`^/api/v1/sources/[^/]+/(events|detections)$`)

// RouteLevel is the level a request path needs.
func RouteLevel(path string) Level {
	switch {
	case path == "/healthz", isWHIP(path):
		return LevelNone // WHIP checks publish credentials itself
	case isMediaPath(path), readRoutes.MatchString(path):
		return LevelRead
	}
	return LevelAdmin
}

func isMediaPath(p string) bool {
	return strings.HasPrefix(p, "/hls/") || strings.HasPrefix(p, "/mjpeg/") || strings.HasPrefix(p, "/snapshot/") ||
		strings.HasPrefix(p, "/webrtc/")
}

// isWHIP tells a WHIP publishing URL (/webrtc/NAME/whip[/SESSION]), whose
// handler asks for publish credentials, not read or admin ones.
func isWHIP(p string) bool {
	parts := strings.Split(p, "/")
	return len(parts) >= 4 && len(parts) <= 5 && parts[0] == "" && parts[1] == "webrtc" && parts[3] == "whip"
}

// middleware refuses requests without the level their route needs: 401
// with a Basic challenge (browsers then ask for a password), or 429 for an
// address that failed too often. Both close the connection, so that
// clients that are turned away do not keep connection slots.
func (a Auth) middleware() gin.HandlerFunc {
	return func(c *gin.Context) {
		need := RouteLevel(c.Request.URL.Path)
		if need == LevelNone || c.Request.Method == http.MethodOptions && isMediaPath(c.Request.URL.Path) {
			return // a CORS preflight never carries credentials
		}
		ip := remoteIP(c.Request.RemoteAddr)
		if wait, blocked := a.Throttle.Blocked(ip); blocked {
			c.Header("Retry-After", strconv.Itoa(retryAfterSeconds(wait)))
			refuse(c, http.StatusTooManyRequests, "too many failed logins from your address")
			return
		}
		got, offered := a.level(c.Request)
		if got >= need {
			return
		}
		if offered && got == LevelNone {
			a.Throttle.Fail(ip)
		}
		c.Header("WWW-Authenticate", `Basic realm="visiongate", charset="UTF-8"`)
		refuse(c, http.StatusUnauthorized, "authentication required")
	}
}

// refuse answers an error and closes the connection after it.
func refuse(c *gin.Context, code int, msg string) {
	c.Header("Connection", "close")
	writeError(c, code, msg)
}

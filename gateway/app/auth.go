package app

import (
	"log/slog"
	"net"
	"slices"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/rtsp"
	"github.com/visiongate/visiongate/web"
)

// webAuth is the one rule (see web.Auth) for HTTP.
func webAuth(a config.Auth, th *web.Throttle) web.Auth {
	return web.Auth{Token: a.Token, Username: a.Username, Password: a.Password,
		ReadUsername: a.ReadUsername, ReadPassword: a.ReadPassword, Throttle: th}
}

// rtspAccounts are the same rule's accounts for RTSP: admin and read
// accounts both grant reading, and so does the token with any user name.
func rtspAccounts(a web.Auth) []rtsp.Account {
	var accs []rtsp.Account
	for _, acc := range a.Accounts() {
		if acc.Level >= web.LevelRead {
			accs = append(accs, rtsp.Account{User: acc.User, Pass: acc.Pass, AnyUser: acc.AnyUser})
		}
	}
	return accs
}

// allowedHosts is auth.http_allowed_hosts, or by default, when the HTTP
// server listens on loopback only, the loopback names and public_host:
// a browser page whose DNS name was rebound to 127.0.0.1 then gets 403.
func allowedHosts(cfg *config.Config, httpAddr string) []string {
	if len(cfg.Auth.HTTPAllowedHosts) > 0 || !LoopbackOnly(httpAddr) {
		return cfg.Auth.HTTPAllowedHosts
	}
	hosts := slices.Clone(web.LoopbackHosts)
	if cfg.PublicHost != "" {
		hosts = append(hosts, cfg.PublicHost)
	}
	return hosts
}

// warnIfOpen says so at start-up when anyone on the network can change
// sources or watch them.
func warnIfOpen(log *slog.Logger, cfg *config.Config, httpAddr, rtspAddr string) {
	if cfg.Auth.Enabled() {
		return
	}
	if !LoopbackOnly(httpAddr) {
		log.Warn("the API and web page have no authentication and listen beyond loopback: " +
			"anyone who can reach " + httpAddr + " can add and remove sources (set auth: in the config)")
	}
	if !LoopbackOnly(rtspAddr) {
		log.Warn("RTSP readers need no credentials and the server listens beyond loopback (" + rtspAddr + ")")
	}
}

// LoopbackOnly reports whether a listen address ("host:port") binds
// loopback only; ":6060" and "0.0.0.0:6060" bind every interface.
func LoopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

package app

import (
	"log/slog"
	"net"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/web"
)

func webAuth(a config.Auth) web.Auth {
	return web.Auth{Token: a.Token, Username: a.Username, Password: a.Password,
		ReadUsername: a.ReadUsername, ReadPassword: a.ReadPassword}
}

// readCredentials are what an RTSP reader must give: the read account, or
// the admin one when only that is set.
func readCredentials(a config.Auth) (user, pass string) {
	if a.ReadUsername != "" {
		return a.ReadUsername, a.ReadPassword
	}
	return a.Username, a.Password
}

// warnIfOpen says so at start-up when anyone on the network can change
// sources or watch them.
func warnIfOpen(log *slog.Logger, cfg *config.Config, httpAddr, rtspAddr string) {
	if !loopbackOnly(httpAddr) && cfg.Auth.Token == "" && cfg.Auth.Username == "" {
		log.Warn("the API and web page have no authentication and listen beyond loopback: " +
			"anyone who can reach " + httpAddr + " can add and remove sources (set auth: in the config)")
	}
	if user, _ := readCredentials(cfg.Auth); user == "" && !loopbackOnly(rtspAddr) {
		log.Warn("RTSP readers need no credentials and the server listens beyond loopback (" + rtspAddr + ")")
	}
}

func loopbackOnly(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

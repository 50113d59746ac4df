package app

import (
	"fmt"

	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/gateway/publish"
	"github.com/visiongate/visiongate/gateway/rtmp"
	"github.com/visiongate/visiongate/gateway/srt"
)

// startPublishing opens the listeners publishers push to (RTSP RECORD
// rides on the RTSP server).
func (a *App) startPublishing(cfg *config.Config) error {
	if cfg.RTMP != config.Off {
		a.rtmp = &rtmp.Server{Addr: cfg.RTMP, Broker: a.publish, Log: a.log, OnFail: a.fail}
		if err := a.rtmp.Start(); err != nil {
			a.rtmp = nil
			return fmt.Errorf("rtmp listener: %w", err)
		}
	}
	if cfg.SRT != config.Off {
		a.srt = &srt.Server{Addr: cfg.SRT, Broker: a.publish, Log: a.log}
		if err := a.srt.Start(); err != nil {
			a.srt = nil
			return fmt.Errorf("srt listener: %w", err)
		}
	}
	return nil
}

// closePublishing closes the publish listeners and their connections.
func (a *App) closePublishing() {
	if a.rtmp != nil {
		a.rtmp.Close()
	}
	if a.srt != nil {
		a.srt.Close()
	}
}

// RTMPAddr is the RTMP listener's address ("" when off).
func (a *App) RTMPAddr() string {
	if a.rtmp == nil {
		return ""
	}
	return a.rtmp.ListenAddr()
}

// SRTAddr is the SRT listener's address ("" when off).
func (a *App) SRTAddr() string {
	if a.srt == nil {
		return ""
	}
	return a.srt.ListenAddr()
}

// newBroker makes the broker that hands publish sources their publishers.
// The manager comes later than the broker, which only asks it once
// publishers connect.
func newBroker(cfg *config.Config, sources func() *manager.Manager) *publish.Broker {
	o := publish.Options{
		Lookup: func(name string) (publish.Policy, bool) {
			if m := sources(); m != nil {
				return m.PublishPolicy(name)
			}
			return publish.Policy{}, false
		},
		Required:       cfg.Auth.Enabled(),
		MaxConnections: cfg.Limits.PublishConnections,
	}
	if a := cfg.Auth; a.Username != "" {
		o.Users = append(o.Users, publish.Credentials{User: a.Username, Pass: a.Password})
	}
	if a := cfg.Auth; a.Token != "" { // the admin token as the password, or a WHIP bearer token
		o.Users = append(o.Users, publish.Credentials{User: "", Pass: a.Token})
	}
	if a := cfg.Auth; a.PublishUsername != "" {
		o.Users = append(o.Users, publish.Credentials{User: a.PublishUsername, Pass: a.PublishPassword})
	}
	if cfg.AutoPublish {
		o.Create = func(name string) error {
			if m := sources(); m != nil {
				return m.AddPublished(name)
			}
			return manager.ErrClosed
		}
		o.Remove = func(name string) {
			if m := sources(); m != nil {
				m.RemovePublished(name)
			}
		}
	}
	return publish.New(o)
}

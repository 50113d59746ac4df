package app

import (
	"github.com/visiongate/visiongate/gateway/config"
	"github.com/visiongate/visiongate/gateway/manager"
	"github.com/visiongate/visiongate/gateway/publish"
)

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

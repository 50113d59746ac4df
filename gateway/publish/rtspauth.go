package publish

// MatchCredentials finds the publish credentials that verify accepts, for
// protocols that never see a plain password: an RTSP Digest answer only
// proves that its sender knows one. Every credential is tried, so that the
// time taken does not tell which exists. ok is true, with no credentials,
// when publishing needs none.
func (b *Broker) MatchCredentials(verify func(user, pass string) bool) (c Credentials, ok bool) {
	if !b.AuthRequired() {
		return Credentials{}, true
	}
	for _, u := range b.opts.Users {
		if verify(u.User, u.Pass) && !ok {
			c, ok = u, true
		}
	}
	return c, ok
}

// Validate checks an announced stream as Publish will, so that a protocol
// that describes its tracks before it publishes (RTSP ANNOUNCE) can refuse
// an unusable one at once.
func (a Announce) Validate() error { return a.check() }

package config

import (
	"net/url"
	"regexp"
	"strings"
)

// masked replaces every hidden credential.
const masked = "xxxxx"

// credentialParams are query (and fragment) parameter names whose values
// are credentials, compared case-insensitively after percent-decoding.
var credentialParams = map[string]bool{
	"user": true, "username": true, "usr": true, "login": true, "uid": true,
	"pass": true, "password": true, "passwd": true, "pwd": true, "passphrase": true,
	"token": true, "auth": true, "key": true, "apikey": true, "api_key": true,
	"access_token": true, "refresh_token": true, "id_token": true, "signature": true,
	"sig": true, "secret": true, "client_secret": true, "session": true, "sessionid": true,
	"sid": true, "jwt": true, "bearer": true, "credential": true, "credentials": true,
	"streamid": true, // SRT: "#!::u=USER,..." carries user names and tokens
}

// credentialParts catch the similar names that the list misses
// (X-Amz-Signature, auth_token, private-token, admin_password...).
var credentialParts = []string{"pass", "pwd", "token", "secret", "auth", "apikey", "api_key",
	"api-key", "signature", "credential", "session"}

// MaskURL hides the credentials of a URL, for logs, errors and status: the
// password of its user info, the values of credential parameters in its
// query and fragment, and the user name when it stands alone (a token used
// as the user name) or next to credential parameters.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return maskUnparsed(raw)
	}
	q, qHit := maskParams(u.RawQuery)
	_, fHit := maskParams(u.EscapedFragment())
	if !qHit && !fHit && u.User == nil {
		return raw
	}
	u.RawQuery = q
	if fHit {
		u.Fragment, u.RawFragment = masked, ""
	}
	if u.User != nil {
		_, hasPassword := u.User.Password()
		switch {
		case hasPassword: // the user name goes too: half a login is still a clue
			u.User = url.UserPassword(masked, masked)
		case u.User.Username() != "":
			u.User = url.User(masked)
		}
	}
	return u.String()
}

// maskParams masks the value of every credential parameter in a query
// string, split on '&' and ';' (libav splits on '&', old servers on ';')
// and '#' (a fragment after an unparsed query), and reports whether it
// found one. A key may start with '?' (a query inside a fragment, or a
// doubled '?'); a value runs to the next separator, '?' included.
func maskParams(query string) (string, bool) {
	if query == "" {
		return query, false
	}
	hit := false
	var b strings.Builder
	start := 0
	for i := 0; i <= len(query); i++ {
		if i < len(query) && query[i] != '&' && query[i] != ';' && query[i] != '#' {
			continue
		}
		part := query[start:i]
		if key, _, ok := strings.Cut(part, "="); ok && isCredentialParam(key) {
			part, hit = key+"="+masked, true
		}
		b.WriteString(part)
		if i < len(query) {
			b.WriteByte(query[i])
		}
		start = i + 1
	}
	return b.String(), hit
}

func isCredentialParam(key string) bool {
	if k, err := url.QueryUnescape(key); err == nil {
		key = k
	}
	key = strings.ToLower(strings.TrimLeft(strings.TrimSpace(key), "?#"))
	if credentialParams[key] {
		return true
	}
	for _, part := range credentialParts {
		if strings.Contains(key, part) {
			return true
		}
	}
	return false
}

// maskUnparsed hides everything between "://" and the last "@" of a URL
// that does not parse (its password cannot be told apart reliably), and
// the credential parameters of what follows.
func maskUnparsed(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok || !schemeRe.MatchString(scheme) {
		scheme, rest, ok = "", raw, false
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		rest = rest[:i] + paramRe.ReplaceAllStringFunc(rest[i:], maskPair)
	}
	if at := strings.LastIndex(rest, "@"); ok && at >= 0 {
		rest = masked + rest[at:]
	}
	if ok {
		return scheme + "://" + rest
	}
	return rest
}

// maskPair masks the value of one key=value match of paramRe when its key
// names a credential.
func maskPair(m string) string {
	sub := paramRe.FindStringSubmatch(m)
	if !isCredentialParam(sub[2]) {
		return m
	}
	return sub[1] + sub[2] + "=" + masked
}

// paramRe finds key=value pairs in the query and fragment of what did not
// parse as a URL: a key follows ? & ; or #, and its value runs to the next
// & ; or # (a '?' inside a value stays part of it).
var paramRe = regexp.MustCompile(`(^|[?&;#])([^=&;#?]*)=([^&;#]*)`)

var schemeRe = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://\S+`)

// MaskURLsIn masks the credentials of every URL in a free text (an error,
// a log line from libav).
func MaskURLsIn(msg string) string {
	return urlInText.ReplaceAllStringFunc(msg, func(u string) string {
		trimmed := strings.TrimRight(u, `"'),;:.`) // quoting around the URL
		return MaskURL(trimmed) + u[len(trimmed):]
	})
}

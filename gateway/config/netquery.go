package config

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// libav reads some schemes' query parameters as its own options (udp:
// fifo_size, localaddr...; srt: mode, passphrase...), straight from the URL
// and without percent-decoding. For those schemes every parameter must be
// on the scheme's list and within its bounds. Other schemes (rtsp, rtmp,
// http) send their query to the server, so it is left alone.

type paramRule func(v string) error

var queryRules = map[string]map[string]paramRule{
	"udp": {
		"fifo_size":        intParam(1, 100000), // packets of 188 bytes
		"buffer_size":      intParam(1, 16<<20), // bytes
		"overrun_nonfatal": enumParam("0", "1"),
		"timeout":          intParam(0, 60_000_000), // microseconds
		"reuse":            enumParam("0", "1"),
		"sources":          addrListParam,
		"block":            addrListParam,
	},
	"srt": {
		"mode":            enumParam("caller"),
		"transtype":       enumParam("live"),
		"streamid":        textParam(1, 512),
		"passphrase":      textParam(10, 79),
		"pbkeylen":        enumParam("0", "16", "24", "32"),
		"latency":         intParam(0, 10_000_000), // microseconds
		"rcvlatency":      intParam(0, 10_000_000),
		"peerlatency":     intParam(0, 10_000_000),
		"connect_timeout": intParam(0, 60_000), // milliseconds
		"timeout":         intParam(0, 60_000_000),
	},
}

var textRe = regexp.MustCompile(`^[!-~]*$`) // printable ASCII, no spaces

// checkNetworkQuery applies the scheme's parameter list to raw, the whole
// URL: libav takes everything after the first '?', fragment included.
func checkNetworkQuery(scheme, raw string) error {
	rules, ok := queryRules[scheme]
	if !ok {
		return nil
	}
	if strings.ContainsRune(raw, '#') {
		return fmt.Errorf("%w: %s URLs cannot contain '#'", ErrURLOption, scheme)
	}
	_, query, _ := strings.Cut(raw, "?")
	if query == "" {
		return nil
	}
	seen := map[string]bool{}
	for _, kv := range strings.Split(query, "&") {
		key, val, _ := strings.Cut(kv, "=")
		rule, ok := rules[key]
		if !ok {
			return fmt.Errorf("%w: %s option %q (allowed: %s)", ErrURLOption, scheme, key, ruleNames(rules))
		}
		if seen[key] {
			return fmt.Errorf("%w: %s option %q given twice", ErrURLOption, scheme, key)
		}
		seen[key] = true
		if err := rule(val); err != nil {
			return fmt.Errorf("%w: %s option %s %v", ErrURLOption, scheme, key, err)
		}
	}
	return nil
}

func ruleNames(rules map[string]paramRule) string {
	names := make([]string, 0, len(rules))
	for n := range rules {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func intParam(lo, hi int64) paramRule {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < lo || n > hi || strings.HasPrefix(v, "+") {
			return fmt.Errorf("must be an integer from %d to %d", lo, hi)
		}
		return nil
	}
}

func enumParam(values ...string) paramRule {
	return func(v string) error {
		if !oneOf(v, values) {
			return fmt.Errorf("must be one of %v", values)
		}
		return nil
	}
}

func textParam(minLen, maxLen int) paramRule {
	return func(v string) error {
		if len(v) < minLen || len(v) > maxLen || !textRe.MatchString(v) {
			return fmt.Errorf("must be %d to %d printable characters", minLen, maxLen)
		}
		return nil
	}
}

func addrListParam(v string) error {
	list := strings.Split(v, ",")
	if len(list) > 16 {
		return fmt.Errorf("lists at most 16 addresses")
	}
	for _, a := range list {
		if _, err := netip.ParseAddr(a); err != nil {
			return fmt.Errorf("must list IP addresses separated by commas")
		}
	}
	return nil
}

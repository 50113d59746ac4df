package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// readHLS follows a Low-Latency HLS stream as closely as a client can: it
// asks for the part named by EXT-X-PRELOAD-HINT, which the server answers
// the moment that part is complete, then reloads the media playlist (the
// part is in it by then, so the reload does not block) for the next hint,
// fetching any listed part it has not seen. onSample gets each video
// sample's decode time (90 kHz) and when its part had fully arrived; a
// player adds its own buffer on top of this.
func readHLS(ctx context.Context, client *http.Client, index string, onSample func(ts int64, at int64)) error {
	body, err := get(ctx, client, index)
	if err != nil {
		return err
	}
	media, err := firstURI(index, body)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	first := true
	for ctx.Err() == nil {
		pl, err := get(ctx, client, media)
		if err != nil {
			return ignoreCanceled(ctx, err)
		}
		parts, hint := parsePlaylist(media, pl)
		for _, p := range parts {
			if !seen[p] && !first {
				if err := fetchPart(ctx, client, p, onSample); err != nil {
					return ignoreCanceled(ctx, err)
				}
			}
		}
		seen = make(map[string]bool, len(parts)+1)
		for _, p := range parts {
			seen[p] = true
		}
		first = false
		if hint == "" {
			return errors.New("hls: playlist has no preload hint (not Low-Latency HLS?)")
		}
		if err := fetchPart(ctx, client, hint, onSample); err != nil {
			return ignoreCanceled(ctx, err)
		}
		seen[hint] = true
	}
	return nil
}

func ignoreCanceled(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func fetchPart(ctx context.Context, client *http.Client, u string, onSample func(int64, int64)) error {
	b, err := get(ctx, client, u)
	if err != nil {
		return err
	}
	at := now()
	var parts fmp4.Parts
	if err := parts.Unmarshal(b); err != nil {
		return fmt.Errorf("hls part %s: %w", u, err)
	}
	for _, p := range parts {
		for _, t := range p.Tracks {
			dts := int64(t.BaseTime)
			for _, s := range t.Samples {
				onSample(dts, at)
				dts += int64(s.Duration)
			}
		}
	}
	return nil
}

func get(ctx context.Context, client *http.Client, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, res.Status)
	}
	return b, nil
}

// firstURI is the first URI line of a multivariant playlist, resolved.
func firstURI(base string, pl []byte) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(string(pl)))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			return resolve(base, l), nil
		}
	}
	return "", errors.New("hls: no stream in the multivariant playlist")
}

// parsePlaylist lists the media playlist's parts and its preload hint,
// resolved against the playlist's URL.
func parsePlaylist(base string, pl []byte) (parts []string, hint string) {
	mp := parseMedia(base, pl)
	for _, p := range mp.parts {
		parts = append(parts, p.uri)
	}
	return parts, mp.hint
}

// hlsPart is one EXT-X-PART: its resolved URI and whether decoding can
// start there (INDEPENDENT=YES).
type hlsPart struct {
	uri         string
	independent bool
}

// mediaPlaylist is what the readers use of a media playlist, resolved.
type mediaPlaylist struct {
	init  string // EXT-X-MAP
	parts []hlsPart
	hint  string // EXT-X-PRELOAD-HINT of TYPE=PART
}

func parseMedia(base string, pl []byte) mediaPlaylist {
	var mp mediaPlaylist
	sc := bufio.NewScanner(strings.NewReader(string(pl)))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "#EXT-X-MAP:"):
			mp.init = resolve(base, attr(l, "URI"))
		case strings.HasPrefix(l, "#EXT-X-PART:"):
			if u := attr(l, "URI"); u != "" {
				mp.parts = append(mp.parts, hlsPart{resolve(base, u), attr(l, "INDEPENDENT") == "YES"})
			}
		case strings.HasPrefix(l, "#EXT-X-PRELOAD-HINT:") && attr(l, "TYPE") == "PART":
			mp.hint = resolve(base, attr(l, "URI"))
		}
	}
	return mp
}

// startParts is where a low-latency player starts: the last independent
// part listed and those after it (nil when no part is independent).
func startParts(parts []hlsPart) []string {
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i].independent {
			out := make([]string, 0, len(parts)-i)
			for _, p := range parts[i:] {
				out = append(out, p.uri)
			}
			return out
		}
	}
	return nil
}

// attr reads KEY=VALUE or KEY="VALUE" from an attribute list.
func attr(line, key string) string {
	_, list, _ := strings.Cut(line, ":")
	for list != "" {
		var kv string
		if i := strings.Index(list, "="); i >= 0 && i+1 < len(list) && list[i+1] == '"' {
			end := strings.Index(list[i+2:], `"`)
			if end < 0 {
				return ""
			}
			kv, list = list[:i+2+end+1], strings.TrimPrefix(list[i+2+end+1:], ",")
		} else {
			kv, list, _ = strings.Cut(list, ",")
		}
		k, v, _ := strings.Cut(kv, "=")
		if k == key {
			return strings.Trim(v, `"`)
		}
	}
	return ""
}

func resolve(base, ref string) string {
	b, err := url.Parse(base)
	if err != nil {
		return ref
	}
	r, err := url.Parse(ref)
	if err != nil {
		return ref
	}
	return b.ResolveReference(r).String()
}

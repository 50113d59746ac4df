package webrtc

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/visiongate/visiongate/media"
)

// format is one payload type of an offered media section.
type format struct {
	pt       string // payload type as offered
	name     string // encoding name as offered: "H264", "opus", "PCMU"
	clock    uint32
	channels uint16
	fmtp     string
}

// capability is the track codec that binds exactly to f once negotiated.
func (f format) capability(kind string) webrtc.RTPCodecCapability {
	return webrtc.RTPCodecCapability{MimeType: kind + "/" + f.name, ClockRate: f.clock,
		Channels: f.channels, SDPFmtpLine: f.fmtp}
}

func (f format) param(key string) string {
	for p := range strings.SplitSeq(f.fmtp, ";") {
		if k, v, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}

// offer is what a session takes from a player's SDP offer.
type offer struct {
	sdp   string
	ufrag string   // the player's ICE ufrag: a different one in a PATCH is a restart
	h264  []format // H.264 with packetization-mode=1, in the offer's order
	audio []format // the first audio section's formats; nil without one
}

// parseOffer checks the offer enough to refuse, with a reason, what no
// session can come of: not SDP, no video to receive, no usable H.264.
func parseOffer(body []byte) (*offer, error) {
	var sd sdp.SessionDescription
	if err := sd.Unmarshal(body); err != nil {
		return nil, &OfferError{Reason: "not an SDP offer: " + err.Error()}
	}
	o := &offer{sdp: string(body)}
	o.ufrag, _ = sd.Attribute("ice-ufrag")
	var video *sdp.MediaDescription
	for _, md := range sd.MediaDescriptions {
		switch md.MediaName.Media {
		case "video":
			if video == nil {
				video = md
			}
		case "audio":
			if o.audio == nil {
				o.audio = formats(md)
			}
		}
		if u, ok := md.Attribute("ice-ufrag"); ok && o.ufrag == "" {
			o.ufrag = u
		}
	}
	if video == nil {
		return nil, &OfferError{Reason: "no video section"}
	}
	if dir := direction(video); dir == "sendonly" || dir == "inactive" {
		return nil, &OfferError{Reason: "the video section is " + dir + ": WHEP offers receive (recvonly)"}
	}
	return o, o.takeH264(formats(video))
}

// takeH264 keeps the H.264 formats that allow FU-A fragments.
func (o *offer) takeH264(all []format) error {
	var offered []string
	for _, f := range all {
		offered = append(offered, f.name)
		if strings.EqualFold(f.name, "H264") && f.param("packetization-mode") == "1" {
			o.h264 = append(o.h264, f)
		}
	}
	if len(o.h264) == 0 {
		return &CodecError{Offered: dedup(offered)}
	}
	return nil
}

func dedup(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func direction(md *sdp.MediaDescription) string {
	for _, d := range []string{"sendrecv", "sendonly", "recvonly", "inactive"} {
		if _, ok := md.Attribute(d); ok {
			return d
		}
	}
	return "sendrecv"
}

// formats lists a media section's payload types from its rtpmap and fmtp
// lines, in the order of the m= line.
func formats(md *sdp.MediaDescription) []format {
	byPT := map[string]*format{}
	for _, a := range md.Attributes {
		pt, rest, _ := strings.Cut(a.Value, " ")
		switch a.Key {
		case "rtpmap":
			f := parseRtpmap(rest)
			if old := byPT[pt]; old != nil {
				f.fmtp = old.fmtp
			}
			byPT[pt] = &f
		case "fmtp":
			if byPT[pt] == nil {
				byPT[pt] = &format{}
			}
			byPT[pt].fmtp = strings.TrimSpace(rest)
		}
	}
	var out []format
	for _, pt := range md.MediaName.Formats {
		if f := byPT[pt]; f != nil && f.name != "" {
			f.pt = pt
			out = append(out, *f)
		}
	}
	return out
}

// parseRtpmap reads "H264/90000" or "opus/48000/2".
func parseRtpmap(s string) format {
	parts := strings.Split(strings.TrimSpace(s), "/")
	f := format{name: parts[0]}
	if len(parts) > 1 {
		c, _ := strconv.ParseUint(parts[1], 10, 32)
		f.clock = uint32(c)
	}
	if len(parts) > 2 {
		c, _ := strconv.ParseUint(parts[2], 10, 16)
		f.channels = uint16(c)
	}
	return f
}

// pickH264 chooses the offered H.264 to send with, among the profiles the
// answer accepts: the stream's own profile (players may size their
// decoder from it), else constrained baseline, which every player
// decodes, else any; the offer's order breaks ties.
func (o *offer) pickH264(sps []byte) format {
	best, bestScore := o.h264[0], -1
	for _, f := range o.h264 {
		if s := h264Score(strings.ToLower(f.param("profile-level-id")), sps); s > bestScore {
			best, bestScore = f, s
		}
	}
	return best
}

func h264Score(plid string, sps []byte) int {
	switch {
	case !registered(plid):
		return 0
	case len(sps) > 1 && strings.HasPrefix(plid, fmt.Sprintf("%02x", sps[1])):
		return 3
	case strings.HasPrefix(plid, "42e0"):
		return 2
	}
	return 1
}

// registered tells whether the answer accepts a profile-level-id: its
// profile and constraint bytes are those of a registered one.
func registered(plid string) bool {
	for _, p := range h264Profiles {
		if len(plid) >= 4 && plid[:4] == p[:4] {
			return true
		}
	}
	return false
}

// pickAudio chooses the offered format that carries the source's sound
// as it is: Opus, or G.711 at 8 kHz mono (what browsers play).
func (o *offer) pickAudio(a *media.AudioInfo) (format, bool) {
	if a == nil {
		return format{}, false
	}
	want, clock := "", uint32(8000)
	switch {
	case a.Codec == media.CodecOpus:
		want, clock = "opus", 48000
	case (a.Codec == media.CodecPCMU || a.Codec == media.CodecPCMA) && a.SampleRate == 8000 && a.Channels == 1:
		want = string(a.Codec)
	}
	for _, f := range o.audio {
		if want != "" && strings.EqualFold(f.name, want) && f.clock == clock {
			return f, true
		}
	}
	return format{}, false
}

// iceFragment is a PATCH body (RFC 8840 SDP fragment): ICE credentials
// and candidates.
type iceFragment struct {
	ufrag      string
	candidates []webrtc.ICECandidateInit
}

func parseFragment(body string) iceFragment {
	var f iceFragment
	var mid *string
	for line := range strings.Lines(body) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case strings.HasPrefix(line, "m="):
			mid = nil
		case strings.HasPrefix(line, "a=mid:"):
			m := strings.TrimPrefix(line, "a=mid:")
			mid = &m
		case strings.HasPrefix(line, "a=ice-ufrag:"):
			f.ufrag = strings.TrimPrefix(line, "a=ice-ufrag:")
		case strings.HasPrefix(line, "a=candidate:"):
			f.candidates = append(f.candidates, webrtc.ICECandidateInit{
				Candidate: strings.TrimPrefix(line, "a="), SDPMid: mid})
		}
	}
	return f
}
